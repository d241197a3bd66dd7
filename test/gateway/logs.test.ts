/**
 * Tokens never reach the log: the gateway logs at trace level to a stream this test reads while
 * it is sent valid and invalid tokens (in Authorization headers of every casing, in query strings,
 * in body fields, in headers it never reads), refuses requests (4xx), fails them (503 with Redis
 * away) and meets malformed HTTP; then no token appears anywhere in the output. Also: tokens are
 * kept only as digests and compared in constant time, so a wrong token is a 401 whatever its length.
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import type { InjectOptions } from 'fastify'
import { pino, stdSerializers, type Logger, type LoggerOptions } from 'pino'
import { authorize, parseTokens } from '../../src/gateway/auth.js'
import { buildApp } from '../../src/gateway/app.js'
import { listen } from '../../src/gateway/server.js'
import { closeAdmin, uniqueName } from '../helpers/shadow.js'
import { TASKS, assertError, makeApp } from '../helpers/gateway.js'

t.teardown(closeAdmin)

/** A token no other run uses, so that finding it in the log cannot be a coincidence. */
const token = (what: string) => `${what}-${randomBytes(12).toString('hex')}`

/** A pino logger at trace level whose every line is kept. */
function capturingLogger(options: Pick<LoggerOptions, 'serializers'> = {}): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  const logger = pino({ level: 'trace', ...options }, { write: (line: string) => lines.push(line) })
  return { logger, lines }
}

/** Asserts that none of `secrets` (nor their base64 form) appears in `lines`. */
function assertNoSecrets(t: Test, lines: readonly string[], secrets: readonly string[]): void {
  const text = lines.join('')
  for (const secret of secrets) {
    t.notOk(text.includes(secret), `the log never contains ${secret.slice(0, 8)}…`)
    t.notOk(text.includes(Buffer.from(secret).toString('base64').slice(0, 16)), `nor its base64 form`)
  }
}

/** Sends raw bytes and reads until the server closes the connection. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    const timer = setTimeout(() => socket.destroy(), 10_000)
    socket.on('data', (chunk) => (received += chunk.toString('utf8')))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(received)
    })
    socket.write(text)
  })
}

const ROUTES: readonly InjectOptions[] = [
  { method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'a' } } },
  { method: 'POST', url: '/tasks/batch', payload: { tasks: [{ task: 'greet', params: { name: 'b' } }] } },
  { method: 'GET', url: '/tasks/logged' },
  { method: 'PUT', url: '/tasks/logged', payload: { task: 'greet', params: { name: 'c' }, delay: 60_000 } },
  { method: 'DELETE', url: '/tasks/logged' },
  { method: 'GET', url: '/snapshot' },
  { method: 'GET', url: '/strikes' },
  { method: 'POST', url: '/strikes', payload: { task: 'not-a-task' } },
  { method: 'DELETE', url: '/strikes/none' },
  { method: 'GET', url: '/workers' },
  { method: 'GET', url: '/metrics' },
  { method: 'GET', url: '/health/ready' },
]

t.test('no token, valid or not, is ever written to the log', async (t) => {
  const enqueue = token('enq')
  const read = token('read')
  const ops = token('ops')
  const tokens = `${enqueue}:enqueue;${read}:read;${ops}:ops`
  // what a client might present and get wrong: near misses, the same length, another length
  const wrong = [token('wrong'), `${ops.slice(0, -1)}${ops.endsWith('a') ? 'b' : 'a'}`, ops.slice(0, -3), `${ops}x`, ops.toUpperCase()]
  const secrets = [enqueue, read, ops, ...wrong.filter((w) => w.length >= 12)]

  // a caller's logger that would print every header (pino's standard request serializer)
  const { logger, lines } = capturingLogger({ serializers: { req: stdSerializers.req } })
  const { app } = await makeApp(t, { tokens, logger })

  const schemes = ['Bearer', 'bearer', 'BEARER', 'bEaReR']
  for (const route of ROUTES) {
    for (const presented of [enqueue, read, ops]) {
      for (const scheme of schemes) {
        const res = await app.inject({ ...route, headers: { authorization: `${scheme} ${presented}` } })
        t.ok(res.statusCode < 500, `${route.method} ${route.url} with ${scheme}: no 5xx (${res.statusCode})`)
      }
      await app.inject({ ...route, headers: { authorization: `Bearer \t ${presented}  ` } })
    }
    for (const presented of wrong) {
      const res = await app.inject({ ...route, headers: { authorization: `Bearer ${presented}` } })
      if (route.url !== '/health/ready') t.equal(res.statusCode, 401, `${route.method} ${route.url} with a wrong token: 401`)
    }
    await app.inject({ ...route, headers: { authorization: `Basic ${Buffer.from(`user:${ops}`).toString('base64')}` } })
    await app.inject({ ...route, headers: { authorization: ops } })
  }

  // tokens where the gateway does not look for them: query strings, body fields, other headers
  const elsewhere: InjectOptions[] = [
    { method: 'GET', url: `/snapshot?token=${ops}` },
    { method: 'GET', url: `/tasks/logged?access_token=${read}&x=1`, headers: { authorization: `Bearer ${read}` } },
    { method: 'POST', url: `/tasks?token=${enqueue}`, headers: { authorization: `Bearer ${enqueue}` }, payload: { task: 'greet', params: { name: 'q' } } },
    { method: 'POST', url: '/tasks', headers: { authorization: `Bearer ${enqueue}` }, payload: { task: 'greet', params: { name: 'x' }, token: enqueue } },
    { method: 'POST', url: '/tasks', headers: { authorization: `Bearer ${enqueue}` }, payload: { task: 'greet', params: { name: 'x', token: enqueue } } },
    {
      method: 'POST',
      url: '/tasks',
      headers: { authorization: `Bearer ${enqueue}` },
      payload: { task: 'greet', params: { name: 'x' }, authorization: `Bearer ${ops}` },
    },
    { method: 'POST', url: '/strikes', headers: { authorization: `Bearer ${ops}` }, payload: { task: 'greet', token: ops } },
    { method: 'GET', url: '/snapshot', headers: { 'x-api-key': ops, cookie: `token=${ops}`, 'proxy-authorization': `Bearer ${ops}` } },
    { method: 'GET', url: `/nowhere?token=${ops}`, headers: { authorization: `Bearer ${ops}` } },
  ]
  for (const request of elsewhere) {
    const res = await app.inject(request)
    t.ok(res.statusCode < 500, `${request.method} ${String(request.url).split('?')[0]} with a token elsewhere: no 5xx (${res.statusCode})`)
  }

  // refusals of every kind, each with a valid token
  const auth = { authorization: `Bearer ${ops}` }
  const refusals: [string, InjectOptions, number][] = [
    ['unknown task', { method: 'POST', url: '/tasks', headers: auth, payload: { task: 'nope' } }, 400],
    ['malformed JSON', { method: 'POST', url: '/tasks', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"task":' }, 400],
    [
      'prototype pollution',
      { method: 'POST', url: '/tasks', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"task":"greet","__proto__":{"x":1}}' },
      400,
    ],
    ['not UTF-8', { method: 'POST', url: '/tasks', headers: { ...auth, 'content-type': 'application/json' }, payload: Buffer.from([0x7b, 0xff, 0x7d]) }, 400],
    [
      'too large',
      {
        method: 'POST',
        url: '/tasks',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: `{"task":"greet","params":{"name":"${'x'.repeat(1_100_000)}"}}`,
      },
      413,
    ],
    ['wrong media type', { method: 'POST', url: '/tasks', headers: { ...auth, 'content-type': 'text/plain' }, payload: '{}' }, 415],
    ['forbidden', { method: 'POST', url: '/strikes', headers: { authorization: `Bearer ${read}` }, payload: { task: 'x' } }, 403],
    ['not found', { method: 'GET', url: '/tasks/missing', headers: auth }, 404],
    ['bad key', { method: 'GET', url: '/tasks/a%20b', headers: auth }, 400],
    ['bad escape', { method: 'GET', url: '/tasks/%E0%A4%A', headers: auth }, 400],
  ]
  for (const [what, request, status] of refusals) t.equal((await app.inject(request)).statusCode, status, `${what}: ${status}`)

  // malformed HTTP on the wire, with an Authorization header the parser had already read
  const { port } = { port: Number(new URL(await listen(app, { host: '127.0.0.1', port: 0, authenticated: true })).port) }
  const malformed = await rawExchange(port, `GET /snapshot HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ops}\r\nBad Header: x\r\n\r\n`)
  t.match(malformed, /^HTTP\/1\.1 400 /, 'malformed HTTP: 400')
  const overflow = await rawExchange(
    port,
    `GET /snapshot?token=${ops} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ops}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  )
  t.match(overflow, /^HTTP\/1\.1 400 /, 'headers too large: 400')
  const served = await fetch(`http://127.0.0.1:${port}/snapshot?token=${ops}`, { headers: { authorization: `Bearer ${ops}` } })
  t.equal(served.status, 200, 'a real request with a token in the query string is served')

  t.ok(lines.length > 100, `the log was written (${lines.length} lines)`)
  t.ok(
    lines.some((line) => line.includes('"incoming request"')),
    'requests are logged',
  )
  t.ok(
    lines.some((line) => line.includes('"request refused"')),
    'refusals are logged',
  )
  t.ok(
    lines.some((line) => line.includes('"client error"')),
    'malformed HTTP is logged',
  )
  t.ok(
    lines.some((line) => line.includes('"url":"/snapshot?…"')),
    'a query string shows only as ?…',
  )
  assertNoSecrets(t, lines, secrets)
})

t.test('no token in the log when Redis is away (503s) either', async (t) => {
  const ops = token('ops')
  const read = token('read')
  const { logger, lines } = capturingLogger()
  const app = await buildApp({
    tasks: TASKS,
    url: 'redis://127.0.0.1:1',
    name: uniqueName('gw'),
    tokens: `${ops}:ops;${read}:read`,
    logger,
    connectTimeout: 100,
  })
  t.teardown(() => app.close())
  await app.ready()
  for (const route of ROUTES) {
    const res = await app.inject({ ...route, url: `${String(route.url)}?token=${ops}`, headers: { authorization: `Bearer ${ops}` } })
    // the metrics are the process's own: they do not need Redis
    if (route.url === '/metrics') t.equal(res.statusCode, 200, 'GET /metrics answers without Redis')
    else assertError(t, res, 503, 'SHADOWS_ERR_UNAVAILABLE', `${route.method} ${route.url} with Redis away`)
    if (route.url === '/health/ready') continue // public
    const refused = await app.inject({ ...route, headers: { authorization: `Bearer ${read}x` } })
    t.equal(refused.statusCode, 401, `${route.method} ${route.url} with a wrong token: 401 even with Redis away`)
  }
  t.equal(
    lines.filter((line) => line.includes('"level":50') && line.includes('"request failed"')).length,
    1,
    'the first 503 is logged as an error; the ones after it are counted (UnavailableLog)',
  )
  assertNoSecrets(t, lines, [ops, read])
})

t.test('tokens are kept as digests and compared in constant time: every wrong token is a 401', async (t) => {
  const first = token('first')
  const middle = token('middle')
  const last = token('last')
  const table = parseTokens(`${first}:read;${middle}:enqueue;${last}:ops`)
  t.equal(table.entries.length, 3)
  for (const entry of table.entries) t.equal(entry.digest.length, 32, 'each token is kept as a SHA-256 digest, all of one length')
  const kept = JSON.stringify(table.entries.map((e) => ({ digest: e.digest.toString('hex'), scopes: [...e.scopes] })))
  for (const secret of [first, middle, last]) t.notOk(kept.includes(secret), 'no token is kept in clear')

  // every configured token is compared, not only up to a match: the first, the middle and the last all work
  t.equal(authorize(table, `Bearer ${first}`, 'read'), 'ok', 'the first token')
  t.equal(authorize(table, `Bearer ${middle}`, 'enqueue'), 'ok', 'a middle token')
  t.equal(authorize(table, `Bearer ${last}`, 'enqueue'), 'ok', 'the last token (ops implies enqueue)')
  t.equal(authorize(table, `Bearer ${first}`, 'enqueue'), 'forbidden', 'a known token without the scope')

  // what a timing attack would probe: the same length differing in one character, a prefix, longer, far off
  const flip = (s: string, at: number) => `${s.slice(0, at)}${s[at] === 'a' ? 'b' : 'a'}${s.slice(at + 1)}`
  const probes = [
    flip(last, 0),
    flip(last, last.length - 1),
    flip(last, 10),
    last.slice(0, -1),
    last.slice(0, 4),
    `${last}0`,
    `${last}${last}`,
    'x',
    'x'.repeat(4096),
  ]
  for (const probe of probes)
    t.equal(authorize(table, `Bearer ${probe}`, 'read'), 'unauthorized', `a wrong token of ${probe.length} chars (the real one has ${last.length})`)

  const { app } = await makeApp(t, { tokens: `${first}:read;${middle}:enqueue;${last}:ops` })
  for (const probe of [flip(last, last.length - 1), last.slice(0, -1), `${last}0`]) {
    for (const route of ROUTES.filter((r) => r.url !== '/health/ready')) {
      const res = await app.inject({ ...route, headers: { authorization: `Bearer ${probe}` } })
      assertError(t, res, 401, 'SHADOWS_ERR_UNAUTHORIZED', `${route.method} ${route.url}, a wrong token of ${probe.length} chars`)
    }
  }
})
