/**
 * Perpetual and cron tasks against the real Redis: the chain under one key, its due times, its end
 * through ctx.perpetual.cancel(), automatic scheduling at worker start-up, and cron wall-clock runs.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { Shadow, defineTask } from '../../src/index.js'
import { TEST_URL, closeAdmin, makeShadow, makeWorker, testLogger, waitFor } from '../helpers/shadow.js'

t.teardown(closeAdmin)

interface Run {
  key: string
  when: number
  attempt: number
  start: number
  end?: number
}

t.test('a perpetual task runs under the same key until ctx.perpetual.cancel()', async (t) => {
  const shadow = makeShadow(t)
  const runs: Run[] = []
  const STOP_AFTER = 4
  const tick = defineTask({
    name: 'tick',
    params: Type.Object({ label: Type.String() }),
    perpetual: { every: 50 },
    async run({ label }, ctx) {
      runs.push({ key: ctx.key, when: ctx.when.getTime(), attempt: ctx.attempt, start: Date.now() })
      t.ok(ctx.perpetual, 'ctx.perpetual is given to a perpetual task')
      if (runs.length === STOP_AFTER) ctx.perpetual?.cancel()
      return `${label} ${runs.length}`
    },
  })
  const first = await shadow.add(tick, { key: 'ticker' })({ label: 'run' })
  // runUntilFinished returns once the chain ended: nothing is left scheduled or queued
  await makeWorker(t, shadow, [tick]).runUntilFinished()

  t.equal(runs.length, STOP_AFTER, `exactly ${STOP_AFTER} runs`)
  t.same(new Set(runs.map((r) => r.key)), new Set(['ticker']), 'every run under the same key')
  t.same(
    runs.map((r) => r.attempt),
    [1, 1, 1, 1],
    'each run is attempt 1',
  )
  t.equal(runs[0]?.when, first.when.getTime(), 'the first run is due when added')
  for (let i = 1; i < runs.length; i++) {
    const previous = runs[i - 1] as Run
    const current = runs[i] as Run
    t.ok(current.when >= previous.when + 50, `run ${i + 1} due at least every ms after run ${i}`, { previous: previous.when, current: current.when })
  }
  const info = await shadow.get('ticker')
  t.equal(info?.state, 'completed', 'the record ends completed')
  t.equal(info?.result, `run ${STOP_AFTER}`, "the last run's result")
  t.equal(info?.when.getTime(), runs[STOP_AFTER - 1]?.when)
})

t.test('the next run is stored at previous when + every', async (t) => {
  const shadow = makeShadow(t)
  let ran = 0
  const hourly = defineTask({
    name: 'hourly',
    perpetual: { every: 3_600_000 },
    async run() {
      ran += 1
      return ran
    },
  })
  const first = await shadow.add(hourly, { key: 'h' })({})
  const worker = makeWorker(t, shadow, [hourly])
  const running = worker.run()
  await waitFor(async () => (await shadow.get('h'))?.state === 'scheduled', 5000, 'the next run to be scheduled')
  const info = await shadow.get('h')
  t.equal(ran, 1)
  t.equal(info?.when.getTime(), first.when.getTime() + 3_600_000, 'due exactly every ms after the previous when')
  t.equal(info?.result, 1, "the previous run's result stays visible")
  t.equal(info?.attempt, 1)
  const snapshot = await shadow.snapshot()
  t.equal(snapshot.counts.scheduled, 1, 'one scheduled task')
  await worker.close()
  await running
})

t.test('a run that outlasts every is followed at once (now, not in the past)', async (t) => {
  const shadow = makeShadow(t)
  const runs: Run[] = []
  const lengthy = defineTask({
    name: 'lengthy',
    perpetual: { every: 20 },
    async run(_params, ctx) {
      const run: Run = { key: ctx.key, when: ctx.when.getTime(), attempt: ctx.attempt, start: Date.now() }
      runs.push(run)
      if (runs.length === 1) await new Promise((resolve) => setTimeout(resolve, 150))
      if (runs.length === 2) ctx.perpetual?.cancel()
      run.end = Date.now()
    },
  })
  await shadow.add(lengthy)({})
  await makeWorker(t, shadow, [lengthy]).runUntilFinished()
  t.equal(runs.length, 2)
  const [one, two] = runs as [Run, Run]
  t.ok(two.when > one.when + 20, 'the second run is not due at the (past) when + every', { one: one.when, two: two.when })
  t.ok(two.when >= (one.end ?? Infinity), 'it is due when the first run ended', { end: one.end, two: two.when })
})

t.test('a failing run does not end the chain', async (t) => {
  const shadow = makeShadow(t)
  const runs: number[] = []
  const shaky = defineTask({
    name: 'shaky',
    perpetual: { every: 30 },
    async run(_params, ctx) {
      runs.push(ctx.when.getTime())
      if (runs.length < 3) throw new Error(`run ${runs.length} failed`)
      ctx.perpetual?.cancel()
      return 'recovered'
    },
  })
  const { key } = await shadow.add(shaky)({})
  await makeWorker(t, shadow, [shaky]).runUntilFinished()
  t.equal(runs.length, 3, 'runs after failures')
  t.ok((runs[1] ?? 0) >= (runs[0] ?? Infinity) + 30 && (runs[2] ?? 0) >= (runs[1] ?? Infinity) + 30, 'failed runs are followed every ms later')
  const info = await shadow.get(key)
  t.equal(info?.state, 'completed')
  t.equal(info?.result, 'recovered')
})

t.test('automatic: two workers starting at once create one chain under key = task name', async (t) => {
  const shadow = makeShadow(t)
  const other = new Shadow({ name: shadow.name, url: TEST_URL, logger: testLogger })
  t.teardown(() => other.close())
  const whens: number[] = []
  const names: string[] = []
  const auto = defineTask({
    name: 'auto-tick',
    perpetual: { every: 40, automatic: true },
    async run(_params, ctx) {
      whens.push(ctx.when.getTime())
      names.push(ctx.key)
    },
  })
  const w1 = makeWorker(t, shadow, [auto], { name: 'w1' })
  const w2 = makeWorker(t, other, [auto], { name: 'w2' })
  const runs = [w1.run(), w2.run()]
  await waitFor(() => whens.length >= 6, 10_000, 'six runs')
  await Promise.all([w1.close(), w2.close()])
  await Promise.all(runs)

  t.same(new Set(names), new Set(['auto-tick']), 'the key is the task name')
  t.equal(new Set(whens).size, whens.length, 'no two runs share a due time: one chain')
  const sorted = [...whens].sort((a, b) => a - b)
  for (let i = 1; i < sorted.length; i++) {
    t.ok((sorted[i] ?? 0) >= (sorted[i - 1] ?? Infinity) + 40, `run ${i + 1} comes every ms after run ${i}`)
  }
  const info = await shadow.get('auto-tick')
  t.ok(info && ['scheduled', 'queued', 'running'].includes(info.state), 'the chain lives on after the workers stopped', { state: info?.state })
})

t.test('automatic: an existing chain is not scheduled again; a struck task is not scheduled', async (t) => {
  const shadow = makeShadow(t)
  const calls: string[] = []
  const existing = defineTask({
    name: 'existing',
    perpetual: { every: 1000, automatic: true },
    async run() {
      calls.push('existing')
    },
  })
  const struck = defineTask({
    name: 'struck-auto',
    perpetual: { every: 50, automatic: true },
    async run() {
      calls.push('struck-auto')
    },
  })
  const struckCron = defineTask({
    name: 'struck-cron',
    cron: { expression: '* * * * * *' },
    async run() {
      calls.push('struck-cron')
    },
  })
  const marker = defineTask({
    name: 'marker',
    perpetual: { every: 60_000, automatic: true },
    async run(_params, ctx) {
      calls.push('marker')
      ctx.perpetual?.cancel()
    },
  })
  const later = await shadow.add(existing, { key: 'existing', delay: 3_600_000 })({})
  await shadow.strike({ task: 'struck-auto' })
  await shadow.strike({ task: 'struck-cron' })
  // tasks are scheduled at start-up in registration order: once marker ran, the others were handled
  const worker = makeWorker(t, shadow, [existing, struck, struckCron, marker])
  const running = worker.run()
  await waitFor(async () => (await shadow.get('marker'))?.state === 'completed', 5000, 'the marker task to run')
  await worker.close()
  await running

  t.same(calls, ['marker'], 'neither the existing nor the struck task ran')
  const info = await shadow.get('existing')
  t.equal(info?.state, 'scheduled')
  t.equal(info?.when.getTime(), later.when.getTime(), 'the existing chain keeps its due time')
  t.equal(await shadow.get('struck-auto'), undefined, 'no record for the struck automatic task')
  t.equal(await shadow.get('struck-cron'), undefined, 'no record for the struck cron task')
  t.equal((await shadow.snapshot()).counts.scheduled, 1, 'only the existing chain is scheduled')
})

t.test('a perpetual chain struck after it was scheduled is not run while the strike stands', async (t) => {
  const shadow = makeShadow(t)
  let calls = 0
  const chained = defineTask({
    name: 'chained',
    perpetual: { every: 40 },
    async run() {
      calls += 1
    },
  })
  const { key } = await shadow.add(chained, { delay: 100 })({})
  await shadow.strike({ task: 'chained' })
  const worker = makeWorker(t, shadow, [chained])
  const running = worker.run()
  await waitFor(async () => (await shadow.get(key))?.error?.type === 'StruckError', 5000, 'the struck run to be skipped')
  await worker.close()
  await running
  t.equal(calls, 0, 'the task function was never called')
})

t.test('cron: a task every second runs at whole seconds', async (t) => {
  const shadow = makeShadow(t)
  const whens: number[] = []
  const keys: string[] = []
  const everySecond = defineTask({
    name: 'every-second',
    cron: { expression: '*/1 * * * * *' },
    async run(_params, ctx) {
      whens.push(ctx.when.getTime())
      keys.push(ctx.key)
      t.ok(ctx.perpetual, 'ctx.perpetual is given to a cron task')
      if (whens.length === 2) ctx.perpetual?.cancel()
    },
  })
  const worker = makeWorker(t, shadow, [everySecond])
  const running = worker.run()
  await waitFor(async () => (await shadow.get('every-second'))?.state === 'completed', 8000, 'two cron runs and the end of the chain')
  await worker.close()
  await running

  t.equal(whens.length, 2, 'ran twice, then the chain ended')
  t.same(
    whens.map((w) => w % 1000),
    [0, 0],
    'each run is due at a whole second',
  )
  t.ok((whens[1] ?? 0) - (whens[0] ?? 0) >= 1000, 'consecutive runs are due at distinct seconds', { whens })
  t.equal((whens[1] ?? 0) % 1000, 0)
  t.same(new Set(keys), new Set(['every-second']), 'a cron task is automatic: key = task name')
})

t.test('cron: the chain runs on at least twice while the worker lives', async (t) => {
  const shadow = makeShadow(t)
  const whens: number[] = []
  const cron = defineTask({
    name: 'cron-forever',
    cron: { expression: '* * * * * *', tz: 'Europe/Paris' },
    async run(_params, ctx) {
      whens.push(ctx.when.getTime())
    },
  })
  const worker = makeWorker(t, shadow, [cron])
  const running = worker.run()
  await waitFor(() => whens.length >= 2, 8000, 'two cron runs')
  await worker.close()
  await running
  t.ok(whens.length >= 2)
  t.ok(
    whens.every((w) => w % 1000 === 0),
    'whole seconds',
    { whens },
  )
  t.equal(new Set(whens).size, whens.length, 'no second ran twice')
  const info = await shadow.get('cron-forever')
  t.ok(info && (info.state === 'scheduled' || info.state === 'queued'), 'the next run is waiting', { state: info?.state })
  t.equal((info?.when.getTime() ?? 1) % 1000, 0, 'stored due time at a whole second')
})
