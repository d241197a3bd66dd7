/**
 * worker.runAtMost({ taskName: n }): runs until each named task ended n runs on the worker, never
 * starting more, then closes the worker; for tests of perpetual tasks, whose chains never end.
 */
import t from 'tap'
import { defineTask, isShadowsError, type AnyTask } from '../../src/index.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'

t.teardown(closeAdmin)

/** A perpetual task that runs every 5 ms and counts its runs in `runs`. */
function ticker(name: string, runs: Map<string, number>, options: { fail?: boolean } = {}): AnyTask {
  return defineTask({
    name,
    perpetual: { every: 5 },
    run() {
      runs.set(name, (runs.get(name) ?? 0) + 1)
      if (options.fail) throw new Error('a failed run is a run all the same')
      return runs.get(name)
    },
  })
}

t.test('runAtMost runs a perpetual task n times, then closes the worker', async (t) => {
  const shadow = makeShadow(t)
  const runs = new Map<string, number>()
  const tick = ticker('tick', runs)
  await shadow.add(tick, { key: 'tick' })({})
  const worker = makeWorker(t, shadow, [tick])
  await worker.runAtMost({ tick: 3 })
  t.equal(runs.get('tick'), 3, 'three runs')
  const info = await shadow.get('tick')
  t.equal(info?.result, 3, "the third run's result is recorded")
  t.ok(info && ['scheduled', 'queued'].includes(info.state), `the chain goes on (${info?.state})`)
  await t.rejects(worker.run(), { code: 'SHADOWS_ERR_CLOSED' }, 'the worker is closed')
})

t.test('runAtMost with two tasks: each runs its own number of times, failed runs counted', async (t) => {
  const shadow = makeShadow(t)
  const runs = new Map<string, number>()
  const fast = ticker('fast', runs)
  const flaky = ticker('flaky', runs, { fail: true })
  await shadow.add(fast, { key: 'fast' })({})
  await shadow.add(flaky, { key: 'flaky' })({})
  await makeWorker(t, shadow, [fast, flaky]).runAtMost({ fast: 2, flaky: 4 })
  t.same(Object.fromEntries(runs), { fast: 2, flaky: 4 }, 'no more runs than asked, though fast was done first')
  t.match(await shadow.get('flaky'), { error: { message: 'a failed run is a run all the same' } })
  const fastInfo = await shadow.get('fast')
  t.ok(fastInfo && ['scheduled', 'queued'].includes(fastInfo.state), `fast's next run waits (${fastInfo?.state}), not dropped`)
})

t.test('runAtMost starts no more runs than asked, though more are queued and slots are free; the rest go back on the queue', async (t) => {
  const shadow = makeShadow(t)
  const ran: string[] = []
  const job = defineTask({
    name: 'job',
    run(_params, ctx) {
      ran.push(ctx.key)
    },
  })
  for (const key of ['a', 'b', 'c', 'd', 'e']) await shadow.add(job, { key })({})
  await makeWorker(t, shadow, [job], { concurrency: 10 }).runAtMost({ job: 2 })
  t.equal(ran.length, 2, 'two runs')
  const snapshot = await shadow.snapshot()
  t.equal(snapshot.counts.queued, 3, 'the other three are queued again, for any worker')
  t.equal(snapshot.counts.running, 0)
  await makeWorker(t, shadow, [job]).runUntilFinished()
  t.same([...ran].sort(), ['a', 'b', 'c', 'd', 'e'], 'and run later, each once')
})

t.test('a run that does not end (cancelled) leaves room: a task held past the limit starts', async (t) => {
  const shadow = makeShadow(t)
  const ran: string[] = []
  const job = defineTask({
    name: 'job',
    async run(_params, ctx) {
      ran.push(ctx.key)
      // the first run waits until it is cancelled; a cancelled run is not one of the runs counted
      if (ran.length === 1) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
    },
  })
  for (const key of ['first', 'second']) await shadow.add(job, { key })({})
  const worker = makeWorker(t, shadow, [job], { concurrency: 10 })
  const running = worker.runAtMost({ job: 1 })
  await waitFor(() => ran.length === 1, 10_000, 'the first run started')
  t.equal((await shadow.cancel('first')).state, 'cancelled')
  const ended = await Promise.race([running.then(() => 'ended'), sleep(10_000).then(() => 'still waiting after 10 s')])
  t.equal(ended, 'ended', 'runAtMost ended its one run')
  t.same(ran, ['first', 'second'], 'the task held back while the first ran started once that run was cancelled')
  t.equal((await shadow.get('second'))?.state, 'completed')
})

t.test('runAtMost refuses what it cannot count', async (t) => {
  const shadow = makeShadow(t)
  const runs = new Map<string, number>()
  const worker = makeWorker(t, shadow, [ticker('tick', runs)])
  for (const [what, runsOf] of [
    ['no task', {}],
    ['a task the worker does not run', { other: 1 }],
    ['zero runs', { tick: 0 }],
    ['a fraction', { tick: 1.5 }],
  ] as const) {
    const err = await worker.runAtMost(runsOf).then(
      () => undefined,
      (e: unknown) => e,
    )
    t.ok(isShadowsError(err, 'SHADOWS_ERR_VALIDATION'), `${what}: SHADOWS_ERR_VALIDATION`)
  }
  t.equal(runs.size, 0, 'nothing ran')
})
