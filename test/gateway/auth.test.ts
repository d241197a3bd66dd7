/**
 * Authentication: every route × { no token, wrong token, a token lacking the scope, the right
 * scope }, public routes, refusals that write nothing, listen() refusing a non-loopback host
 * without tokens, and parseTokens on malformed specs.
 */
import t from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { buildApp } from '../../src/gateway/app.js'
import { authorize, isLoopback, parseTokens } from '../../src/gateway/auth.js'
import type { Scope } from '../../src/gateway/contract.js'
import { listen } from '../../src/gateway/server.js'
import { isShadowsError } from '../../src/index.js'
import { closeAdmin, shadowKeysIn } from '../helpers/shadow.js'
import { assertError, makeApp } from '../helpers/gateway.js'

t.teardown(closeAdmin)

const TOKENS = 'enq-token-1:enqueue;read-token-1:read;ops-token-1:ops'
const TOKEN_OF = { enqueue: 'enq-token-1', read: 'read-token-1', ops: 'ops-token-1' } as const
type Granted = keyof typeof TOKEN_OF

interface Route {
  readonly method: InjectOptions['method']
  readonly url: string
  readonly scope: Exclude<Scope, 'public'>
  readonly payload?: unknown
  /** Makes sure a permitted request can succeed (e.g. a strike to restore exists). */
  readonly prepare?: (app: FastifyInstance) => Promise<void>
  /** An endless stream (SSE): a permitted request is made over a real connection, and closed once its headers came. */
  readonly stream?: boolean
}

const ROUTES: readonly Route[] = [
  { method: 'POST', url: '/tasks', scope: 'enqueue', payload: { task: 'greet', params: { name: 'a' } } },
  { method: 'POST', url: '/tasks/batch', scope: 'enqueue', payload: { tasks: [{ task: 'greet', params: { name: 'b' } }] } },
  { method: 'GET', url: '/tasks/fixture', scope: 'read' },
  { method: 'HEAD', url: '/tasks/fixture', scope: 'read' },
  { method: 'PUT', url: '/tasks/fixture', scope: 'enqueue', payload: { task: 'greet', params: { name: 'c' }, delay: 60_000 } },
  { method: 'DELETE', url: '/tasks/doomed', scope: 'enqueue' },
  { method: 'GET', url: '/snapshot', scope: 'read' },
  { method: 'GET', url: '/strikes', scope: 'read' },
  { method: 'POST', url: '/strikes', scope: 'ops', payload: { task: 'not-a-real-task' } },
  {
    method: 'DELETE',
    url: '/strikes/RESTORABLE',
    scope: 'ops',
    prepare: async (app) => {
      await app.shadow.strike({ task: 'restorable' })
    },
  },
  { method: 'GET', url: '/workers', scope: 'read' },
  { method: 'GET', url: '/metrics', scope: 'read' },
  { method: 'GET', url: '/tasks?state=failed', scope: 'read' },
  { method: 'GET', url: '/tasks/fixture?wait=1', scope: 'read' },
  {
    method: 'POST',
    url: '/tasks/retryable/retry',
    scope: 'enqueue',
    // a finished task to retry: cancelled again (a retried one is queued)
    prepare: async (app) => {
      await app.shadow.cancel('retryable')
    },
  },
  { method: 'POST', url: '/tasks/retry', scope: 'ops', payload: { state: 'failed' } },
  { method: 'GET', url: '/events', scope: 'read', stream: true },
]

const PUBLIC: readonly { method: InjectOptions['method']; url: string }[] = [
  { method: 'GET', url: '/health/live' },
  { method: 'HEAD', url: '/health/live' },
  { method: 'GET', url: '/health/ready' },
  { method: 'GET', url: '/docs' },
  { method: 'GET', url: '/openapi.json' },
]

/** A GET of an endless stream over a real connection: its status, closed once the headers came. */
async function streamed(address: string, url: string, token: string): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }> {
  const controller = new AbortController()
  const res = await fetch(`${address}${url}`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal })
  controller.abort()
  return { statusCode: res.status, headers: Object.fromEntries(res.headers), body: '' }
}

/** Whether a token with `granted` may use a route that needs `needed` (ops implies the others). */
function permitted(granted: Granted, needed: Route['scope']): boolean {
  return granted === 'ops' || granted === needed
}

t.test('every route × no token, wrong token, missing scope, right scope', async (t) => {
  const { app } = await makeApp(t, { tokens: TOKENS })
  t.equal(app.authenticated, true, 'the app knows it has tokens')
  await app.shadow.add('greet', { key: 'fixture', delay: 60_000 })({ name: 'fixture' })
  await app.shadow.add('greet', { key: 'doomed', delay: 60_000 })({ name: 'doomed' })
  const restorable = (await app.shadow.strike({ task: 'restorable' })).strike.id
  await app.shadow.add('greet', { key: 'retryable', delay: 60_000 })({ name: 'retryable' })
  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: true })

  for (const route of ROUTES) {
    const url = route.url.replace('RESTORABLE', restorable)
    const name = `${route.method} ${route.url}`
    const request = (authorization?: string): InjectOptions => ({
      method: route.method,
      url,
      ...(route.payload !== undefined ? { payload: route.payload as Record<string, unknown> } : {}),
      ...(authorization !== undefined ? { headers: { authorization } } : {}),
    })
    const unauthorized = async (authorization: string | undefined, what: string) => {
      const res = await app.inject(request(authorization))
      t.equal(res.statusCode, 401, `${name} ${what}: 401`)
      t.match(res.headers['www-authenticate'], /^Bearer/, `${name} ${what}: WWW-Authenticate`)
      if (route.method !== 'HEAD') assertError(t, res, 401, 'SHADOWS_ERR_UNAUTHORIZED', `${name} ${what}`)
    }
    await unauthorized(undefined, 'without a token')
    await unauthorized('Bearer wrong-token-1', 'with a wrong token')
    await unauthorized('Bearer enq-token-1x', 'with a near-miss token')
    await unauthorized('Basic ZW5xLXRva2VuLTE6', 'with Basic auth')
    await unauthorized('Bearer', 'with an empty Bearer')
    await unauthorized('enq-token-1', 'with a bare token')

    for (const granted of Object.keys(TOKEN_OF) as Granted[]) {
      await route.prepare?.(app)
      const res =
        route.stream === true && permitted(granted, route.scope)
          ? await streamed(address, url, TOKEN_OF[granted])
          : await app.inject(request(`Bearer ${TOKEN_OF[granted]}`))
      if (permitted(granted, route.scope)) {
        t.ok(res.statusCode >= 200 && res.statusCode < 300, `${name} with ${granted}: success (got ${res.statusCode} ${res.body.slice(0, 120)})`)
      } else {
        t.equal(res.statusCode, 403, `${name} with ${granted}: 403`)
        if (route.method !== 'HEAD') {
          const body = assertError(t, res, 403, 'SHADOWS_ERR_FORBIDDEN', `${name} with ${granted}`)
          t.match(body.message, new RegExp(route.scope), `${name} with ${granted}: names the scope`)
        }
      }
    }
  }
  const lower = await app.inject({ method: 'GET', url: '/snapshot', headers: { authorization: 'bearer read-token-1' } })
  t.equal(lower.statusCode, 200, 'the scheme is case-insensitive')
})

t.test('health, docs and the OpenAPI document are public', async (t) => {
  const { app } = await makeApp(t, { tokens: TOKENS })
  for (const route of PUBLIC) {
    for (const authorization of [undefined, 'Bearer wrong-token-1', 'Bearer read-token-1']) {
      const res = await app.inject({ method: route.method, url: route.url, ...(authorization ? { headers: { authorization } } : {}) })
      t.equal(res.statusCode, 200, `${route.method} ${route.url} ${authorization ?? 'without a token'}: 200`)
    }
  }
  const ui = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.equal(ui.statusCode, 200, 'the docs UI assets are public')
  const unknown = await app.inject({ method: 'GET', url: '/nowhere' })
  assertError(t, unknown, 404, 'SHADOWS_ERR_NOT_FOUND', 'an unknown route is a 404 with or without a token')
})

t.test('a refused request writes nothing, and is refused before its body is looked at', async (t) => {
  const { app, name } = await makeApp(t, { tokens: TOKENS })
  const cases: [string, InjectOptions][] = [
    ['POST /tasks without a token', { method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'nope', params: { name: 'x' } } }],
    [
      'POST /tasks with a read token',
      { method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'nope', params: { name: 'x' } }, headers: { authorization: 'Bearer read-token-1' } },
    ],
    [
      'PUT with a read token',
      { method: 'PUT', url: '/tasks/nope', payload: { task: 'greet', params: { name: 'x' } }, headers: { authorization: 'Bearer read-token-1' } },
    ],
    [
      'a batch with a read token',
      {
        method: 'POST',
        url: '/tasks/batch',
        payload: { tasks: [{ task: 'greet', params: { name: 'x' } }] },
        headers: { authorization: 'Bearer read-token-1' },
      },
    ],
    ['POST /strikes with an enqueue token', { method: 'POST', url: '/strikes', payload: { task: 'greet' }, headers: { authorization: 'Bearer enq-token-1' } }],
    ['POST /strikes with a read token', { method: 'POST', url: '/strikes', payload: { task: 'greet' }, headers: { authorization: 'Bearer read-token-1' } }],
  ]
  for (const [what, request] of cases) {
    const res = await app.inject(request)
    t.ok(res.statusCode === 401 || res.statusCode === 403, `${what}: refused (${res.statusCode})`)
  }
  t.same(await shadowKeysIn(name), [], 'nothing written')

  const malformed = await app.inject({ method: 'POST', url: '/tasks', payload: '{"task":', headers: { 'content-type': 'application/json' } })
  assertError(t, malformed, 401, 'SHADOWS_ERR_UNAUTHORIZED', 'malformed JSON without a token')
  const tooBig = await app.inject({
    method: 'POST',
    url: '/tasks',
    payload: JSON.stringify({ task: 'greet', params: { name: 'x'.repeat(2 * 1024 * 1024) } }),
    headers: { 'content-type': 'application/json' },
  })
  assertError(t, tooBig, 401, 'SHADOWS_ERR_UNAUTHORIZED', 'a huge body without a token')
  const plain = await app.inject({
    method: 'POST',
    url: '/tasks',
    payload: 'x',
    headers: { 'content-type': 'text/plain', authorization: 'Bearer read-token-1' },
  })
  assertError(t, plain, 403, 'SHADOWS_ERR_FORBIDDEN', 'a wrong content type with a token lacking the scope')
})

t.test('a token may carry several scopes', async (t) => {
  const { app } = await makeApp(t, { tokens: 'both-token-1:enqueue,read; only-read-1 : read' })
  const both = { authorization: 'Bearer both-token-1' }
  const added = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'multi', params: { name: 'x' } }, headers: both })
  t.equal(added.statusCode, 202, 'enqueue')
  t.equal((await app.inject({ method: 'GET', url: '/tasks/multi', headers: both })).statusCode, 200, 'read')
  assertError(t, await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'greet' }, headers: both }), 403, 'SHADOWS_ERR_FORBIDDEN', 'not ops')
  t.equal(
    (await app.inject({ method: 'GET', url: '/tasks/multi', headers: { authorization: 'Bearer only-read-1' } })).statusCode,
    200,
    'spaces around a token are trimmed',
  )
  t.equal((await app.inject({ method: 'DELETE', url: '/tasks/multi', headers: both })).statusCode, 200)
})

t.test('without tokens every route is open (the app then listens on loopback only)', async (t) => {
  const { app } = await makeApp(t)
  t.equal(app.authenticated, false)
  t.equal((await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'greet' } })).statusCode, 201)
  t.equal((await app.inject({ method: 'GET', url: '/snapshot' })).statusCode, 200)
})

t.test('listen() refuses a non-loopback host without tokens and accepts 127.0.0.1', async (t) => {
  const { app } = await makeApp(t)
  for (const host of ['0.0.0.0', '::', '10.1.2.3', 'example.com', '127.0.0.1.nip.io']) {
    try {
      await listen(app, { host, port: 0, authenticated: false })
      t.fail(`${host}: listen should have refused`)
    } catch (err) {
      t.ok(isShadowsError(err, 'SHADOWS_ERR_VALIDATION'), `${host}: refused with SHADOWS_ERR_VALIDATION`)
      t.match((err as Error).message, /SHADOWS_TOKENS/, `${host}: the message says to set SHADOWS_TOKENS`)
      t.match((err as Error).message, new RegExp(host.replace(/\./g, '\\.')), `${host}: and names the host`)
    }
  }
  try {
    await listen(app, { host: '0.0.0.0', port: 0, authenticated: true })
    t.fail('claiming authentication for an app without tokens should not open a public port')
  } catch (err) {
    t.match((err as Error).message, /SHADOWS_TOKENS/, 'an app without tokens stays on loopback even when the caller says authenticated')
  }
  t.equal(app.server.listening, false, 'nothing is listening after the refusals')

  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const res = await fetch(`${address}/health/live`)
  t.equal(res.status, 200, 'serving on 127.0.0.1')
})

t.test('an app with tokens listens with authenticated: true', async (t) => {
  const { app } = await makeApp(t, { tokens: TOKENS })
  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: true })
  const denied = await fetch(`${address}/snapshot`)
  t.equal(denied.status, 401)
  t.match(denied.headers.get('www-authenticate'), /^Bearer/)
  const allowed = await fetch(`${address}/snapshot`, { headers: { authorization: 'Bearer read-token-1' } })
  t.equal(allowed.status, 200)
  t.match(await allowed.json(), { counts: { scheduled: 0, queued: 0, running: 0 } })
})

t.test('isLoopback', async (t) => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) t.equal(isLoopback(host), true, `${host} is loopback`)
  for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', 'localhost.example.com', '127.0.0.1.nip.io', '']) {
    t.equal(isLoopback(host), false, `${JSON.stringify(host)} is not loopback`)
  }
})

t.test('parseTokens accepts well-formed specs and rejects malformed ones', async (t) => {
  t.equal(parseTokens(undefined).entries.length, 0, 'no spec: no tokens')
  t.equal(parseTokens('').entries.length, 0, 'empty: no tokens')
  t.equal(parseTokens(TOKENS).entries.length, 3)
  t.equal(parseTokens('a-long-token:enqueue,read; second-token:ops;').entries.length, 2, 'spaces and a trailing ; are fine')
  t.equal(parseTokens('url:like:token:read').entries.length, 1, 'a token may contain colons (the last one separates the scopes)')

  const table = parseTokens('a-long-token:enqueue,read;second-token:ops')
  t.equal(authorize(table, 'Bearer a-long-token', 'enqueue'), 'ok')
  t.equal(authorize(table, 'Bearer a-long-token', 'read'), 'ok')
  t.equal(authorize(table, 'Bearer a-long-token', 'ops'), 'forbidden')
  t.equal(authorize(table, 'Bearer second-token', 'read'), 'ok', 'ops implies read')
  t.equal(authorize(table, 'Bearer second-token', 'enqueue'), 'ok', 'ops implies enqueue')
  t.equal(authorize(table, 'Bearer nope-nope-nope', 'read'), 'unauthorized')
  t.equal(authorize(table, undefined, 'read'), 'unauthorized')
  t.equal(authorize(table, undefined, 'public'), 'ok')
  t.equal(authorize(parseTokens(''), undefined, 'ops'), 'ok', 'no tokens: open')

  for (const spec of [
    'short:read',
    'no-colon-at-all',
    'a-long-token:',
    'a-long-token:admin',
    'a-long-token:read,write',
    ':read',
    'a-long-token:read;short:ops',
    'a long token:read',
    'a-long-token:read;a-long-token:ops',
  ]) {
    t.throws(() => parseTokens(spec), { code: 'SHADOWS_ERR_VALIDATION' }, `${JSON.stringify(spec)} is rejected`)
  }
  try {
    parseTokens('short:read')
  } catch (err) {
    t.match((err as Error).message, /token:scope/, 'the message shows the expected form')
    t.notMatch((err as Error).message, /short/, 'and does not echo the token')
  }
})

t.test('buildApp refuses malformed tokens', async (t) => {
  await t.rejects(buildApp({ tasks: [], tokens: 'short:read', connectTimeout: 0 }), { code: 'SHADOWS_ERR_VALIDATION' })
})
