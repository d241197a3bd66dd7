/**
 * Task keys inside Redis: a lowercase UUID is stored compact, every other key as it is.
 */
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { newTaskKey, storedKey, userKey } from '../../src/redis/keys.js'
import { isValidKey } from '../../src/index.js'

t.test('a lowercase UUID is stored as ~ and its 16 bytes in base64url, and comes back whole', async (t) => {
  t.equal(storedKey('0f8fad5b-d9cb-469f-a165-70867728950e'), '~D4-tW9nLRp-hZXCGdyiVDg')
  t.equal(userKey('~D4-tW9nLRp-hZXCGdyiVDg'), '0f8fad5b-d9cb-469f-a165-70867728950e')
  t.equal(storedKey('ffffffff-ffff-ffff-ffff-ffffffffffff'), '~_____________________w')
  t.equal(userKey(storedKey('00000000-0000-0000-0000-000000000000')), '00000000-0000-0000-0000-000000000000')
  const keys = Array.from({ length: 1000 }, () => randomUUID())
  const stored = keys.map(storedKey)
  t.ok(
    stored.every((s) => s.length === 23),
    'each is 23 characters',
  )
  t.same(stored.map(userKey), keys, 'each comes back whole')
})

t.test('every other key is stored as it is, and no stored UUID can be a valid key', async (t) => {
  for (const key of [
    'greet',
    'daily:report',
    '0F8FAD5B-D9CB-469F-A165-70867728950E',
    '0f8fad5bd9cb469fa16570867728950e',
    '0f8fad5b-d9cb-469f-a165-70867728950',
    'x0f8fad5b-d9cb-469f-a165-70867728950e',
    '0f8fad5b-d9cb-469f-a165-70867728950g',
  ]) {
    t.equal(storedKey(key), key, key)
    t.equal(userKey(key), key, key)
  }
  t.notOk(isValidKey(storedKey(randomUUID())), 'the compact form is outside the key alphabet, so it never meets a user key')
})

t.test('a key made up for a task is a version 4 UUID, with its stored form made from the same bytes', async (t) => {
  const made = Array.from({ length: 2000 }, () => newTaskKey())
  const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
  t.ok(
    made.every(([key]) => V4.test(key)),
    'each is a version 4 UUID',
  )
  t.ok(
    made.every(([key, stored]) => stored === storedKey(key) && userKey(stored) === key),
    'each stored form is the compact form of its UUID',
  )
  t.equal(new Set(made.map(([key]) => key)).size, made.length, 'no two alike')
})
