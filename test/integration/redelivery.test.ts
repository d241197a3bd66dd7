import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Shadow, defineTask } from '../../src/index.js'
import { CONSUMER_GROUP, storedKey } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import { startTasks, type StartEntry, type StartMessage } from '../../src/redis/commands.js'
import { TEST_URL, closeAdmin, makeShadow, makeWorker, testLogger, waitFor } from '../helpers/shadow.js'
import { spawnChildWorker } from '../helpers/engine-workers.js'
import { finishScript, rawRecord } from '../helpers/engine-state.js'
import { shadowContext } from '../../src/client/shadow.js'

t.teardown(closeAdmin)

/** Starts messages as worker `worker` holding them (mode reclaimed: taken over, or found pending after a reconnection). */
function startHeld(shadow: Shadow, worker: string, messages: StartMessage[]): Promise<StartEntry[] | 'stale'> {
  const { redis, keys } = shadowContext(shadow)
  return startTasks(redis, keys, worker, '', shadow.eventsLimit, workerLimits([], 30_000), { mode: 'reclaimed', messages })
}

/**
 * Adds a task `long` under `key` and has worker `worker` read and start it in one start call, as a
 * worker whose reply is then lost would: the reply, and the message as the worker holds it.
 */
async function readAndStart(shadow: Shadow, key: string, worker = 'w'): Promise<{ first: StartEntry; message: StartMessage }> {
  const { redis, keys } = shadowContext(shadow)
  await shadow.add('long', { key })({})
  await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0')
  const [first] = (await startTasks(redis, keys, worker, '', shadow.eventsLimit, workerLimits([], 30_000), {
    mode: 'read',
    count: 1,
    tasks: ['long'],
  })) as StartEntry[]
  if (first?.kind !== 'run') throw new Error(`${key} did not start: ${JSON.stringify(first)}`)
  return { first, message: { id: first.id, key: first.key, gen: first.gen } }
}

t.test('a task whose worker was killed (kill -9) is redelivered and runs, attempt unchanged', async (t) => {
  const shadow = makeShadow(t)
  const child = await spawnChildWorker(t, { url: TEST_URL, shadow: shadow.name, name: 'doomed', redeliveryTimeout: 500, heartbeatInterval: 200 })
  await child.waitForLine(/^ready$/)

  const added = await shadow.add('long', { key: 'survivor' })({})
  t.equal(added.state, 'queued')
  t.equal(await child.waitForLine(/^started survivor /), 'started survivor 1', 'the child started the task, attempt 1')
  const running = await shadow.get('survivor')
  t.equal(running?.state, 'running')
  t.equal(running?.worker, 'doomed')

  await child.kill()
  t.equal(child.process.signalCode, 'SIGKILL', 'the child was killed')
  // nothing finished it: the record still says running on the dead worker
  t.equal((await shadow.get('survivor'))?.state, 'running')

  const runs: { worker: string; attempt: number }[] = []
  const long = defineTask({
    name: 'long',
    async run(_params, ctx) {
      runs.push({ worker: ctx.worker.name, attempt: ctx.attempt })
      return 'rescued'
    },
  })
  const rescuer = makeWorker(t, shadow, [long], { name: 'rescuer', redeliveryTimeout: 500 })
  const rescuing = rescuer.run()
  await waitFor(async () => (await shadow.get('survivor'))?.state === 'completed', 10_000, 'the task completed on the rescuer')
  const info = await shadow.get('survivor')
  t.equal(info?.result, 'rescued')
  t.equal(info?.worker, 'rescuer')
  t.equal(info?.attempt, 1, 'redelivery does not use up a retry attempt')
  t.same(runs, [{ worker: 'rescuer', attempt: 1 }], 'ran once on the rescuer, as attempt 1')
  // acknowledged: nothing left pending in the stream
  await waitFor(async () => (await shadow.snapshot()).counts.running === 0, 5000, 'nothing running')
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 })
  await rescuer.close()
  await rescuing
})

t.test('a long task is not redelivered while its worker lives (the claim is renewed)', async (t) => {
  const shadow = makeShadow(t)
  const other = new Shadow({ name: shadow.name, url: TEST_URL, logger: testLogger })
  t.teardown(() => other.close())
  const runs: string[] = []
  const long = defineTask({
    name: 'long',
    async run(_params, ctx) {
      runs.push(ctx.worker.name)
      await sleep(1500)
      return ctx.worker.name
    },
  })
  const a = makeWorker(t, shadow, [long], { name: 'holder', redeliveryTimeout: 300 })
  const runningA = a.run()
  await shadow.add(long, { key: 'marathon' })({})
  await waitFor(async () => (await shadow.get('marathon'))?.state === 'running', 5000, 'running on the holder')
  t.equal((await shadow.get('marathon'))?.worker, 'holder')

  const b = makeWorker(t, other, [long], { name: 'idler', redeliveryTimeout: 300 })
  const runningB = b.run()
  await waitFor(async () => (await shadow.get('marathon'))?.state === 'completed', 10_000, 'completed')
  const info = await shadow.get('marathon')
  t.equal(info?.worker, 'holder')
  t.equal(info?.result, 'holder')
  t.equal(info?.attempt, 1)
  t.same(runs, ['holder'], 'ran exactly once, on the worker that took it')
  await Promise.all([a.close(), b.close()])
  await Promise.all([runningA, runningB])
  t.same(runs, ['holder'], 'still once after both workers closed')
})

t.test('a reclaimed task this worker does not know is handed on to a worker that knows it', async (t) => {
  const shadow = makeShadow(t)
  const child = await spawnChildWorker(t, { url: TEST_URL, shadow: shadow.name, name: 'doomed-2', redeliveryTimeout: 500, heartbeatInterval: 200 })
  await child.waitForLine(/^ready$/)
  await shadow.add('long', { key: 'orphan' })({})
  await child.waitForLine(/^started orphan /)
  await child.kill()

  // a worker that runs other tasks only reclaims the message first: it must give it back
  const other = defineTask({ name: 'other', run: () => undefined })
  const stranger = makeWorker(t, shadow, [other], { name: 'stranger', redeliveryTimeout: 500, unknownTaskDelay: 50 })
  const strangerRunning = stranger.run()
  await waitFor(async () => (await shadow.get('orphan'))?.state !== 'running', 10_000, 'the stranger to hand the task back')
  await stranger.close()
  await strangerRunning
  t.not((await shadow.get('orphan'))?.state, 'running', 'no longer running on the dead worker')

  const runs: string[] = []
  const long = defineTask({
    name: 'long',
    async run(_params, ctx) {
      runs.push(ctx.worker.name)
      return 'handed on'
    },
  })
  const rescuer = makeWorker(t, shadow, [long], { name: 'rescuer-2', redeliveryTimeout: 500 })
  await rescuer.runUntilFinished()
  const info = await shadow.get('orphan')
  t.equal(info?.state, 'completed')
  t.equal(info?.result, 'handed on')
  t.same(runs, ['rescuer-2'], 'ran once, on the worker that knows it')
})

t.test('Redis back from a snapshot: outcomes for messages it has not delivered again take no queued task off the stream', async (t) => {
  const ran: string[] = []
  const note = defineTask({
    name: 'note',
    async run(_params, ctx) {
      ran.push(ctx.key)
    },
  })
  const shadow = makeShadow(t)
  const { stream } = shadowContext(shadow).keys
  for (const key of ['a', 'b', 'c', 'd']) await shadow.add(note, { key })({})
  // the group as a snapshot taken before any delivery left it: nothing delivered, nothing pending
  await shadowContext(shadow).redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  const c = await rawRecord(shadow, 'c')
  const d = await rawRecord(shadow, 'd')
  // d started on worker w after the snapshot... as far as its record knows (its start made it to
  // disk, its delivery did not); c's start never made it
  await shadowContext(shadow).redis.hset(shadowContext(shadow).keys.task(storedKey('d')), 'state', 'running', 'worker', 'w')
  // w, which ran c and d before Redis went down, writes their outcomes
  const applied = await finishScript(shadow, 'w', [
    [c.sid ?? '', 'c', c.gen ?? '', 'completed', '', 0],
    [d.sid ?? '', 'd', d.gen ?? '', 'completed', '', 0],
  ])
  t.equal(applied, 1, "only d's outcome applies: c's record never saw its start")
  t.equal(await shadowContext(shadow).redis.xlen(stream), 3, 'a, b and c stay on the stream, only d leaves it')
  t.equal((await shadow.get('c'))?.state, 'queued', 'c is still queued')
  t.equal((await shadow.get('d'))?.state, 'completed')

  const worker = makeWorker(t, shadow, [note], { name: 'after-restore' })
  await worker.runUntilFinished()
  t.same(ran.sort(), ['a', 'b', 'c'], 'a, b and c run')
  for (const key of ['a', 'b', 'c']) t.equal((await shadow.get(key))?.state, 'completed', `${key} completed`)
})

t.test('a worker does not start a message it read but another worker has claimed since', async (t) => {
  const shadow = makeShadow(t)
  const { stream } = shadowContext(shadow).keys
  await shadow.add('long', { key: 'contested' })({})
  await shadowContext(shadow).redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  const gen = (await rawRecord(shadow, 'contested')).gen ?? ''
  // worker a reads the message, then loses its connection for a long while
  const read = (await shadowContext(shadow).redis.xreadgroup('GROUP', CONSUMER_GROUP, 'a', 'COUNT', 1, 'STREAMS', stream, '>')) as [
    string,
    [string, string[]][],
  ][]
  const id = read[0]?.[1][0]?.[0] ?? ''
  // worker b takes it over as abandoned and starts it
  await shadowContext(shadow).redis.xclaim(stream, CONSUMER_GROUP, 'b', 0, id)
  const start = (worker: string) => startHeld(shadow, worker, [{ id, key: storedKey('contested'), gen }])
  t.match(await start('b'), [{ kind: 'run', id }], 'b, which holds the message, starts it')
  // back, a starts what it finds in its pending list as it read it before
  t.same(await start('a'), [{ kind: 'skip', id }], 'a, which no longer holds it, leaves it alone')
  const after = await shadow.get('contested')
  t.equal(after?.state, 'running')
  t.equal(after?.worker, 'b', 'it still runs on b')
  t.equal(await shadowContext(shadow).redis.xlen(stream), 1, 'and its message stays')
  await shadow.cancel('contested')
})

t.test('a start call resent after its reply was lost is the same delivery: a task that only met Redis restarts is not poison', async (t) => {
  const shadow = makeShadow(t)
  const { redis, keys } = shadowContext(shadow)
  // the worker's read-and-start call ran, but its reply was lost with the connection
  const { first, message } = await readAndStart(shadow, 'unlucky')
  t.match(first, { kind: 'run', deliveries: 1 })
  // back, it starts what it finds pending for itself, as often as the connection drops again
  for (let i = 0; i < 6; i++) {
    const [again] = (await startHeld(shadow, 'w', [message])) as StartEntry[]
    t.match(again, { kind: 'run', deliveries: 1 }, `resend ${i + 1}: still the first delivery`)
  }
  // another worker that takes it over is a new delivery
  await redis.xclaim(keys.stream, CONSUMER_GROUP, 'other', 0, message.id)
  const [taken] = (await startHeld(shadow, 'other', [message])) as StartEntry[]
  t.match(taken, { kind: 'run', deliveries: 2 }, 'taken over by another worker: the second delivery')
  await shadow.cancel('unlucky')
})

t.test('a task taken over from a dead worker starts in the next free slot, ahead of new tasks, however busy the worker is', async (t) => {
  const shadow = makeShadow(t)
  const order: string[] = []
  const busy = defineTask({
    name: 'busy',
    run: async (_p, ctx) => {
      order.push(ctx.key)
      await sleep(20)
    },
  })
  // a worker starts one task and dies with it
  await shadow.add(busy, { key: 'orphan' })({})
  const { redis, keys } = shadowContext(shadow)
  await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
  await startTasks(redis, keys, 'ghost', '', shadow.eventsLimit, workerLimits([], 30_000), { mode: 'read', count: 1, tasks: ['busy'] })
  // then a backlog that keeps every slot of the worker busy for seconds
  await shadow.addBatch(Array.from({ length: 400 }, (_, i) => ({ task: busy, key: `b${i}`, params: {} })))
  const worker = makeWorker(t, shadow, [busy], { concurrency: 2, redeliveryTimeout: 300 })
  await worker.runUntilFinished()
  const at = order.indexOf('orphan')
  t.ok(at >= 0 && at < 200, `the orphan ran before half the backlog had started (it was start ${at + 1} of ${order.length})`)
  t.match(await shadow.get('orphan'), { state: 'completed' })
})

t.test('a message a worker starts again from its own pending list is its own for a redelivery timeout anew', async (t) => {
  // after Redis was down longer than the redelivery timeout, a message pending on a live worker is
  // long idle; once that worker starts it again, no other worker may take it over at once
  const shadow = makeShadow(t)
  const { redis, keys } = shadowContext(shadow)
  const { message } = await readAndStart(shadow, 'kept')
  await redis.xclaim(keys.stream, CONSUMER_GROUP, 'w', 0, message.id, 'IDLE', 60_000, 'JUSTID')
  const [again] = (await startHeld(shadow, 'w', [message])) as StartEntry[]
  t.match(again, { kind: 'run' }, 'w starts it again')
  const [, taken] = (await redis.xautoclaim(keys.stream, CONSUMER_GROUP, 'other', 30_000, '0-0', 'COUNT', 10)) as [string, unknown[]]
  t.same(taken, [], 'another worker cannot take it over')
  await shadow.cancel('kept')
})
