/**
 * The HTTP contract (v1), route by route, through app.inject() against the real Redis: tasks,
 * batches, records, replace, cancel, snapshot, strikes, workers, health, metrics and docs; and one
 * end-to-end flow through a listening server and a worker.
 */
import t from 'tap'
import type { Worker } from '../../src/index.js'
import { listen } from '../../src/gateway/server.js'
import { closeAdmin, makeShadow, makeWorker, shadowKeysIn, waitFor } from '../helpers/shadow.js'
import { TASKS, assertError, json, makeApp, type Answer } from '../helpers/gateway.js'

t.teardown(closeAdmin)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

type Body = Record<string, unknown>

/** Task record keys of a shadow (what Redis holds for tasks, whatever their state). */
async function taskKeys(name: string): Promise<string[]> {
  return (await shadowKeysIn(name)).filter((key) => key.includes('}:task:'))
}

/** A Worker on the app's shadow name, on a shadow of its own (closed on teardown). */
function workerFor(tt: Parameters<typeof makeShadow>[0], name: string, options: { name?: string } = {}): Worker {
  const shadow = makeShadow(tt, { name })
  return makeWorker(tt, shadow, TASKS, { heartbeatInterval: 200, ...options })
}

t.test('POST /tasks: 202 with { key, task, when, state } and a Location header', async (t) => {
  const { app } = await makeApp(t)
  const before = Date.now()
  const res = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'Jane' } } })
  t.equal(res.statusCode, 202)
  t.match(res.headers['content-type'], /^application\/json/)
  const body = json(res)
  t.same(Object.keys(body).sort(), ['key', 'state', 'task', 'when'], 'exactly key, task, when, state')
  t.match(body.key, UUID, 'a UUID key when none is given')
  t.equal(body.task, 'greet')
  t.equal(body.state, 'queued')
  t.match(body.when, RFC3339, 'when is RFC 3339 with an offset')
  t.ok(Date.parse(body.when as string) >= before - 1, 'when is now')
  t.equal(res.headers.location, `/tasks/${body.key}`)

  const keyed = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'order-42:a@b.c_d-e', params: { name: 'x' } } })
  t.equal(keyed.statusCode, 202)
  t.equal(json(keyed).key, 'order-42:a@b.c_d-e', 'the given key is kept')
  t.equal(keyed.headers.location, '/tasks/order-42:a@b.c_d-e')

  const noParams = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'boom' } })
  t.equal(noParams.statusCode, 202, 'params default to {}')
})

t.test('a key of the longest allowed length (200 chars) works in every /tasks/{key} route', async (t) => {
  const { app } = await makeApp(t)
  const key = `k:${'x'.repeat(196)}.@`
  t.equal(key.length, 200)
  const added = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key, params: { name: 'long' }, delay: 60_000 } })
  t.equal(added.statusCode, 202)
  t.equal(added.headers.location, `/tasks/${key}`)
  const read = await app.inject({ method: 'GET', url: `/tasks/${key}` })
  t.equal(read.statusCode, 200, 'GET')
  t.equal(json(read).key, key)
  const replaced = await app.inject({ method: 'PUT', url: `/tasks/${key}`, payload: { task: 'greet', params: { name: 'longer' }, delay: 60_000 } })
  t.equal(replaced.statusCode, 200, 'PUT')
  t.equal(json(replaced).replaced, true)
  const cancelled = await app.inject({ method: 'DELETE', url: `/tasks/${key}` })
  t.equal(cancelled.statusCode, 200, 'DELETE')
  t.same(json(cancelled), { key, state: 'cancelled' })
})

t.test('POST /tasks: when or delay in the future schedules; a past when queues', async (t) => {
  const { app } = await makeApp(t)
  const at = '2099-11-28T10:00:00Z'
  const byWhen = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'a' }, when: at } })
  t.equal(byWhen.statusCode, 202)
  t.equal(json(byWhen).state, 'scheduled')
  t.equal(Date.parse(json(byWhen).when as string), Date.parse(at), 'when is the given time')

  const offset = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'b' }, when: '2099-11-28T12:00:00+02:00' } })
  t.equal(offset.statusCode, 202)
  t.equal(Date.parse(json(offset).when as string), Date.parse(at), 'an offset is honoured')

  const before = Date.now()
  const byDelay = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'c' }, delay: 60_000 } })
  t.equal(byDelay.statusCode, 202)
  t.equal(json(byDelay).state, 'scheduled')
  t.ok(Date.parse(json(byDelay).when as string) >= before + 60_000, 'when is now + delay')

  const past = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'd' }, when: '2001-01-01T00:00:00Z' } })
  t.equal(past.statusCode, 202)
  t.equal(json(past).state, 'queued', 'a past time runs at once')
  t.equal(json(past).when, '2001-01-01T00:00:00.000Z', 'and is kept as given')

  const zero = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'e' }, delay: 0 } })
  t.equal(json(zero).state, 'queued', 'delay 0 means now')
})

t.test('POST /tasks: a taken key gives 200 duplicate:true with the existing task (first params win)', async (t) => {
  const { app } = await makeApp(t)
  const first = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'dup', params: { name: 'first' }, delay: 60_000 } })
  t.equal(first.statusCode, 202)
  const again = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'dup', params: { name: 'second' } } })
  t.equal(again.statusCode, 200)
  t.notOk(again.headers.location, 'no Location on a duplicate')
  t.same(json(again), { key: 'dup', task: 'greet', when: json(first).when, state: 'scheduled', duplicate: true, params: { name: 'first' } })
  const record = await app.inject({ method: 'GET', url: '/tasks/dup' })
  t.same(json(record).params, { name: 'first' }, 'the stored params are the first ones')
  t.equal(json(record).state, 'scheduled')
})

t.test('POST /tasks: a struck task gives 409 SHADOWS_ERR_STRUCK and stores nothing', async (t) => {
  const { app, name } = await makeApp(t)
  const strike = await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'greet' } })
  t.equal(strike.statusCode, 201)
  const res = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'no', params: { name: 'x' } } })
  assertError(t, res, 409, 'SHADOWS_ERR_STRUCK')
  const byValue = await app.inject({ method: 'POST', url: '/strikes', payload: { parameter: 'name', operator: '==', value: 'Mallory' } })
  t.equal(byValue.statusCode, 201)
  const other = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'boom', key: 'fine' } })
  t.equal(other.statusCode, 202, 'another task is not struck')
  const restored = await app.inject({ method: 'DELETE', url: `/strikes/${json(strike).id}` })
  t.equal(restored.statusCode, 200)
  const mallory = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'no', params: { name: 'Mallory' } } })
  assertError(t, mallory, 409, 'SHADOWS_ERR_STRUCK', 'a struck parameter value')
  t.same(await taskKeys(name), [`{${name}}:task:fine`], 'only the task that was accepted is stored')
})

t.test('POST /tasks/batch: results in order, each item judged as if posted alone', async (t) => {
  const { app, name } = await makeApp(t)
  t.equal((await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'taken', params: { name: 'old' } } })).statusCode, 202)
  t.equal((await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'boom' } })).statusCode, 201)
  const items: unknown[] = [
    { task: 'greet', key: 'b-ok', params: { name: 'Jane' } },
    { task: 'greet', key: 'taken', params: { name: 'new' } },
    { task: 'nope', key: 'b-unknown' },
    { task: 'greet', key: 'b-invalid', params: { name: 42 } },
    { task: 'boom', key: 'b-struck' },
    42,
    { task: 'greet', key: 'b-later', params: { name: 'Later' }, delay: 60_000 },
    { task: 'greet', key: 'b ad', params: { name: 'x' } },
    { task: 'greet', key: 'b-both', params: { name: 'x' }, delay: 5, when: '2099-01-01T00:00:00Z' },
    { task: 'greet', key: 'b-extra', params: { name: 'x' }, colour: 'red' },
    null,
    { task: 'greet', key: 'b-ok', params: { name: 'again' } },
  ]
  const res = await app.inject({ method: 'POST', url: '/tasks/batch', payload: { tasks: items } })
  t.equal(res.statusCode, 200)
  const { results } = json<{ results: Body[] }>(res)
  t.equal(results.length, items.length, 'one result per item')
  const [ok, dup, unknown, invalid, struck, notObject, later, badKey, both, extra, nul, dupInBatch] = results as Body[]

  t.match(ok, { status: 202, key: 'b-ok', state: 'queued', duplicate: false })
  t.notOk(ok?.code, 'no code on success')
  t.match(dup, { status: 200, key: 'taken', state: 'queued', duplicate: true })
  t.match(unknown, { status: 400, code: 'SHADOWS_ERR_UNKNOWN_TASK' })
  t.match(invalid, { status: 400, code: 'SHADOWS_ERR_INVALID_PARAMS', message: /name/ })
  t.match(struck, { status: 409, code: 'SHADOWS_ERR_STRUCK' })
  t.match(notObject, { status: 400, code: 'SHADOWS_ERR_VALIDATION' })
  t.match(later, { status: 202, key: 'b-later', state: 'scheduled', duplicate: false })
  t.match(badKey, { status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ })
  t.match(both, { status: 400, code: 'SHADOWS_ERR_VALIDATION' })
  t.match(extra, { status: 400, code: 'SHADOWS_ERR_VALIDATION' })
  t.match(nul, { status: 400, code: 'SHADOWS_ERR_VALIDATION' })
  t.match(dupInBatch, { status: 200, key: 'b-ok', duplicate: true }, 'an earlier item of the same batch takes the key')
  for (const result of results) {
    if (typeof result.code === 'string') t.ok(typeof result.message === 'string' && (result.message as string).length > 0, `${result.code} has a message`)
  }

  // each item alone gives the same status and code
  const alone = await Promise.all(
    [items[2], items[3], items[5], items[7], items[8], items[9], items[10]].map((item) =>
      app.inject({ method: 'POST', url: '/tasks', payload: JSON.stringify(item), headers: { 'content-type': 'application/json' } }),
    ),
  )
  t.same(
    alone.map((r) => [r.statusCode, json(r).code]),
    [unknown, invalid, notObject, badKey, both, extra, nul].map((r) => [r?.status, r?.code]),
    'each failing item gets the status and code it would get alone',
  )

  const record = await app.inject({ method: 'GET', url: '/tasks/taken' })
  t.same(json(record).params, { name: 'old' }, 'the duplicate changed nothing')
  t.same(
    (await taskKeys(name)).sort(),
    ['b-later', 'b-ok', 'taken'].map((key) => `{${name}}:task:${key}`),
    'only the accepted items were stored',
  )

  const empty = await app.inject({ method: 'POST', url: '/tasks/batch', payload: { tasks: [] } })
  t.equal(empty.statusCode, 200)
  t.same(json(empty), { results: [] }, 'an empty batch is fine')
})

t.test('POST /tasks/batch: a bad envelope is a 400 and stores nothing', async (t) => {
  const { app, name } = await makeApp(t)
  const ok = { task: 'greet', params: { name: 'x' } }
  const cases: [string, unknown][] = [
    ['missing tasks', {}],
    ['tasks not an array', { tasks: ok }],
    ['tasks a string', { tasks: 'many' }],
    ['more than 1000 items', { tasks: Array.from({ length: 1001 }, () => ok) }],
    ['an extra field', { tasks: [ok], also: 1 }],
    ['an array body', [ok]],
  ]
  for (const [what, payload] of cases) {
    const res = await app.inject({ method: 'POST', url: '/tasks/batch', payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } })
    assertError(t, res, 400, 'SHADOWS_ERR_VALIDATION', what)
  }
  const max = await app.inject({ method: 'POST', url: '/tasks/batch', payload: { tasks: Array.from({ length: 1000 }, () => ok) } })
  t.equal(max.statusCode, 200, '1000 items are fine')
  t.equal(json<{ results: Body[] }>(max).results.filter((r) => r.status === 202).length, 1000, 'all 1000 accepted')
  t.equal((await taskKeys(name)).length, 1000, 'and stored; the bad envelopes stored nothing')
})

t.test('GET /tasks/{key}: the full record; completed with a result, failed with an error; 404 unknown', async (t) => {
  const { app, name } = await makeApp(t)
  const added = json(await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'g1', params: { name: 'Jane' } } }))
  const queued = await app.inject({ method: 'GET', url: '/tasks/g1' })
  t.equal(queued.statusCode, 200)
  t.same(json(queued), { key: 'g1', task: 'greet', params: { name: 'Jane' }, when: added.when, state: 'queued', attempt: 1 })

  t.equal((await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'boom', key: 'b1' } })).statusCode, 202)
  const worker = workerFor(t, name, { name: 'gw-runner' })
  await worker.runUntilFinished()

  const completed = json(await app.inject({ method: 'GET', url: '/tasks/g1' }))
  t.match(completed, { key: 'g1', task: 'greet', params: { name: 'Jane' }, state: 'completed', attempt: 1, result: 'Hello, Jane', worker: 'gw-runner' })
  t.match(completed.startedAt, RFC3339)
  t.match(completed.finishedAt, RFC3339)
  t.notOk('error' in completed, 'no error on success')

  const failed = json(await app.inject({ method: 'GET', url: '/tasks/b1' }))
  t.match(failed, { key: 'b1', task: 'boom', state: 'failed', attempt: 1 })
  t.same(failed.error, { type: 'TypeError', message: 'kaput' })
  t.notOk('result' in failed, 'no result on failure')

  const missing = await app.inject({ method: 'GET', url: '/tasks/never-added' })
  assertError(t, missing, 404, 'SHADOWS_ERR_NOT_FOUND')
})

t.test('PUT /tasks/{key}: 200 { key, task, when, state, replaced }', async (t) => {
  const { app } = await makeApp(t)
  const created = await app.inject({ method: 'PUT', url: '/tasks/put-1', payload: { task: 'greet', params: { name: 'one' } } })
  t.equal(created.statusCode, 200)
  const createdBody = json(created)
  t.same(Object.keys(createdBody).sort(), ['key', 'replaced', 'state', 'task', 'when'])
  t.match(createdBody, { key: 'put-1', task: 'greet', state: 'queued', replaced: false })
  t.match(createdBody.when, RFC3339)

  const replaced = await app.inject({ method: 'PUT', url: '/tasks/put-1', payload: { task: 'greet', params: { name: 'two' }, when: '2099-01-01T00:00:00Z' } })
  t.equal(replaced.statusCode, 200)
  t.same(json(replaced), { key: 'put-1', task: 'greet', when: '2099-01-01T00:00:00.000Z', state: 'scheduled', replaced: true })
  const record = json(await app.inject({ method: 'GET', url: '/tasks/put-1' }))
  t.match(record, { state: 'scheduled', params: { name: 'two' }, when: '2099-01-01T00:00:00.000Z' }, 'the replacement is stored')

  const other = await app.inject({ method: 'PUT', url: '/tasks/put-1', payload: { task: 'boom', delay: 60_000 } })
  t.match(json(other), { task: 'boom', state: 'scheduled', replaced: true }, 'a replacement may name another task')

  const cancelled = await app.inject({ method: 'DELETE', url: '/tasks/put-1' })
  t.equal(cancelled.statusCode, 200)
  const afterCancel = await app.inject({ method: 'PUT', url: '/tasks/put-1', payload: { task: 'greet', params: { name: 'three' } } })
  t.match(json(afterCancel), { state: 'queued', replaced: false }, 'a cancelled task is not replaced but created anew')

  const struck = await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'boom' } })
  t.equal(struck.statusCode, 201)
  assertError(t, await app.inject({ method: 'PUT', url: '/tasks/put-1', payload: { task: 'boom' } }), 409, 'SHADOWS_ERR_STRUCK', 'PUT of a struck task')
  t.match(json(await app.inject({ method: 'GET', url: '/tasks/put-1' })), { task: 'greet', params: { name: 'three' } }, 'a refused replace keeps the old task')
})

t.test('DELETE /tasks/{key}: cancelled, repeat 200, 404 unknown, 409 once finished', async (t) => {
  const { app, name } = await makeApp(t)
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'c1', params: { name: 'x' }, delay: 60_000 } })
  const cancelled = await app.inject({ method: 'DELETE', url: '/tasks/c1' })
  t.equal(cancelled.statusCode, 200)
  t.same(json(cancelled), { key: 'c1', state: 'cancelled' })
  const again = await app.inject({ method: 'DELETE', url: '/tasks/c1' })
  t.equal(again.statusCode, 200, 'a repeat is 200')
  t.same(json(again), { key: 'c1', state: 'cancelled' })
  t.equal(json(await app.inject({ method: 'GET', url: '/tasks/c1' })).state, 'cancelled')

  assertError(t, await app.inject({ method: 'DELETE', url: '/tasks/unknown-key' }), 404, 'SHADOWS_ERR_NOT_FOUND')

  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'c2', params: { name: 'x' } } })
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'boom', key: 'c3' } })
  await workerFor(t, name).runUntilFinished()
  assertError(t, await app.inject({ method: 'DELETE', url: '/tasks/c2' }), 409, 'SHADOWS_ERR_ALREADY_FINISHED', 'a completed task')
  assertError(t, await app.inject({ method: 'DELETE', url: '/tasks/c3' }), 409, 'SHADOWS_ERR_ALREADY_FINISHED', 'a failed task')
  t.equal(json(await app.inject({ method: 'GET', url: '/tasks/c2' })).state, 'completed', 'still completed')
})

t.test('GET /snapshot: counts, per task, running, scheduled and waiting', async (t) => {
  const { app } = await makeApp(t)
  const empty = await app.inject({ method: 'GET', url: '/snapshot' })
  t.equal(empty.statusCode, 200)
  t.match(json(empty), { counts: { scheduled: 0, queued: 0, running: 0 }, byTask: {}, running: [], scheduled: [] })

  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 's1', params: { name: 'x' }, when: '2099-01-01T00:00:00Z' } })
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 's2', params: { name: 'y' } } })
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'boom', key: 's3' } })
  const res = await app.inject({ method: 'GET', url: '/snapshot' })
  t.equal(res.statusCode, 200)
  const body = json(res)
  t.same(Object.keys(body).sort(), ['byTask', 'counts', 'running', 'scheduled', 'takenAt', 'waiting'])
  t.same(body.waiting, [], 'no task waits for a concurrency slot')
  t.match(body.takenAt, RFC3339)
  t.same(body.counts, { scheduled: 1, queued: 2, running: 0 })
  t.same(body.byTask, { greet: { scheduled: 1, queued: 1, running: 0 }, boom: { scheduled: 0, queued: 1, running: 0 } })
  t.same(body.running, [])
  t.same(body.scheduled, [{ key: 's1', task: 'greet', when: '2099-01-01T00:00:00.000Z' }])
})

t.test('strikes: GET lists, POST adds (201, then 200 for the same), DELETE restores (200, then 404)', async (t) => {
  const { app } = await makeApp(t)
  const none = await app.inject({ method: 'GET', url: '/strikes' })
  t.equal(none.statusCode, 200)
  t.same(json(none), { strikes: [] })

  const first = await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'greet', parameter: 'name', operator: 'between', value: ['a', 'm'] } })
  t.equal(first.statusCode, 201)
  const strike = json(first)
  t.match(strike, { id: /^\S+$/, task: 'greet', parameter: 'name', operator: 'between', value: ['a', 'm'] })
  t.match(strike.createdAt, RFC3339)
  t.same(Object.keys(strike).sort(), ['createdAt', 'id', 'operator', 'parameter', 'task', 'value'])

  const same = await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'greet', parameter: 'name', operator: 'between', value: ['a', 'm'] } })
  t.equal(same.statusCode, 200, 'the same strike again is 200')
  t.same(json(same), strike, 'and gives the existing strike')

  const whole = await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'boom' } })
  t.equal(whole.statusCode, 201)
  t.same(json(whole).operator, '==', 'operator defaults to ==')
  t.notOk('value' in json(whole), 'no value on a whole-task strike')

  const listed = json<{ strikes: Body[] }>(await app.inject({ method: 'GET', url: '/strikes' })).strikes
  t.same(listed.map((s) => s.id).sort(), [strike.id, json(whole).id].sort(), 'both listed')

  const struck = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'bob' } } })
  assertError(t, struck, 409, 'SHADOWS_ERR_STRUCK', 'the between strike applies')
  const notStruck = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'zoe' } } })
  t.equal(notStruck.statusCode, 202, 'a value outside the range passes')

  const removed = await app.inject({ method: 'DELETE', url: `/strikes/${strike.id}` })
  t.equal(removed.statusCode, 200)
  t.same(json(removed), strike, 'DELETE gives the removed strike')
  assertError(t, await app.inject({ method: 'DELETE', url: `/strikes/${strike.id}` }), 404, 'SHADOWS_ERR_NOT_FOUND', 'restoring again')
  assertError(t, await app.inject({ method: 'DELETE', url: '/strikes/no-such-id' }), 404, 'SHADOWS_ERR_NOT_FOUND', 'an unknown id')
  t.equal((await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'bob' } } })).statusCode, 202, 'restored')

  for (const [what, payload] of [
    ['no task nor parameter', {}],
    ['a parameter without value', { parameter: 'name' }],
    ['an unknown operator', { parameter: 'name', operator: '~', value: 1 }],
    ['between without a pair', { parameter: 'n', operator: 'between', value: 3 }],
    ['an extra field', { task: 'greet', reason: 'why' }],
  ] as const) {
    assertError(t, await app.inject({ method: 'POST', url: '/strikes', payload }), 400, 'SHADOWS_ERR_VALIDATION', what)
  }
})

t.test('GET /workers lists a running Worker', async (t) => {
  const { app, name } = await makeApp(t)
  t.same(json(await app.inject({ method: 'GET', url: '/workers' })), { workers: [] })
  const worker = workerFor(t, name, { name: 'gw-listed' })
  const loop = worker.run()
  t.teardown(async () => {
    await worker.close()
    await loop
  })
  await waitFor(async () => json<{ workers: Body[] }>(await app.inject({ method: 'GET', url: '/workers' })).workers.length === 1, 10_000, 'worker listed')
  const res = await app.inject({ method: 'GET', url: '/workers' })
  t.equal(res.statusCode, 200)
  const [listed] = json<{ workers: Body[] }>(res).workers
  t.same(Object.keys(listed ?? {}).sort(), ['concurrency', 'lastSeen', 'name', 'running', 'tasks'])
  t.match(listed, { name: 'gw-listed', concurrency: 10, running: 0 })
  t.same([...((listed?.tasks as string[]) ?? [])].sort(), ['boom', 'greet'])
  t.match(listed?.lastSeen, RFC3339)
})

t.test('health, metrics, docs and the OpenAPI document', async (t) => {
  const { app } = await makeApp(t)
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200)
  t.same(json(live), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(json(ready), { status: 'ok' })

  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'm' } } })
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /^text\/plain/)
  t.match(metrics.body, /^# HELP shadows_tasks_added_total /m)
  t.match(metrics.body, /^shadows_tasks_added_total\{task="greet"\} 1$/m, 'the add is counted')
  t.match(metrics.body, /^shadows_http_requests_total\{method="POST",route="\/tasks",status_code="202"\} 1$/m, 'the request is counted')

  const docs = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(docs.statusCode, 200)
  t.match(docs.headers['content-type'], /^text\/html/)
  t.match(docs.body, /<html/i)

  const spec = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(spec.statusCode, 200)
  t.match(spec.headers['content-type'], /^application\/json/)
  t.match(json(spec), { openapi: '3.1.0', info: { title: 'shadows' }, paths: { '/tasks': { post: {} } } })
})

t.test('end to end: a listening server, fetch() and a worker', async (t) => {
  const { app, name } = await makeApp(t)
  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${address}${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
    })
    return { statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
  }
  const added = await call('POST', '/tasks', { task: 'greet', params: { name: 'World', greeting: 'Hi' } })
  t.equal(added.statusCode, 202)
  const location = added.headers.location as string
  t.equal(location, `/tasks/${json(added).key}`)

  const worker = workerFor(t, name)
  await worker.runUntilFinished()
  const record = await call('GET', location)
  t.equal(record.statusCode, 200)
  t.match(json(record), { key: json(added).key, task: 'greet', state: 'completed', result: 'Hi, World', params: { name: 'World', greeting: 'Hi' } })

  assertError(t, await call('GET', '/nowhere'), 404, 'SHADOWS_ERR_NOT_FOUND', 'an unknown route over the wire')
  const malformed = await fetch(`${address}/tasks`, { method: 'POST', body: '{"task":', headers: { 'content-type': 'application/json' } })
  assertError(
    t,
    { statusCode: malformed.status, headers: Object.fromEntries(malformed.headers), body: await malformed.text() },
    400,
    'SHADOWS_ERR_MALFORMED_JSON',
    'malformed JSON over the wire',
  )
})
