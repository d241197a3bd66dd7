/**
 * Pure parts of keeping strike copies in step: the change text (encode and decode), applying a
 * change to a copy, and the byte count that bounds a strike value.
 */
import t from 'tap'
import { MAX_STRIKE_VALUE_BYTES } from '../../src/index.js'
import { applyStrikeChange, decodeStrikeChange, encodeStrikeChange, type StrikeChange } from '../../src/redis/strike-changes.js'
import { StrikeSet, canonicalJson, canonicalJsonBytes, normalizeStrike, oldestFirst, strikeId, type Strike } from '../../src/core/strikes.js'
import { throwsCode } from '../helpers/engine-rules.js'

/** A stored strike on parameter `p` equal to `value`, created at `at`. */
function strike(value: string, at = '2026-01-01T00:00:00.000Z'): Strike {
  const rule = normalizeStrike({ parameter: 'p', value })
  return { id: strikeId(rule), ...rule, createdAt: at }
}

t.test('a change survives its text: added and removed, from no rules and to none', async (t) => {
  const changes: StrikeChange[] = [
    { previous: 'v1', version: 'v2', added: strike('a b "c"') },
    { previous: '', version: 'v1', added: strike('first') },
    { previous: 'v2', version: 'v3', removed: '0123456789abcdef' },
    { previous: 'v3', version: '', removed: '0123456789abcdef' },
  ]
  for (const change of changes) t.same(decodeStrikeChange(encodeStrikeChange(change)), change, encodeStrikeChange(change))
})

t.test('text that is not a change decodes to nothing (the copy is read again instead)', async (t) => {
  for (const text of ['', 'v2', 'v1 v2', 'v1 v2 ', 'v1 v2 -', 'v1 v2 *x', 'v1 v2 +{', 'v1 v2 +{"id":1}', 'v1 v2 +null', 'v1 v2 +[]']) {
    t.equal(decodeStrikeChange(text), undefined, JSON.stringify(text))
  }
})

t.test('applying a change gives what reading every rule would: oldest first, ties by id', async (t) => {
  const a = strike('a', '2026-01-01T00:00:01.000Z')
  const b = strike('b', '2026-01-01T00:00:02.000Z')
  const c = strike('c', '2026-01-01T00:00:00.500Z')
  const two = new StrikeSet('v2', oldestFirst([b, a]))
  const three = applyStrikeChange(two, { previous: 'v2', version: 'v3', added: c })
  t.equal(three.version, 'v3')
  t.same(three.rules, oldestFirst([a, b, c]), 'an added rule takes its place by age')
  t.ok(three.match('job', { p: 'c' }), 'and matches')
  const one = applyStrikeChange(three, { previous: 'v3', version: 'v4', removed: a.id })
  t.same(one.rules, [c, b], 'a removed rule leaves')
  t.notOk(one.match('job', { p: 'a' }), 'and no longer matches')
  const none = applyStrikeChange(new StrikeSet('v5', [c]), { previous: 'v5', version: '', removed: c.id })
  t.same([none.version, none.rules], ['', []], 'the last rule removed: version "" and no rules')
  t.same(two.rules, oldestFirst([a, b]), 'the copy a change was applied to is left as it was')
})

t.test('canonicalJsonBytes counts the bytes of canonicalJson, and stops past the limit', async (t) => {
  const samples: unknown[] = [
    null,
    true,
    0,
    -1.5e-7,
    '',
    'plain',
    'é 😀 "quoted" \\ \n \u0001',
    [],
    [1, 'two', [3, [4]], { five: 5 }],
    {},
    { b: 1, a: [null, { 'ké y': 'v' }] },
    { skipped: undefined, fn: () => 1 },
  ]
  for (const value of samples) {
    t.equal(canonicalJsonBytes(value, 1_000_000), Buffer.byteLength(canonicalJson(value)), canonicalJson(value))
  }
  t.ok(canonicalJsonBytes('x'.repeat(10_000_000), 1024) > 1024, 'a huge string is past the limit')
  let deep: unknown = 0
  for (let i = 0; i < 200_000; i++) deep = [deep]
  t.ok(canonicalJsonBytes(deep, 1024) > 1024, 'a deeply nested value is counted without overflowing the stack')
  throwsCode(t, () => normalizeStrike({ parameter: 'p', value: deep }), 'SHADOWS_ERR_VALIDATION', 'and refused as a strike value, not a stack overflow')
  t.equal(MAX_STRIKE_VALUE_BYTES, 1024)
})
