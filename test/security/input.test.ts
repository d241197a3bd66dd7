/**
 * Smaller holes in input handling: keys that a URL normalises away, hours past 23, the leap day of
 * year 0, and idle connections without bound.
 */
import t from 'tap'
import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { isShadowsError, isValidKey } from '../../src/index.js'
import { parseWhen } from '../../src/core/validation.js'
import { assertError, json, makeApp } from '../helpers/gateway.js'
import { closeAdmin, makeShadow } from '../helpers/shadow.js'

t.teardown(closeAdmin)

const JSON_TYPE = { 'content-type': 'application/json' }

t.test('the keys . and .. are refused: a client would turn /tasks/.. into /', async (t) => {
  const shadow = makeShadow(t)
  for (const key of ['.', '..']) {
    t.equal(isValidKey(key), false, `${key} is not a valid key`)
    const err = await shadow
      .add('anything', { key })({})
      .catch((e: unknown) => e)
    t.ok(isShadowsError(err, 'SHADOWS_ERR_VALIDATION'), `add with key ${key} is refused`)
  }
  for (const key of ['...', '.a', 'a..b', '..a']) t.equal(isValidKey(key), true, `${key} is still a valid key`)
  const { app } = await makeApp(t)
  const answer = await app.inject({ method: 'POST', url: '/tasks', headers: JSON_TYPE, payload: { task: 'greet', params: { name: 'a' }, key: '..' } })
  assertError(t, answer, 400, 'SHADOWS_ERR_VALIDATION', 'POST /tasks with key ..')
})

t.test('RFC 3339 hours run 00-23: T24:00:00 is refused, not rolled into the next day', async (t) => {
  for (const when of ['2030-01-01T24:00:00Z', '2030-01-01T24:00:00+01:00', '2030-01-01T25:00:00Z']) {
    t.throws(() => parseWhen(when), { code: 'SHADOWS_ERR_VALIDATION' }, `${when} is refused`)
  }
  t.equal(parseWhen('2030-01-01T23:59:59.999Z'), Date.UTC(2030, 0, 1, 23, 59, 59, 999), 'the last millisecond of a day is fine')
  const { app } = await makeApp(t)
  const answer = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: JSON_TYPE,
    payload: { task: 'greet', params: { name: 'a' }, when: '2030-01-01T24:00:00Z' },
  })
  const body = assertError(t, answer, 400, 'SHADOWS_ERR_VALIDATION', 'POST /tasks at T24:00:00')
  t.match(body.message, /00-23|hour/, 'the message says what is wrong')
})

t.test('0000-02-29 is a real day (year 0 is a leap year); 0100-02-29 is not', async (t) => {
  const yearZero = new Date(0)
  yearZero.setUTCFullYear(0, 1, 29)
  t.equal(parseWhen('0000-02-29T00:00:00Z'), yearZero.getTime(), '0000-02-29 is accepted as that day')
  t.throws(
    () => parseWhen('0100-02-29T00:00:00Z'),
    { code: 'SHADOWS_ERR_VALIDATION' },
    '0100-02-29 is refused (1900 rules do not apply, 100 is not a leap year either)',
  )
  t.throws(() => parseWhen('0001-02-29T00:00:00Z'), { code: 'SHADOWS_ERR_VALIDATION' }, '0001-02-29 is refused')
  t.ok(Number.isFinite(parseWhen('0004-02-29T00:00:00Z')), '0004-02-29 is accepted')
  t.ok(Number.isFinite(parseWhen('0400-02-29T00:00:00Z')), '0400-02-29 is accepted')
})

t.test('the gateway bounds its connections: past the bound, a new connection is closed at once', async (t) => {
  const { app } = await makeApp(t, { maxConnections: 4 })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket))
      socket.on('error', reject)
    })
  const sockets: Socket[] = []
  t.teardown(() => sockets.forEach((s) => s.destroy()))
  for (let i = 0; i < 4; i++) sockets.push(await open())
  // the server counts a connection once it has accepted it: wait until it has all four
  await new Promise<void>((resolve) => {
    const check = () => app.server.getConnections((_err, count) => (count >= 4 ? resolve() : setTimeout(check, 10)))
    check()
  })
  const extra = await open()
  sockets.push(extra)
  await new Promise<void>((resolve) => extra.on('close', () => resolve()))
  t.pass('the fifth connection was closed by the gateway')
  const first = sockets[0] as Socket
  const answer = await new Promise<string>((resolve) => {
    let text = ''
    first.on('data', (chunk) => (text += chunk.toString()))
    first.on('end', () => resolve(text))
    first.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
  })
  t.match(answer, /^HTTP\/1\.1 200/, 'the connections within the bound are served')
  t.equal(json({ statusCode: 200, headers: {}, body: answer.slice(answer.indexOf('\r\n\r\n') + 4) }).status, 'ok', 'with the usual answer')
})
