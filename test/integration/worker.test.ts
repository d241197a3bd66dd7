import t from 'tap'
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Type } from '@sinclair/typebox'
import { Shadow, Worker, defineTask, type TaskContext } from '../../src/index.js'
import { CONSUMER_GROUP } from '../../src/redis/keys.js'
import { TEST_URL, adminRedis, closeAdmin, makeShadow, makeWorker, testLogger, waitFor, type TestLike } from '../helpers/shadow.js'
import { InFlight, LEVEL, captureLogs, gate } from '../helpers/engine-workers.js'
import { workerParts } from '../helpers/worker-parts.js'
import { shadowContext } from '../../src/client/shadow.js'

t.teardown(closeAdmin)
const run = promisify(execFile)

t.test('concurrency: never more than N at once, and N is reached', async (t) => {
  for (const concurrency of [1, 5]) {
    const inFlight = new InFlight()
    const done: string[] = []
    const work = defineTask({
      name: 'work',
      async run(_params, ctx) {
        inFlight.enter()
        await sleep(40)
        inFlight.leave()
        done.push(ctx.key)
      },
    })
    const shadow = makeShadow(t)
    const total = concurrency * 5
    for (let i = 0; i < total; i++) await shadow.add(work, { key: `k${i}` })({})
    const worker = makeWorker(t, shadow, [work], { concurrency, name: `conc-${concurrency}` })
    await worker.runUntilFinished()
    t.equal(done.length, total, `concurrency ${concurrency}: every task ran`)
    t.equal(new Set(done).size, total, `concurrency ${concurrency}: each task once`)
    t.equal(inFlight.max, concurrency, `concurrency ${concurrency}: at most and at least ${concurrency} in flight`)
  }
})

t.test('two workers on one shadow share the load; every task runs exactly once', async (t) => {
  const runs = new Map<string, number>()
  const byWorker = new Map<string, number>()
  const work = defineTask({
    name: 'work',
    params: Type.Object({ i: Type.Number() }),
    async run(_params, ctx) {
      runs.set(ctx.key, (runs.get(ctx.key) ?? 0) + 1)
      byWorker.set(ctx.worker.name, (byWorker.get(ctx.worker.name) ?? 0) + 1)
      await sleep(2)
    },
  })
  const shadow = makeShadow(t)
  // a second client on the same name, as another process would have
  const other = new Shadow({ name: shadow.name, url: TEST_URL, logger: testLogger })
  t.teardown(() => other.close())
  const keys = Array.from({ length: 200 }, (_, i) => `task-${i}`)
  const results = await shadow.addBatch(keys.map((key, i) => ({ task: work, key, params: { i } })))
  t.ok(
    results.every((r) => r.ok),
    'all 200 added',
  )

  const a = makeWorker(t, shadow, [work], { name: 'worker-a', concurrency: 5 })
  const b = makeWorker(t, other, [work], { name: 'worker-b', concurrency: 5 })
  await Promise.all([a.runUntilFinished(), b.runUntilFinished()])

  t.equal(runs.size, 200, 'every key ran')
  t.same(
    [...runs.values()].filter((n) => n !== 1),
    [],
    'no key ran twice',
  )
  t.ok((byWorker.get('worker-a') ?? 0) > 0, `worker a ran some (${byWorker.get('worker-a')})`)
  t.ok((byWorker.get('worker-b') ?? 0) > 0, `worker b ran some (${byWorker.get('worker-b')})`)
  t.equal((byWorker.get('worker-a') ?? 0) + (byWorker.get('worker-b') ?? 0), 200)
  const infos = await Promise.all(keys.map((key) => shadow.get(key)))
  t.same(
    infos.filter((info) => info?.state !== 'completed' || info.attempt !== 1).map((info) => info?.key),
    [],
    'every record completed, attempt 1',
  )
})

t.test('two shadows on one Redis never touch each other', async (t) => {
  const ran: string[] = []
  const job = defineTask({
    name: 'job',
    async run(_params, ctx) {
      ran.push(`${ctx.shadow.name}/${ctx.key}`)
    },
  })
  const a = makeShadow(t)
  const b = makeShadow(t)
  t.not(a.name, b.name)
  for (let i = 0; i < 5; i++) {
    await a.add(job, { key: `a${i}` })({})
    await b.add(job, { key: `b${i}` })({})
  }
  await b.add(job, { key: 'b-later', delay: 60_000 })({})

  const workerA = makeWorker(t, a, [job], { name: 'only-a' })
  await workerA.runUntilFinished()
  t.same(
    ran.sort(),
    [0, 1, 2, 3, 4].map((i) => `${a.name}/a${i}`),
    'the worker on shadow a ran exactly the tasks of a',
  )
  for (let i = 0; i < 5; i++) t.equal((await b.get(`b${i}`))?.state, 'queued', `b${i} still queued on b`)
  t.equal(await b.get('a0'), undefined, 'a key of a is unknown to b')
  t.equal(await a.get('b0'), undefined, 'a key of b is unknown to a')

  const snapA = await a.snapshot()
  const snapB = await b.snapshot()
  t.same(snapA.counts, { scheduled: 0, queued: 0, running: 0 }, 'a is empty')
  t.same(snapB.counts, { scheduled: 1, queued: 5, running: 0 }, 'b holds its own tasks')
  t.same(snapB.byTask, { job: { scheduled: 1, queued: 5, running: 0 } })
  t.same(
    snapB.scheduled.map((s) => s.key),
    ['b-later'],
  )

  // a worker on b lists under b only, and runs b's tasks
  const workerB = makeWorker(t, b, [job], { name: 'only-b' })
  const runningB = workerB.run()
  await waitFor(async () => (await b.workers()).some((w) => w.name === 'only-b'), 5000, 'worker on b listed')
  t.notOk(
    (await a.workers()).some((w) => w.name === 'only-b'),
    'the worker on b is not listed under a',
  )
  await waitFor(async () => (await b.snapshot()).counts.queued === 0, 5000, 'b drained')
  await workerB.close()
  await runningB
  t.same(
    ran.filter((r) => r.startsWith(`${b.name}/`)).sort(),
    [0, 1, 2, 3, 4].map((i) => `${b.name}/b${i}`),
    'the worker on b ran exactly the tasks of b that were due',
  )
})

t.test('a task the worker does not know is put back, logged, and run by a worker that knows it', async (t) => {
  const shadow = makeShadow(t)
  const logs = captureLogs('warn')
  const other = defineTask({ name: 'other', async run() {} })
  let mysteryRuns = 0
  let mysteryWorker = ''
  const mystery = defineTask({
    name: 'mystery',
    async run(_params, ctx) {
      mysteryRuns += 1
      mysteryWorker = ctx.worker.name
      return 'solved'
    },
  })
  const added = await shadow.add('mystery', { key: 'who-knows' })({})
  t.equal(added.state, 'queued')

  const ignorant = makeWorker(t, shadow, [other], { name: 'ignorant', unknownTaskDelay: 50, logger: logs.logger })
  const runningIgnorant = ignorant.run()
  await waitFor(() => logs.lines.some((line) => line.includes('mystery') && line.includes('who-knows')), 5000, 'a warning about the unknown task')
  const warning = logs.entries().find((e) => JSON.stringify(e).includes('who-knows'))
  t.ok(warning, 'a line names the task and key')
  t.ok((warning?.level ?? 0) >= LEVEL.warn, 'at warn level or above')
  t.equal(warning?.task, 'mystery')
  t.equal(warning?.key, 'who-knows')
  // it was not dropped: still waiting for a worker, not finished
  const meanwhile = await shadow.get('who-knows')
  t.ok(meanwhile && ['queued', 'scheduled'].includes(meanwhile.state), `still live (${meanwhile?.state})`)
  t.equal(mysteryRuns, 0)

  const knowing = makeWorker(t, shadow, [mystery], { name: 'knowing', unknownTaskDelay: 50 })
  const runningKnowing = knowing.run()
  await waitFor(async () => (await shadow.get('who-knows'))?.state === 'completed', 10_000, 'the task completed')
  const info = await shadow.get('who-knows')
  t.equal(info?.result, 'solved')
  t.equal(info?.attempt, 1, 'putting it back did not use up an attempt')
  t.equal(info?.worker, 'knowing')
  t.equal(mysteryRuns, 1)
  t.equal(mysteryWorker, 'knowing')
  await Promise.all([ignorant.close(), knowing.close()])
  await Promise.all([runningIgnorant, runningKnowing])
})

t.test('close(): idempotent, run() resolves after it, stops taking work', async (t) => {
  const shadow = makeShadow(t)
  const hold = gate()
  const ran: string[] = []
  const events: string[] = []
  const job = defineTask({
    name: 'job',
    async run(_params, ctx) {
      ran.push(ctx.key)
      if (ctx.key === 'first') {
        await hold.promise
        events.push('task finished')
      }
    },
  })
  const worker = makeWorker(t, shadow, [job], { name: 'closer', concurrency: 1, gracePeriod: 10_000 })
  const running = worker.run().then(() => {
    events.push('run resolved')
  })
  await shadow.add(job, { key: 'first' })({})
  await waitFor(async () => (await shadow.get('first'))?.state === 'running', 5000, 'first running')
  await shadow.add(job, { key: 'second' })({})

  const close1 = worker.close().then(() => events.push('close resolved'))
  const close2 = worker.close()
  // give run() a chance to resolve too early: wait until the worker stopped reading (its reader's
  // connection is gone), then let the running task end
  await waitFor(async () => (await connectionsOf(shadow.name)) === 2, 5000, 'the reader to close')
  hold.open()
  await t.resolves(Promise.all([close1, close2]), 'both close() calls resolve')
  await t.resolves(running, 'run() resolves after close()')
  t.ok(
    events.indexOf('task finished') !== -1 && events.indexOf('task finished') < events.indexOf('run resolved'),
    `run() resolves only once the worker is done, after its running task finished (order: ${events.join(', ')})`,
  )
  await t.resolves(worker.close(), 'a third close() resolves too')

  t.equal((await shadow.get('first'))?.state, 'completed', 'the running task finished within the grace period')
  t.equal((await shadow.get('second'))?.state, 'queued', 'nothing new was taken after close()')
  t.same(ran, ['first'])
  await t.rejects(worker.run(), { code: 'SHADOWS_ERR_CLOSED' }, 'a closed worker does not run again')

  // the task left behind is not lost
  const next = makeWorker(t, shadow, [job], { name: 'after-closer' })
  await next.runUntilFinished()
  t.equal((await shadow.get('second'))?.state, 'completed')
  t.same(ran, ['first', 'second'])
})

/** How many connections the shadow `name` and its workers hold open (they carry its name). */
async function connectionsOf(name: string): Promise<number> {
  return ((await adminRedis().client('LIST')) as string).split('\n').filter((line) => line.includes(` name=shadows:${name} `)).length
}

t.test('close() on a worker that never ran resolves, twice', async (t) => {
  const shadow = makeShadow(t)
  const job = defineTask({ name: 'job', async run() {} })
  const worker = new Worker(shadow, { tasks: [job], name: 'never-ran', logger: testLogger })
  await t.resolves(Promise.all([worker.close(), worker.close()]))
  t.same(await shadow.workers(), [], 'never listed')
})

t.test('close() while run() is still connecting leaves no connection open', async (t) => {
  const shadow = makeShadow(t)
  const job = defineTask({ name: 'job', async run() {} })
  const worker = new Worker(shadow, { tasks: [job], name: 'closed-while-connecting', logger: testLogger })
  const running = worker.run()
  await worker.close()
  await running
  await shadow.close()
  await waitFor(async () => (await connectionsOf(shadow.name)) === 0, 2000, "the shadow's connections to close").catch(() => undefined)
  t.equal(await connectionsOf(shadow.name), 0, 'no connection of the worker or the shadow is left')
})

t.test('close(): tasks running past the grace period are aborted and put back, attempt unchanged', async (t) => {
  const shadow = makeShadow(t)
  const quickHold = gate()
  const stuckRuns: { worker: string; attempt: number }[] = []
  let stuckSignal: AbortSignal | undefined
  const quick = defineTask({
    name: 'quick',
    async run() {
      await quickHold.promise
      return 'quick done'
    },
  })
  const stuck = defineTask({
    name: 'stuck',
    retry: { attempts: 3, delay: 10 },
    async run(_params, ctx) {
      stuckRuns.push({ worker: ctx.worker.name, attempt: ctx.attempt })
      if (stuckRuns.length > 1) return 'second time'
      stuckSignal = ctx.signal
      await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
    },
  })
  const first = makeWorker(t, shadow, [quick, stuck], { name: 'graceful', gracePeriod: 300 })
  const running = first.run()
  await shadow.add(quick, { key: 'quick' })({})
  await shadow.add(stuck, { key: 'stuck' })({})
  await waitFor(async () => (await shadow.get('quick'))?.state === 'running' && (await shadow.get('stuck'))?.state === 'running', 5000, 'both running')

  const closing = first.close()
  quickHold.open()
  await closing
  await running
  t.equal((await shadow.get('quick'))?.state, 'completed', 'a task finishing within the grace period completes')
  t.equal((await shadow.get('quick'))?.result, 'quick done')
  t.equal(stuckSignal?.aborted, true, "the stuck task's signal fired")
  t.equal((stuckSignal?.reason as Error | undefined)?.name, 'ShutdownError')
  const back = await shadow.get('stuck')
  t.equal(back?.state, 'queued', 'the stuck task is back on the queue')
  t.equal(back?.attempt, 1, 'its attempt is unchanged')
  t.equal(back?.error, undefined, 'no error recorded for a shutdown')

  const second = makeWorker(t, shadow, [quick, stuck], { name: 'second' })
  await second.runUntilFinished()
  const done = await shadow.get('stuck')
  t.equal(done?.state, 'completed')
  t.equal(done?.result, 'second time')
  t.equal(done?.attempt, 1)
  t.same(stuckRuns, [
    { worker: 'graceful', attempt: 1 },
    { worker: 'second', attempt: 1 },
  ])
})

t.test('runUntilFinished() waits for future tasks and for tasks running on other workers', async (t) => {
  const shadow = makeShadow(t)
  const ran: string[] = []
  const job = defineTask({
    name: 'job',
    async run(_params, ctx) {
      ran.push(ctx.key)
    },
  })
  await shadow.add(job, { key: 'now' })({})
  const later = await shadow.add(job, { key: 'later', delay: 400 })({})
  t.equal(later.state, 'scheduled')
  const worker = makeWorker(t, shadow, [job], { name: 'until-finished' })
  await worker.runUntilFinished()
  t.same(ran, ['now', 'later'], 'both ran, the future one included')
  t.equal((await shadow.get('later'))?.state, 'completed')
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 })

  // a task running on another worker keeps runUntilFinished() going
  let slowFinished = false
  const slow = defineTask({
    name: 'slow',
    async run() {
      await sleep(500)
      slowFinished = true
    },
  })
  const busy = makeWorker(t, shadow, [slow], { name: 'busy' })
  const busyRunning = busy.run()
  await shadow.add(slow, { key: 'slow' })({})
  await waitFor(async () => (await shadow.get('slow'))?.state === 'running', 5000, 'slow running')
  const idle = makeWorker(t, shadow, [job], { name: 'idle' })
  await idle.runUntilFinished()
  t.equal(slowFinished, true, 'runUntilFinished() returned only after the running task finished')
  await busy.close()
  await busyRunning
})

t.test('ctx carries key, task, attempt, when, signal, logger, shadow, worker, progress; logs carry the task fields', async (t) => {
  const shadow = makeShadow(t)
  const logs = captureLogs('info')
  const seen: TaskContext[] = []
  const inspect = defineTask({
    name: 'inspect',
    params: Type.Object({ n: Type.Number() }),
    retry: { attempts: 2, delay: 10 },
    async run({ n }, ctx) {
      seen.push(ctx)
      ctx.logger.info({ n }, 'hello from the task')
      await ctx.progress(1, 2, 'half way')
      if (ctx.attempt === 1) throw new Error('first attempt fails')
      return { n, attempt: ctx.attempt }
    },
  })
  const when = new Date(Date.now() + 150)
  const added = await shadow.add(inspect, { key: 'ctx-key', when })({ n: 7 })
  t.equal(added.state, 'scheduled')
  const worker = makeWorker(t, shadow, [inspect], { name: 'ctx-worker', logger: logs.logger })
  await worker.runUntilFinished()

  t.equal(seen.length, 2, 'ran twice (one retry)')
  const [first, second] = seen
  for (const ctx of [first, second]) {
    t.equal(ctx?.key, 'ctx-key')
    t.equal(ctx?.task, 'inspect')
    t.ok(ctx?.when instanceof Date)
    t.ok(ctx?.signal instanceof AbortSignal)
    t.equal(ctx?.signal.aborted, false)
    t.equal(ctx?.shadow, shadow)
    t.equal(ctx?.worker, worker)
    t.equal(typeof ctx?.logger.info, 'function')
    t.equal(typeof ctx?.progress, 'function')
  }
  t.equal(first?.attempt, 1)
  t.equal(second?.attempt, 2)
  t.equal(first?.when.getTime(), when.getTime(), 'ctx.when is the due time it was added with')

  const info = await shadow.get('ctx-key')
  t.equal(info?.state, 'completed')
  t.same(info?.result, { n: 7, attempt: 2 })
  t.equal(info?.attempt, 2)
  t.same(info?.progress, { current: 1, total: 2, message: 'half way' })

  const hellos = logs.entries().filter((e) => e.msg === 'hello from the task')
  t.equal(hellos.length, 2, 'both attempts logged')
  hellos.forEach((line, i) => {
    t.equal(line.worker, 'ctx-worker', 'the line names the worker')
    t.equal(line.task, 'inspect', 'the line names the task')
    t.equal(line.key, 'ctx-key', 'the line names the key')
    t.equal(line.attempt, i + 1, 'the line names the attempt')
    t.equal(line.n, 7)
  })
})

t.test('after close() nothing of the worker or the shadow keeps the process alive', async (t) => {
  // the fixture has its own process: tap's own timers would hide a stray one here
  const shadow = makeShadow(t)
  const fixture = fileURLToPath(new URL('../fixtures/closes-cleanly', import.meta.url))
  // `env -u NODE_OPTIONS`: see spawnChildWorker (tap's loader would take the extensionless fixture for CommonJS)
  const { stdout, stderr } = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, fixture], {
    env: { ...process.env, SHADOWS_URL: TEST_URL, SHADOW_NAME: shadow.name },
  })
  t.equal(stderr, '', 'nothing on stderr')
  t.same(JSON.parse(stdout.trim()), [], 'no timer, socket or handle is left once worker and shadow are closed')
  t.equal((await shadow.get('one'))?.state, 'completed', 'the task ran')
})

t.test('finished messages leave the stream, also those finished behind a task still running', async (t) => {
  const shadow = makeShadow(t)
  const release = gate()
  const ran: string[] = []
  const job = defineTask({
    name: 'job',
    async run(params: { hold?: boolean }, ctx) {
      if (params.hold) await release.promise
      ran.push(ctx.key)
    },
  })
  const redis = shadowContext(shadow).redis
  // the oldest message is held: the ones after it finish first and cannot be trimmed off the head
  await shadow.add(job, { key: 'head' })({ hold: true })
  await shadow.addBatch(Array.from({ length: 300 }, (_, i) => ({ task: job, key: `k${i}`, params: {} })))
  const worker = makeWorker(t, shadow, [job], { concurrency: 20 })
  void worker.run()
  await waitFor(() => ran.length === 300, 10_000, '300 tasks to finish')
  await waitFor(async () => (await redis.xlen(shadowContext(shadow).keys.stream)) === 1, 5_000, 'only the held message to stay')
  const left = (await redis.xrange(shadowContext(shadow).keys.stream, '-', '+')).map(([id]) => id)
  t.same(left, [await redis.hget(shadowContext(shadow).keys.task('head'), 'sid')], 'what is left is the running task')
  release.open()
  await waitFor(() => ran.length === 301, 5_000, 'the held task to finish')
  await waitFor(async () => (await redis.xlen(shadowContext(shadow).keys.stream)) === 0, 5_000, 'the stream to empty')
  t.equal((await shadow.get('head'))?.state, 'completed')
  // and a plain run of many tasks leaves nothing behind either
  await shadow.addBatch(Array.from({ length: 500 }, (_, i) => ({ task: job, key: `m${i}`, params: {} })))
  await waitFor(() => ran.length === 801, 10_000, '500 more tasks to finish')
  await waitFor(async () => (await redis.xlen(shadowContext(shadow).keys.stream)) === 0, 5_000, 'the stream to empty again')
  const pending = (await redis.xpending(shadowContext(shadow).keys.stream, 'workers')) as [number]
  t.equal(pending[0], 0, 'nothing pending')
})

/**
 * A task added under `key` that counts its runs, and the parts of worker `recover` running it,
 * whose outcome writes wait (as while Redis is away or slow to answer) until `release` opens.
 */
async function countedWithHeldOutcomes(t: TestLike, key: string, concurrency?: number) {
  const counter = { runs: 0 }
  const once = defineTask({
    name: 'once',
    async run() {
      counter.runs += 1
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(once, { key })({})
  const release = gate()
  const parts = workerParts(t, shadow, [once], {
    name: 'recover',
    ...(concurrency === undefined ? {} : { concurrency }),
    async write(batch, finish) {
      await release.promise
      await finish(batch)
    },
  })
  return { counter, shadow, release, parts }
}

t.test('after a reconnection, a task whose outcome is not written yet is not started again', async (t) => {
  // the outcome write waits until the checks below are done
  const { counter, shadow, release, parts } = await countedWithHeldOutcomes(t, 'once')
  await parts.readLoop.connect()
  const reading = parts.readLoop.run(false)
  await waitFor(() => counter.runs === 1, 5000, 'the task ran')
  await parts.runner.whenIdle()
  // what the worker does when its subscriber reconnects: the message is still pending and its
  // record still says running on this worker, but the task is over (a start would have run it
  // before this resolves)
  await parts.recovery.recoverOwnPending()
  t.equal(counter.runs, 1, 'the task is not run again')
  // nor when the worker reclaims its own message, idle because the task is over (as XAUTOCLAIM
  // does once Redis is back and the outcome is still waiting)
  const pending = (await adminRedis().xreadgroup('GROUP', CONSUMER_GROUP, 'recover', 'STREAMS', shadowContext(shadow).keys.stream, '0')) as [
    string,
    [string, string[]][],
  ][]
  t.equal(pending[0]?.[1].length, 1, 'its message is still pending')
  await parts.recovery.startTakenOver(pending[0]?.[1] ?? [])
  t.equal(counter.runs, 1, 'reclaimed, it is not run again either')
  release.open()
  await waitFor(async () => (await shadow.get('once'))?.state === 'completed', 5000, 'the outcome is written')
  t.equal(counter.runs, 1, 'it ran once')
  parts.slots.close()
  parts.readLoop.stop()
  parts.readLoop.disconnect()
  await reading
})

t.test('two recoveries of one message: the start that Redis ran before the first outcome does not run it again', async (t) => {
  // the outcome write waits until the second start has run
  const { counter, shadow, release, parts } = await countedWithHeldOutcomes(t, 'twice', 1)
  const { stream } = shadowContext(shadow).keys
  await adminRedis().xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  // delivered to the worker, never started: as when its start reply was lost with the connection
  const read = (await adminRedis().xreadgroup('GROUP', CONSUMER_GROUP, 'recover', 'STREAMS', stream, '>')) as [string, [string, string[]][]][]
  const entries = read[0]?.[1] ?? []
  t.equal(entries.length, 1)
  // two paths take the message up at once (the reconnection's recovery and a reclaim of the same
  // idle message): neither runs it yet, so both go on; the second waits for the one slot, which
  // the first attempt frees when it ends, before its outcome is written
  const first = parts.recovery.startTakenOver(entries)
  const second = parts.recovery.startTakenOver(entries)
  await first
  await second
  await parts.runner.whenIdle()
  t.equal(counter.runs, 1, 'the second start, answered while the outcome was on its way, does not run the task again')
  release.open()
  await waitFor(async () => (await shadow.get('twice'))?.state === 'completed', 5000, 'the outcome is written')
  t.equal(counter.runs, 1, 'it ran once')
})

/** Drops the subscriber connections of the shadow `name` (as a network drop would); they reconnect by themselves. */
async function dropSubscribers(name: string): Promise<number> {
  const clients = ((await adminRedis().client('LIST')) as string).split('\n')
  const ids = clients.filter((line) => line.includes(` name=shadows:${name} `) && / sub=[1-9]/.test(line)).map((line) => /^id=(\d+)/.exec(line)?.[1] ?? '')
  for (const id of ids) await adminRedis().client('KILL', 'ID', id)
  return ids.length
}

t.test('a cancellation missed while the subscriber was reconnecting still aborts the running task', async (t) => {
  let aborted = false
  const started = gate()
  const waits = defineTask({
    name: 'waits',
    async run(_params, ctx) {
      started.open()
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
      aborted = true
    },
  })
  const probe = defineTask({ name: 'probe', async run() {} })
  const shadow = makeShadow(t)
  await shadow.add(waits, { key: 'missed' })({})
  const worker = makeWorker(t, shadow, [waits, probe], { name: 'deaf' })
  const running = worker.run()
  await started.promise
  // cancelled as cancel.lua does it, but the push never reaches the worker
  await adminRedis()
    .multi()
    .hset(shadowContext(shadow).keys.task('missed'), 'state', 'cancelled')
    .pexpire(shadowContext(shadow).keys.task('missed'), 60_000)
    .exec()
  // the worker goes on working meanwhile: a task added after the cancel runs to its end
  await shadow.add(probe, { key: 'probe' })({})
  await waitFor(async () => (await shadow.get('probe'))?.state === 'completed', 5000, 'a later task to complete')
  t.notOk(aborted, 'without the push, nothing has told the worker yet')
  // the subscriber's connection drops and comes back
  t.equal(await dropSubscribers(shadow.name), 1, "the worker's one subscriber connection dropped")
  await waitFor(() => aborted, 5000, 'the task aborted')
  t.ok(aborted, 'the running task is aborted')
  t.equal((await shadow.get('missed'))?.state, 'cancelled', 'and stays cancelled')
  await worker.close()
  await running
})
