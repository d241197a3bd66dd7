/**
 * Task history over HTTP: GET /tasks (pages by state), POST /tasks/{key}/retry, POST /tasks/retry,
 * and GET /tasks/{key}?wait= (pushed; a client that goes frees its waiter; close() does not wait
 * for long waits). Hostile query values and bodies get a 4xx with a stable code and change nothing.
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { Shadow, type ErrorCode } from '../../src/index.js'
import { buildApp } from '../../src/gateway/app.js'
import { listen } from '../../src/gateway/server.js'
import { shadowKeys } from '../../src/redis/keys.js'
import { TEST_URL, adminRedis, closeAdmin, makeWorker, shadowKeysIn, testLogger, uniqueName, waitFor, shadowContents } from '../helpers/shadow.js'
import { TASKS, assertError, json, makeApp } from '../helpers/gateway.js'

t.teardown(closeAdmin)

interface Page {
  tasks: { key: string; task: string; state: string; params: Record<string, unknown>; error?: { type: string; message: string } }[]
  next?: string
}

/** A client of the app's shadow, for a worker (closed on teardown, after the worker). */
function clientOf(t: Test, name: string): Shadow {
  const shadow = new Shadow({ name, url: TEST_URL, logger: testLogger })
  t.teardown(() => shadow.close())
  return shadow
}

/** Adds `count` boom tasks and runs them to failure. */
async function failSome(t: Test, app: FastifyInstance, name: string, keys: readonly string[]): Promise<void> {
  for (const key of keys) t.equal((await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'boom', key } })).statusCode, 202)
  const worker = makeWorker(t, clientOf(t, name), TASKS)
  await worker.runUntilFinished()
  await worker.close()
}

/** How many connections listen on the shadow's finished channel: one while some GET ?wait= waits. */
async function finishedListeners(name: string): Promise<number> {
  const reply = (await adminRedis().call('PUBSUB', 'NUMSUB', shadowKeys(name).finished)) as [string, number]
  return Number(reply[1])
}

t.test('GET /tasks lists a state a page at a time, records as GET /tasks/{key}', async (t) => {
  const { app, name } = await makeApp(t)
  const failed = ['f1', 'f2', 'f3', 'f4', 'f5']
  await failSome(t, app, name, failed)
  for (const key of ['s1', 's2']) await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key, params: { name: key }, delay: 60_000 } })

  const first = await app.inject({ method: 'GET', url: '/tasks?state=failed&limit=2' })
  t.equal(first.statusCode, 200)
  const page1 = json<Page>(first)
  t.equal(page1.tasks.length, 2, 'limit respected')
  t.type(page1.next, 'string', 'a next cursor')
  const one = json(await app.inject({ method: 'GET', url: `/tasks/${page1.tasks[0]?.key}` }))
  t.same(page1.tasks[0], one, 'a listed record is what GET /tasks/{key} answers')
  t.equal(page1.tasks[0]?.error?.type, 'TypeError', 'with its error')

  const seen = page1.tasks.map((task) => task.key)
  let next = page1.next
  while (next !== undefined) {
    const res = await app.inject({ method: 'GET', url: `/tasks?state=failed&limit=2&cursor=${encodeURIComponent(next)}` })
    t.equal(res.statusCode, 200)
    const page = json<Page>(res)
    seen.push(...page.tasks.map((task) => task.key))
    next = page.next
  }
  t.same([...seen].sort(), failed, 'every failed task, once, across the pages')

  const scheduled = json<Page>(await app.inject({ method: 'GET', url: '/tasks?state=scheduled' }))
  t.same(
    scheduled.tasks.map((task) => task.key),
    ['s1', 's2'],
    'scheduled by due time',
  )
  t.same(json<Page>(await app.inject({ method: 'GET', url: '/tasks?state=failed&task=greet' })).tasks, [], 'filtered by task name')
  t.equal(json<Page>(await app.inject({ method: 'GET', url: '/tasks?state=failed&task=boom' })).tasks.length, 5)
  t.same(json(await app.inject({ method: 'GET', url: '/tasks?state=running' })), { tasks: [] }, 'an empty state: no tasks, no next')
  t.equal((await app.inject({ method: 'GET', url: '/tasks?state=failed&unknown=1&_=123' })).statusCode, 200, 'unknown query parameters are ignored')
})

t.test('POST /tasks/{key}/retry: 202 queued again; 404; 409 not finished; 409 struck (nothing changed)', async (t) => {
  const { app, name } = await makeApp(t)
  await failSome(t, app, name, ['again', 'struck-one'])

  const res = await app.inject({ method: 'POST', url: '/tasks/again/retry' })
  t.equal(res.statusCode, 202)
  t.equal(res.headers.location, '/tasks/again')
  const body = json(res)
  t.same(Object.keys(body).sort(), ['key', 'state', 'task', 'when'])
  t.match(body, { key: 'again', task: 'boom', state: 'queued' })
  t.ok(!Number.isNaN(Date.parse(String(body.when))), 'when is a time')
  t.match(json(await app.inject({ method: 'GET', url: '/tasks/again' })), { state: 'queued' })

  assertError(t, await app.inject({ method: 'POST', url: '/tasks/again/retry' }), 409, 'SHADOWS_ERR_NOT_FINISHED', 'a queued task')
  assertError(t, await app.inject({ method: 'POST', url: '/tasks/nobody/retry' }), 404, 'SHADOWS_ERR_NOT_FOUND', 'an unknown key')

  await app.shadow.strike({ task: 'boom' })
  assertError(t, await app.inject({ method: 'POST', url: '/tasks/struck-one/retry' }), 409, 'SHADOWS_ERR_STRUCK', 'a struck task')
  t.match(json(await app.inject({ method: 'GET', url: '/tasks/struck-one' })), { state: 'failed' }, 'left as it was')
  await app.shadow.cancel('again')
})

t.test('POST /tasks/retry runs again what matches, and counts what it skipped', async (t) => {
  const { app, name } = await makeApp(t)
  await failSome(t, app, name, ['b1', 'b2', 'b3'])
  const none = await app.inject({ method: 'POST', url: '/tasks/retry', payload: { state: 'failed', finishedAfter: '2999-01-01T00:00:00Z' } })
  t.same(json(none), { retried: 0, skipped: 0 }, 'finishedAfter in the future: nothing')
  const one = await app.inject({ method: 'POST', url: '/tasks/retry', payload: { state: 'failed', task: 'boom', limit: 1 } })
  t.equal(one.statusCode, 200)
  t.same(json(one), { retried: 1, skipped: 0 }, 'limit: 1')
  const rest = await app.inject({ method: 'POST', url: '/tasks/retry', payload: { state: 'failed', finishedAfter: '2000-01-01T00:00:00+02:00' } })
  t.same(json(rest), { retried: 2, skipped: 0 }, 'the rest')
  t.equal(json<Page>(await app.inject({ method: 'GET', url: '/tasks?state=queued' })).tasks.length, 3, 'all three queued again')
  for (const key of ['b1', 'b2', 'b3']) await app.shadow.cancel(key)
})

t.test('GET /tasks/{key}?wait= answers as soon as the task finishes, or when the wait ends; 404', async (t) => {
  const { app, name } = await makeApp(t)
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'waited', params: { name: 'W' } } })
  // inject() sends when its answer is awaited: Promise.resolve() sends it now
  const answer = Promise.resolve(app.inject({ method: 'GET', url: '/tasks/waited?wait=60000' }))
  await waitFor(async () => (await finishedListeners(name)) === 1, 10_000, 'the wait to subscribe')
  const worker = makeWorker(t, clientOf(t, name), TASKS)
  await worker.runUntilFinished()
  const res = await answer
  t.equal(res.statusCode, 200)
  t.match(json(res), { key: 'waited', state: 'completed', result: 'Hello, W' }, 'the finished record, pushed')

  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'later', params: { name: 'L' }, delay: 60_000 } })
  const ended = await app.inject({ method: 'GET', url: '/tasks/later?wait=20' })
  t.equal(ended.statusCode, 200)
  t.match(json(ended), { key: 'later', state: 'scheduled' }, 'the record as it is when the wait ends')
  t.match(json(await app.inject({ method: 'GET', url: '/tasks/waited?wait=60000' })), { state: 'completed' }, 'a finished task: at once')
  assertError(t, await app.inject({ method: 'GET', url: '/tasks/nobody?wait=100' }), 404, 'SHADOWS_ERR_NOT_FOUND', 'unknown key with wait')
  t.equal(await finishedListeners(name), 0, 'no waiter left')
  await app.shadow.cancel('later')
})

t.test('a client that disconnects mid-wait frees its waiter', async (t) => {
  const { app, name } = await makeApp(t)
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'left', params: { name: 'x' }, delay: 60_000 } })
  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  const controller = new AbortController()
  const request = fetch(`${address}/tasks/left?wait=60000`, { signal: controller.signal }).catch((err: unknown) => err)
  await waitFor(async () => (await finishedListeners(name)) === 1, 10_000, 'the wait to subscribe')
  controller.abort()
  t.match(await request, { name: 'AbortError' }, 'the client went')
  await waitFor(async () => (await finishedListeners(name)) === 0, 10_000, 'the waiter to be freed')
  t.pass('the waiter is gone and the finished channel left')
  await app.shadow.cancel('left')
})

t.test('close() does not wait for long waits: they are answered with the record as it is', { timeout: 30_000 }, async (t) => {
  const name = uniqueName('gw')
  const app = await buildApp({ tasks: TASKS, url: TEST_URL, name, logger: testLogger })
  t.teardown(async () => {
    await app.close()
    const keys = await shadowKeysIn(name)
    if (keys.length > 0) await adminRedis().del(...keys)
  })
  await app.ready()
  await app.shadow.add('greet', { key: 'long', delay: 120_000 })({ name: 'x' })
  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  const answers = [1, 2, 3].map(async () => {
    const res = await fetch(`${address}/tasks/long?wait=60000`)
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  })
  await waitFor(async () => (await finishedListeners(name)) === 1, 10_000, 'the waits to subscribe')
  await app.close()
  for (const answer of await Promise.all(answers)) {
    t.equal(answer.status, 200, 'answered')
    t.match(answer.body, { key: 'long', state: 'scheduled' }, 'with the record as it is')
  }
})

/** Sends each request: a 4xx in the one error shape with `code`; the shadow's keys and their values stay as they were. */
async function refusedWithoutChange(t: Test, app: FastifyInstance, name: string, cases: readonly [string, InjectOptions, number, ErrorCode][]): Promise<void> {
  const before = await shadowContents(name)
  for (const [what, request, status, code] of cases) {
    const res = await app.inject(request)
    t.ok(res.statusCode < 500, `${what}: not a 5xx (${res.statusCode})`)
    assertError(t, res, status, code, what)
  }
  t.same(await shadowContents(name), before, 'nothing changed in Redis')
}

t.test('hostile query values and bodies of the history routes: 4xx with a stable code, nothing changed', async (t) => {
  const { app, name } = await makeApp(t)
  await failSome(t, app, name, ['victim'])
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'waiting', params: { name: 'x' }, delay: 60_000 } })
  const V = 'SHADOWS_ERR_VALIDATION'
  const get = (url: string): InjectOptions => ({ method: 'GET', url })
  const retryAll = (payload: unknown): InjectOptions => ({ method: 'POST', url: '/tasks/retry', payload: payload as Record<string, unknown> })
  const otherCursor = json<Page>(await app.inject(get('/tasks?state=scheduled&limit=1'))).next
  const huge = 'x'.repeat(5000)
  const cases: [string, InjectOptions, number, ErrorCode][] = [
    ['no state', get('/tasks'), 400, V],
    ['an unknown state', get('/tasks?state=bogus'), 400, V],
    ['state=__proto__', get('/tasks?state=__proto__'), 400, V],
    ['state=constructor', get('/tasks?state=constructor'), 400, V],
    ['state twice', get('/tasks?state=failed&state=failed'), 400, V],
    ['state[]=', get('/tasks?state[]=failed'), 400, V],
    ['state empty', get('/tasks?state='), 400, V],
    ['a huge state', get(`/tasks?state=${huge}`), 400, V],
    ['limit=0', get('/tasks?state=failed&limit=0'), 400, V],
    ['limit=-1', get('/tasks?state=failed&limit=-1'), 400, V],
    ['limit=1.5', get('/tasks?state=failed&limit=1.5'), 400, V],
    ['limit=1e3', get('/tasks?state=failed&limit=1e3'), 400, V],
    ['limit=1001', get('/tasks?state=failed&limit=1001'), 400, V],
    ['limit huge', get('/tasks?state=failed&limit=99999999999999999999999'), 400, V],
    ['limit=abc', get('/tasks?state=failed&limit=abc'), 400, V],
    ['limit empty', get('/tasks?state=failed&limit='), 400, V],
    ['limit=__proto__', get('/tasks?state=failed&limit=__proto__'), 400, V],
    ['limit twice', get('/tasks?state=failed&limit=1&limit=2'), 400, V],
    ['a garbage cursor', get('/tasks?state=failed&cursor=garbage'), 400, V],
    ['a cursor of base64 JSON not ours', get(`/tasks?state=failed&cursor=${Buffer.from('{"__proto__":1}').toString('base64url')}`), 400, V],
    ['a cursor with a NUL', get('/tasks?state=failed&cursor=%00'), 400, V],
    ['a huge cursor', get(`/tasks?state=failed&cursor=${huge}`), 400, V],
    ['a cursor of another listing', get(`/tasks?state=failed&cursor=${otherCursor ?? 'x'}`), 400, V],
    ['an empty cursor', get('/tasks?state=failed&cursor='), 400, V],
    ['task=__proto__', get('/tasks?state=failed&task=__proto__'), 400, V],
    ['task like a path', get('/tasks?state=failed&task=../../etc/passwd'), 400, V],
    ['task empty', get('/tasks?state=failed&task='), 400, V],
    ['a huge task', get(`/tasks?state=failed&task=${huge}`), 400, V],
    ['wait=-1', get('/tasks/waiting?wait=-1'), 400, V],
    ['wait=1.5', get('/tasks/waiting?wait=1.5'), 400, V],
    ['wait=1e3', get('/tasks/waiting?wait=1e3'), 400, V],
    ['wait=60001', get('/tasks/waiting?wait=60001'), 400, V],
    ['wait huge', get('/tasks/waiting?wait=99999999999999999999999'), 400, V],
    ['wait=abc', get('/tasks/waiting?wait=abc'), 400, V],
    ['wait empty', get('/tasks/waiting?wait='), 400, V],
    ['wait=__proto__', get('/tasks/waiting?wait=__proto__'), 400, V],
    ['wait twice', get('/tasks/waiting?wait=1&wait=2'), 400, V],
    ['a bad key with wait', get('/tasks/a%20b?wait=10'), 400, V],
    ['retry a bad key', { method: 'POST', url: '/tasks/..%2f/retry' }, 400, V],
    ['retry a key too long', { method: 'POST', url: `/tasks/${'k'.repeat(201)}/retry` }, 400, V],
    [
      'retry a key with a JSON body of garbage',
      { method: 'POST', url: '/tasks/victim/retry', payload: '{', headers: { 'content-type': 'application/json' } },
      400,
      'SHADOWS_ERR_MALFORMED_JSON',
    ],
    ['retryAll without a body', { method: 'POST', url: '/tasks/retry' }, 400, V],
    ['retryAll of {}', retryAll({}), 400, V],
    ['retryAll of completed', retryAll({ state: 'completed' }), 400, V],
    ['retryAll of running', retryAll({ state: 'running' }), 400, V],
    ['retryAll state=__proto__', retryAll({ state: '__proto__' }), 400, V],
    ['retryAll limit 0', retryAll({ state: 'failed', limit: 0 }), 400, V],
    ['retryAll limit -1', retryAll({ state: 'failed', limit: -1 }), 400, V],
    ['retryAll limit 1.5', retryAll({ state: 'failed', limit: 1.5 }), 400, V],
    ['retryAll limit 10001', retryAll({ state: 'failed', limit: 10_001 }), 400, V],
    ['retryAll limit as a string', retryAll({ state: 'failed', limit: '5' }), 400, V],
    ['retryAll finishedAfter without an offset', retryAll({ state: 'failed', finishedAfter: '2020-01-01T00:00:00' }), 400, V],
    ['retryAll finishedAfter garbage', retryAll({ state: 'failed', finishedAfter: 'yesterday' }), 400, V],
    ['retryAll finishedAfter a number', retryAll({ state: 'failed', finishedAfter: 0 }), 400, V],
    ['retryAll finishedAfter on no day', retryAll({ state: 'failed', finishedAfter: '2030-02-30T00:00:00Z' }), 400, V],
    ['retryAll finishedAfter huge', retryAll({ state: 'failed', finishedAfter: huge }), 400, V],
    ['retryAll task=__proto__', retryAll({ state: 'failed', task: '__proto__' }), 400, V],
    ['retryAll task empty', retryAll({ state: 'failed', task: '' }), 400, V],
    ['retryAll with an extra field', retryAll({ state: 'failed', everything: true }), 400, V],
    [
      'retryAll with __proto__',
      { method: 'POST', url: '/tasks/retry', payload: '{"state":"failed","__proto__":{"limit":1}}', headers: { 'content-type': 'application/json' } },
      400,
      'SHADOWS_ERR_MALFORMED_JSON',
    ],
    [
      'retryAll as text',
      { method: 'POST', url: '/tasks/retry', payload: 'state=failed', headers: { 'content-type': 'text/plain' } },
      415,
      'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
  ]
  await refusedWithoutChange(t, app, name, cases)
  const finishedAfterMessage = json(await app.inject(retryAll({ state: 'failed', finishedAfter: 'yesterday' }))).message
  t.match(finishedAfterMessage, /finishedAfter/, 'a bad finishedAfter is named as such')
  t.match(
    json(await app.inject(get('/tasks?state=failed&limit=5000'))).message,
    /limit must be an integer from 1 to 1000/,
    'a limit out of range says the range',
  )
  t.match(json(await app.inject(get('/tasks/waiting?wait=60001'))).message, /wait must be an integer from 0 to 60000/, 'so does a wait')
  t.match(json(await app.inject(get('/tasks/victim'))), { state: 'failed' }, 'the failed task is still failed')
  await app.shadow.cancel('waiting')
})
