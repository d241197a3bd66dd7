/**
 * shadow.cancel: scheduled and queued tasks never run, a running one has its signal aborted and
 * ends cancelled; repeat cancels are fine; finished tasks and unknown keys are refused.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, DEFAULT_EXECUTION_TTL } from '../../src/index.js'
import { closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { abortedOr, gate, recordTtl, rejectsWith, runInBackground, scheduled, streamLength } from '../helpers/engine-state.js'

t.teardown(closeAdmin)

/** A task `job` that records each run's `v`. */
function recorder(run?: (v: number) => unknown) {
  const runs: number[] = []
  const task = defineTask({
    name: 'job',
    params: Type.Object({ v: Type.Number() }),
    async run({ v }) {
      runs.push(v)
      return run?.(v)
    },
  })
  return { task, runs }
}

t.test('cancelling a scheduled task: it never runs', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'sched', delay: 200 })({ v: 1 })
  await shadow.add(task, { key: 'other' })({ v: 2 })
  const before = Date.now()
  const cancellation = await shadow.cancel('sched')
  t.has(cancellation, { key: 'sched', state: 'cancelled', previous: 'scheduled' })
  t.same(await scheduled(shadow), {}, 'off the schedule')
  const info = await shadow.get('sched')
  t.equal(info?.state, 'cancelled')
  t.ok(info?.finishedAt && info.finishedAt.getTime() >= before, 'finishedAt is set')
  const ttl = await recordTtl(shadow, 'sched')
  t.ok(ttl > 0 && ttl <= DEFAULT_EXECUTION_TTL, `the record expires (pttl ${ttl})`)
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [2], 'the cancelled task did not run; the other one did')
  t.equal((await shadow.get('sched'))?.state, 'cancelled')
})

t.test('cancelling a queued task: it never runs', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'q' })({ v: 1 })
  await shadow.add(task, { key: 'q-other' })({ v: 2 })
  t.equal(await streamLength(shadow), 2)
  const cancellation = await shadow.cancel('q')
  t.has(cancellation, { key: 'q', state: 'cancelled', previous: 'queued' })
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [2], 'the cancelled task did not run')
  t.equal((await shadow.get('q'))?.state, 'cancelled')
  t.equal((await shadow.get('q-other'))?.state, 'completed')
})

t.test('cancelling a running task aborts its signal and it ends cancelled', async (t) => {
  const release = gate(t)
  const seen: string[] = []
  let started = 0
  const long = defineTask({
    name: 'long',
    params: Type.Object({}),
    async run(_params, ctx) {
      started += 1
      const how = await abortedOr(ctx.signal, release.promise)
      seen.push(how)
      if (how === 'aborted') throw ctx.signal.reason
      return 'finished anyway'
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(long, { key: 'run' })({})
  const worker = makeWorker(t, shadow, [long])
  const stop = runInBackground(worker)
  await waitFor(() => started === 1, 5000, 'the task to start')
  t.equal((await shadow.get('run'))?.state, 'running')
  const cancellation = await shadow.cancel('run')
  t.has(cancellation, { key: 'run', state: 'cancelled', previous: 'running' })
  await waitFor(() => seen.length === 1, 5000, 'the task to notice the cancellation')
  t.same(seen, ['aborted'], 'ctx.signal fired')
  await waitFor(async () => worker.running === 0, 5000, 'the worker slot to be freed')
  await stop()
  const info = await shadow.get('run')
  t.equal(info?.state, 'cancelled', 'the record ends cancelled')
  t.ok(info?.finishedAt, 'finishedAt is set')
  const ttl = await recordTtl(shadow, 'run')
  t.ok(ttl > 0 && ttl <= DEFAULT_EXECUTION_TTL, `the record expires (pttl ${ttl})`)
  t.equal(started, 1, 'it was not run again')
  t.equal(await streamLength(shadow), 0, 'its stream entry is gone')
})

t.test('a running task cancelled on one worker is not picked up by another afterwards', async (t) => {
  const release = gate(t)
  let started = 0
  const long = defineTask({
    name: 'long',
    async run(_params, ctx) {
      started += 1
      await abortedOr(ctx.signal, release.promise)
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(long, { key: 'x' })({})
  const first = makeWorker(t, shadow, [long], { name: 'first' })
  const stopFirst = runInBackground(first)
  await waitFor(() => started === 1, 5000, 'the task to start')
  await shadow.cancel('x')
  await waitFor(async () => first.running === 0, 5000, 'the first worker to drop it')
  await stopFirst()
  const second = makeWorker(t, shadow, [long], { name: 'second', redeliveryTimeout: 50 })
  await second.runUntilFinished()
  t.equal(started, 1)
  t.equal((await shadow.get('x'))?.state, 'cancelled')
})

t.test('cancelling twice answers cancelled both times', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'twice', delay: 60_000 })({ v: 1 })
  t.has(await shadow.cancel('twice'), { key: 'twice', state: 'cancelled', previous: 'scheduled' })
  const again = await shadow.cancel('twice')
  t.equal(again.key, 'twice')
  t.equal(again.state, 'cancelled')
  t.equal(again.previous, 'cancelled')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [])
})

t.test('a cancelled key can be added again and then runs', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'reuse', delay: 60_000 })({ v: 1 })
  await shadow.cancel('reuse')
  const again = await shadow.add(task, { key: 'reuse' })({ v: 2 })
  t.equal(again.duplicate, false)
  t.equal(again.state, 'queued')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [2])
  t.equal((await shadow.get('reuse'))?.state, 'completed')
})

t.test('cancelling a completed, failed or struck task: SHADOWS_ERR_ALREADY_FINISHED', async (t) => {
  const ok = defineTask({
    name: 'ok',
    async run() {
      return 1
    },
  })
  const bad = defineTask({
    name: 'bad',
    async run() {
      throw new Error('boom')
    },
  })
  let struckRan = false
  const skipped = defineTask({
    name: 'skipped',
    async run() {
      struckRan = true
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(ok, { key: 'completed' })({})
  await shadow.add(bad, { key: 'failed' })({})
  await shadow.add(skipped, { key: 'struck' })({})
  await shadow.strike({ task: 'skipped' })
  const worker = makeWorker(t, shadow, [ok, bad, skipped])
  await worker.runUntilFinished()
  t.equal(struckRan, false, 'the struck task did not run')
  for (const key of ['completed', 'failed', 'struck']) {
    t.equal((await shadow.get(key))?.state, key)
    const err = await rejectsWith(t, () => shadow.cancel(key), 'SHADOWS_ERR_ALREADY_FINISHED', `cancel ${key}`)
    t.ok(err, `cancel ${key} refused`)
    t.equal((await shadow.get(key))?.state, key, `${key} stays ${key}`)
  }
})

t.test('cancelling an unknown key: SHADOWS_ERR_NOT_FOUND; a malformed key: SHADOWS_ERR_VALIDATION', async (t) => {
  const shadow = makeShadow(t)
  await rejectsWith(t, () => shadow.cancel('never-added'), 'SHADOWS_ERR_NOT_FOUND', 'unknown key')
  await rejectsWith(t, () => shadow.cancel('bad key'), 'SHADOWS_ERR_VALIDATION', 'malformed key')
  t.same(await shadow.get('never-added'), undefined, 'nothing was created')
})

t.test('with executionTtl 0, a cancelled task leaves no record', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t, { executionTtl: 0 })
  await shadow.add(task, { key: 'gone', delay: 60_000 })({ v: 1 })
  t.has(await shadow.cancel('gone'), { key: 'gone', state: 'cancelled', previous: 'scheduled' })
  t.equal(await shadow.get('gone'), undefined)
  t.equal(await recordTtl(shadow, 'gone'), -2, 'no record key')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [])
})
