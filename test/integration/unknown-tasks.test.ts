/**
 * Tasks no worker knows: put back with growing delays (counted in the record, the same whichever
 * way the worker read the message), failed with SHADOWS_ERR_UNKNOWN_TASK after unknownTaskTimeout,
 * listed with the failed tasks, retryable; a worker that knows the task runs it normally, and the
 * put-back of a task interrupted by shutdown is not counted as a deferral.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, isShadowsError } from '../../src/index.js'
import { moveDueTasks } from '../../src/redis/commands.js'
import { CONSUMER_GROUP } from '../../src/redis/keys.js'
import type { StreamEntry } from '../../src/redis/stream.js'
import { json, makeApp } from '../helpers/gateway.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { workerParts } from '../helpers/worker-parts.js'

t.teardown(closeAdmin)

const other = defineTask({ name: 'other', run: () => undefined })

t.test('a task no worker knows is put back later each time, its deferrals counted in the record, whichever way it was read', async (t) => {
  const shadow = makeShadow(t)
  // the parts of a worker that runs only "other", driven by hand: its first delay is 1 s
  const parts = workerParts(t, shadow, [other], { name: 'stranger' })
  await parts.readLoop.connect()
  const { redis, keys } = parts.context
  await shadow.add('mystery', { key: 'm' })({})
  const record = () => redis.hgetall(keys.task('m'))
  const due = async () => Number(await redis.zscore(keys.schedule, 'm'))
  // the task comes due: the scheduler's move, with the clock at its due time
  const comeDue = async () => t.equal((await moveDueTasks(redis, keys, await due(), 10)).moved, 1, 'back on the stream')
  const readAsStranger = async () => {
    const reply = (await redis.xreadgroup('GROUP', CONSUMER_GROUP, 'stranger', 'COUNT', 10, 'STREAMS', keys.stream, '>')) as [string, StreamEntry[]][]
    return reply[0]?.[1] ?? []
  }

  // 1. a start call that reads for itself (the start script's "unknown" entry)
  t.equal(parts.slots.tryAcquire(1), 1)
  let before = Date.now()
  await parts.starter.startNew(1, () => undefined)
  await parts.outcomes.idle()
  let after = Date.now()
  const first = await record()
  t.match(first, { state: 'scheduled', deferrals: '1' }, 'put back once')
  t.notOk(first.attempt, 'no attempt used')
  const since = Number(first.unknownSince)
  t.ok(since >= before && since <= after, 'the time of the first deferral is kept')
  t.equal(await due(), since + 1_000, 'offered again unknownTaskDelay after the first deferral')

  // 2. a message the worker read itself (a blocking read): the same, from the record's count
  await comeDue()
  const read = await readAsStranger()
  t.equal(read.length, 1)
  before = Date.now()
  await parts.starter.startDelivered(read)
  await parts.outcomes.idle()
  after = Date.now()
  t.match(await record(), { state: 'scheduled', deferrals: '2', unknownSince: String(since) }, 'counted on; first time kept')
  let next = await due()
  t.ok(next >= before + 2_000 && next <= after + 2_000, 'the second delay is twice the first', { next, before, after })

  // 3. a message taken over (reclaimed): the same again
  await comeDue()
  const reclaimed = await readAsStranger()
  before = Date.now()
  await parts.starter.startReclaimed(reclaimed)
  await parts.outcomes.idle()
  after = Date.now()
  t.match(await record(), { state: 'scheduled', deferrals: '3', unknownSince: String(since) })
  next = await due()
  t.ok(next >= before + 4_000 && next <= after + 4_000, 'the third delay is twice the second', { next, before, after })

  // 4. a worker that knows the task runs it as any other; its time as an unknown task is over
  await comeDue()
  const mystery = defineTask({ name: 'mystery', run: () => 'found' })
  await makeWorker(t, shadow, [mystery], { name: 'knower' }).runUntilFinished()
  const done = await record()
  t.match(done, { state: 'completed', worker: 'knower', result: '"found"' })
  t.notOk(done.deferrals, 'deferrals cleared when it started')
  t.notOk(done.unknownSince, 'unknownSince cleared when it started')
  t.notOk(done.attempt, 'the first attempt: the deferrals used none')
})

t.test('after unknownTaskTimeout it fails with SHADOWS_ERR_UNKNOWN_TASK, is listed with the failed tasks, and runs once retried', async (t) => {
  const shadow = makeShadow(t)
  await shadow.add('mystery', { key: 'lost' })({ n: 21 })
  const stranger = makeWorker(t, shadow, [other], { name: 'stranger', unknownTaskDelay: 20, unknownTaskTimeout: 300 })
  const running = stranger.run()
  const failure = await shadow.result('lost', { timeout: 30_000 }).then(
    () => undefined,
    (err: unknown) => err,
  )
  t.ok(isShadowsError(failure, 'SHADOWS_ERR_TASK_FAILED'), 'it ended, not completed')
  const info = await shadow.get('lost')
  t.match(info, {
    state: 'failed',
    attempt: 1,
    error: { type: 'UnknownTaskError', code: 'SHADOWS_ERR_UNKNOWN_TASK', message: /^no worker knows the task "mystery" \(deferred for \d+m?s\)$/ },
  })
  const raw = await shadowRecord(shadow.name, 'lost')
  t.notOk(raw.deferrals, 'its deferrals are not kept once it failed')

  const listed = await shadow.list({ state: 'failed' })
  t.same(
    listed.tasks.map((task) => task.key),
    ['lost'],
    'in the history of failed tasks',
  )
  t.same(listed.tasks[0]?.error, info?.error)
  // the gateway answers with the code too
  const { app } = await makeApp(t, { name: shadow.name })
  const page = json<{ tasks: { key: string; error?: Record<string, unknown> }[] }>(await app.inject({ method: 'GET', url: '/tasks?state=failed' }))
  t.same(page.tasks[0]?.error, info?.error, 'GET /tasks?state=failed shows the error with its code')
  await stranger.close()
  await running

  t.equal((await shadow.retry('lost')).state, 'queued', 'retried')
  const mystery = defineTask({
    name: 'mystery',
    params: Type.Object({ n: Type.Number() }),
    run: ({ n }) => n * 2,
  })
  await makeWorker(t, shadow, [mystery]).runUntilFinished()
  t.equal(await shadow.result('lost'), 42, 'a worker that knows it ran it, with its params')
})

t.test('a task interrupted by shutdown goes back on the queue as before: no deferral counted', async (t) => {
  const shadow = makeShadow(t)
  let started = false
  const slow = defineTask({
    name: 'slow',
    async run(_params, ctx) {
      started = true
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))
    },
  })
  await shadow.add(slow, { key: 's' })({})
  const worker = makeWorker(t, shadow, [slow], { gracePeriod: 0 })
  const running = worker.run()
  await waitFor(() => started, 10_000, 'the task to start')
  await worker.close()
  await running
  const record = await shadowRecord(shadow.name, 's')
  t.equal(record.state, 'queued', 'back on the queue')
  t.notOk(record.deferrals, 'not counted as a deferral of an unknown task')
  t.notOk(record.unknownSince)
  t.equal(record.deliveries ?? '0', '0', 'the delivery it was interrupted in is not counted')
  t.notOk(record.attempt, 'attempt unchanged')
})

/** The raw record of `key` in the shadow `name`. */
function shadowRecord(name: string, key: string): Promise<Record<string, string>> {
  return adminRedis().hgetall(`{${name}}:task:${key}`)
}
