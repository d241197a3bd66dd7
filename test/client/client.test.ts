/**
 * shadows/client against a real gateway on the real Redis: every method with what it answers,
 * ShadowsError with the gateway's code on 400, 404 and 409, bearer tokens and scopes, timeouts and
 * the caller's abort.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { ShadowsClient, ShadowsError, isShadowsError, type ErrorCode } from '../../src/http-client/index.js'
import { Shadow } from '../../src/index.js'
import { TEST_URL, closeAdmin, makeWorker, testLogger, waitFor } from '../helpers/shadow.js'
import { TASKS } from '../helpers/gateway.js'
import { runAll, serve } from '../helpers/client.js'

t.teardown(closeAdmin)

/** Asserts that `promise` rejects with a ShadowsError of `code` and `status`; returns it. */
async function rejectsWith(t: Test, promise: Promise<unknown>, status: number, code: ErrorCode | string, what: string): Promise<ShadowsError | undefined> {
  try {
    await promise
  } catch (err) {
    t.ok(err instanceof ShadowsError, `${what}: a ShadowsError`)
    if (!(err instanceof ShadowsError)) return undefined
    t.equal(err.code, code, `${what}: ${code}`)
    t.equal(err.status, status, `${what}: status ${status}`)
    t.equal(err.statusCode, status, `${what}: statusCode too`)
    t.equal(err.name, 'ShadowsError')
    t.ok(err.message.length > 0, `${what}: the gateway's message`)
    return err
  }
  t.fail(`${what}: resolved, expected ${code}`)
  return undefined
}

t.test('every method, against a real gateway and a worker', async (t) => {
  const { name, baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl: `${baseUrl}/` })
  t.equal(client.baseUrl, baseUrl, 'a trailing slash is dropped')

  const added = await client.add({ task: 'greet', params: { name: 'Jane' }, key: 'jane' })
  t.same(added, { key: 'jane', task: 'greet', when: added.when, state: 'queued' }, 'add: 202 { key, task, when, state }')
  t.equal(added.duplicate, undefined, 'no duplicate flag on a new task')
  const again = await client.add({ task: 'greet', params: { name: 'Other' }, key: 'jane' })
  t.equal(again.duplicate, true, 'add again: duplicate')
  if (again.duplicate) t.same(again.params, { name: 'Jane' }, 'with the existing params')

  const when = new Date(Date.now() + 3_600_000)
  const later = await client.add({ task: 'greet', params: { name: 'Later' }, when })
  t.equal(later.state, 'scheduled', 'add with when (a Date): scheduled')
  t.equal(new Date(later.when).getTime(), when.getTime(), 'at that time')
  t.match(later.key, /^[0-9a-f-]{36}$/, 'a UUID key when none is given')
  const delayed = await client.add({ task: 'greet', params: { name: 'Delayed' }, key: 'delayed', delay: 60_000 })
  t.equal(delayed.state, 'scheduled', 'add with delay: scheduled')

  const batch = await client.addBatch([
    { task: 'greet', params: { name: 'b1' }, key: 'b1' },
    { task: 'no-such-task', key: 'b2' },
    { task: 'greet', params: { name: 'b3' }, key: 'b3', when: new Date(Date.now() - 1000).toISOString() },
  ])
  t.same(
    batch.results.map((r) => [r.status, r.key, r.code]),
    [
      [202, 'b1', undefined],
      [400, undefined, 'SHADOWS_ERR_UNKNOWN_TASK'],
      [202, 'b3', undefined],
    ],
    'addBatch: one result per item, in order',
  )

  const record = await client.get('jane')
  t.match(record, { key: 'jane', task: 'greet', params: { name: 'Jane' }, state: 'queued' }, 'get: the record')

  const replaced = await client.replace('delayed', { task: 'greet', params: { name: 'Replaced' }, when: new Date(Date.now() + 7_200_000) })
  t.match(replaced, { key: 'delayed', state: 'scheduled', replaced: true }, 'replace: replaced')
  const created = await client.replace('fresh', { task: 'greet', params: { name: 'Fresh' }, delay: 60_000 })
  t.match(created, { key: 'fresh', replaced: false }, 'replace: creates when absent')

  for (const key of ['delayed', 'fresh', later.key]) t.same(await client.cancel(key), { key, state: 'cancelled' }, `cancel ${key}`)
  t.same(await client.cancel('fresh'), { key: 'fresh', state: 'cancelled' }, 'cancel again: the same')

  const snapshot = await client.snapshot()
  t.same(snapshot.counts, { scheduled: 0, queued: 3, running: 0 }, 'snapshot: counts')
  t.same(snapshot.byTask.greet, { scheduled: 0, queued: 3, running: 0 }, 'snapshot: by task')
  t.same(await client.workers(), { workers: [] }, 'workers: none yet')

  const strike = await client.strike({ task: 'greet', parameter: 'name', operator: '==', value: 'Struck' })
  t.match(strike, { id: String, task: 'greet', parameter: 'name', operator: '==', value: 'Struck', createdAt: String }, 'strike: the rule')
  t.same(await client.strike({ task: 'greet', parameter: 'name', operator: '==', value: 'Struck' }), strike, 'strike again: the same rule')
  t.same(await client.strikes(), { strikes: [strike] }, 'strikes: the rule')
  t.same(await client.restore(strike.id), strike, 'restore: the removed rule')
  t.same(await client.strikes(), { strikes: [] }, 'strikes: none')

  const bad = await client.add({ task: 'boom', key: 'bad' })
  const waiting = client.get('jane', { wait: 10_000 })
  await runAll(t, name)
  t.match(await waiting, { key: 'jane', state: 'completed', result: 'Hello, Jane' }, 'get with wait: resolves when the task finished')
  t.match(await client.get(bad.key), { state: 'failed', error: { type: 'TypeError', message: 'kaput' } })

  const completed = await client.list({ state: 'completed', limit: 2 })
  t.equal(completed.tasks.length, 2, 'list: a page of 2')
  t.type(completed.next, 'string', 'with a cursor')
  const rest = await client.list({ state: 'completed', limit: '10', cursor: completed.next as string })
  t.same([...completed.tasks, ...rest.tasks].map((r) => r.key).sort(), ['b1', 'b3', 'jane'], 'list: every completed task over the pages')
  t.same(
    (await client.list({ state: 'failed', task: 'boom' })).tasks.map((r) => r.key),
    ['bad'],
    'list: by task',
  )

  t.match(await client.retry('bad'), { key: 'bad', task: 'boom', state: 'queued' }, 'retry: queued again')
  await runAll(t, name)
  t.same(await client.retryAll({ state: 'failed', task: 'boom', finishedAfter: new Date(Date.now() - 60_000) }), { retried: 1, skipped: 0 }, 'retryAll')
  await runAll(t, name)
  t.equal((await client.get('bad')).state, 'failed', 'and it failed again')
})

t.test('workers: the live ones', async (t) => {
  const { name, baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl })
  const shadow = new Shadow({ name, url: TEST_URL, logger: testLogger })
  t.teardown(() => shadow.close())
  const worker = makeWorker(t, shadow, TASKS, { name: 'client-test-worker' })
  const running = worker.run()
  await waitFor(async () => (await client.workers()).workers.length === 1, 10_000, 'the worker in /workers')
  t.match((await client.workers()).workers[0], { name: 'client-test-worker', tasks: ['greet', 'boom'], concurrency: 10, running: 0 })
  await worker.close()
  await running
})

t.test("errors: a ShadowsError with the gateway's code, status and message", async (t) => {
  const { baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl })
  await rejectsWith(t, client.add({ task: 'no-such-task' }), 400, 'SHADOWS_ERR_UNKNOWN_TASK', 'an unknown task')
  await rejectsWith(t, client.add({ task: 'greet', params: { greeting: 'Hi' } }), 400, 'SHADOWS_ERR_INVALID_PARAMS', 'params off the schema')
  await rejectsWith(
    t,
    client.add({ task: 'greet', params: { name: 'x' }, when: '2026-11-28T10:00:00' }),
    400,
    'SHADOWS_ERR_VALIDATION',
    'a time without offset',
  )
  await rejectsWith(t, client.add({ task: 'greet', params: { name: 'x' }, key: 'a b' }), 400, 'SHADOWS_ERR_VALIDATION', 'a bad key')
  await rejectsWith(t, client.list({ state: 'failed', limit: 0 }), 400, 'SHADOWS_ERR_VALIDATION', 'a bad limit')
  await rejectsWith(t, client.get('missing'), 404, 'SHADOWS_ERR_NOT_FOUND', 'get of an unknown key')
  await rejectsWith(t, client.cancel('missing'), 404, 'SHADOWS_ERR_NOT_FOUND', 'cancel of an unknown key')
  await rejectsWith(t, client.restore('no-such-strike'), 404, 'SHADOWS_ERR_NOT_FOUND', 'restore of an unknown strike')

  await client.add({ task: 'greet', params: { name: 'x' }, key: 'queued' })
  await rejectsWith(t, client.retry('queued'), 409, 'SHADOWS_ERR_NOT_FINISHED', 'retry of a queued task')
  const strike = await client.strike({ task: 'greet' })
  const struck = await rejectsWith(t, client.add({ task: 'greet', params: { name: 'y' }, key: 'struck' }), 409, 'SHADOWS_ERR_STRUCK', 'a struck task')
  t.ok(isShadowsError(struck, 'SHADOWS_ERR_STRUCK'), 'isShadowsError with the code')
  t.notOk(isShadowsError(struck, 'SHADOWS_ERR_NOT_FOUND'), 'and not another code')
  await client.restore(strike.id)
  await client.cancel('queued')
  await rejectsWith(t, client.get('struck'), 404, 'SHADOWS_ERR_NOT_FOUND', 'nothing stored for the struck task')
})

t.test('a finished task cannot be cancelled: 409 ALREADY_FINISHED', async (t) => {
  const { name, baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl })
  await client.add({ task: 'greet', params: { name: 'x' }, key: 'done' })
  await runAll(t, name)
  await rejectsWith(t, client.cancel('done'), 409, 'SHADOWS_ERR_ALREADY_FINISHED', 'cancel of a completed task')
})

t.test('tokens: sent as a bearer token; 401 without, 403 without the scope', async (t) => {
  const { baseUrl } = await serve(t, { tokens: 'reader-token:read;writer-token:enqueue;boss-token:ops' })
  const anonymous = new ShadowsClient({ baseUrl })
  const reader = new ShadowsClient({ baseUrl, token: 'reader-token' })
  const writer = new ShadowsClient({ baseUrl, token: 'writer-token' })
  const boss = new ShadowsClient({ baseUrl, token: 'boss-token' })
  await rejectsWith(t, anonymous.snapshot(), 401, 'SHADOWS_ERR_UNAUTHORIZED', 'no token')
  await rejectsWith(t, new ShadowsClient({ baseUrl, token: 'wrong-token' }).snapshot(), 401, 'SHADOWS_ERR_UNAUTHORIZED', 'a wrong token')
  await rejectsWith(t, reader.add({ task: 'greet', params: { name: 'x' } }), 403, 'SHADOWS_ERR_FORBIDDEN', 'read scope adding')
  await rejectsWith(t, writer.strike({ task: 'greet' }), 403, 'SHADOWS_ERR_FORBIDDEN', 'enqueue scope striking')
  await rejectsWith(t, anonymous.events().next(), 401, 'SHADOWS_ERR_UNAUTHORIZED', 'events without a token')
  const added = await writer.add({ task: 'greet', params: { name: 'x' }, key: 'tok' })
  t.equal(added.state, 'queued', 'enqueue scope adds')
  t.equal((await reader.get('tok')).key, 'tok', 'read scope reads')
  const strike = await boss.strike({ task: 'nothing' })
  t.equal((await boss.restore(strike.id)).id, strike.id, 'ops scope strikes and restores')
  await boss.cancel('tok')
  t.throws(() => new ShadowsClient({ baseUrl, token: 'bad\ntoken' }), TypeError, 'a token that cannot be a header is refused at once')
})

t.test('timeout and abort: SHADOWS_ERR_CLIENT_TIMEOUT, or the caller’s reason', async (t) => {
  const { baseUrl } = await serve(t, {}, (app) => {
    // a slow route, for the client's timeout to pass
    app.addHook('onRequest', async (request) => {
      if (request.url === '/snapshot') await sleep(1500)
    })
  })
  const client = new ShadowsClient({ baseUrl, timeout: 200 })
  const timedOut = await rejectsWith(t, client.snapshot(), 0, 'SHADOWS_ERR_CLIENT_TIMEOUT', 'the client timeout')
  t.match(timedOut?.message, /200 ms/)
  await rejectsWith(t, new ShadowsClient({ baseUrl }).snapshot({ timeout: 100 }), 0, 'SHADOWS_ERR_CLIENT_TIMEOUT', 'a per-call timeout')
  t.same(await new ShadowsClient({ baseUrl }).snapshot({ timeout: 5000 }).then((s) => s.counts), { scheduled: 0, queued: 0, running: 0 }, 'within it')

  const controller = new AbortController()
  const aborted = client.snapshot({ signal: controller.signal, timeout: 0 })
  controller.abort(new Error('changed my mind'))
  await t.rejects(aborted, { message: 'changed my mind' }, "the caller's abort rejects with its reason")
  await t.rejects(client.workers({ signal: AbortSignal.abort() }), { name: 'AbortError' }, 'an aborted signal: at once')
})

t.test('options are checked', async (t) => {
  t.throws(() => new ShadowsClient({ baseUrl: 'not a url' }), TypeError)
  t.throws(() => new ShadowsClient({ baseUrl: 'ftp://example.com' }), /http or https/)
  t.throws(() => new ShadowsClient({ baseUrl: 'http://x', retries: -1 }), /retries/)
  t.throws(() => new ShadowsClient({ baseUrl: 'http://x', timeout: 1.5 }), /timeout/)
  t.equal(new ShadowsClient({ baseUrl: 'https://example.com/shadows/' }).baseUrl, 'https://example.com/shadows', 'a path prefix is kept')
})
