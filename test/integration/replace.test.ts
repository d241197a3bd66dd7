/**
 * shadow.replace: atomic swap of a scheduled, queued or running task (the old version never runs,
 * a running one is aborted), creation when absent, validation.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, type ReplaceOptions } from '../../src/index.js'
import { closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { abortedOr, assertNoKeys, gate, rejectsWith, runInBackground, scheduled, streamLength } from '../helpers/engine-state.js'

t.teardown(closeAdmin)

/** A task `job` with params { v } that records each run's params and returns `v`. */
function recorder() {
  const runs: number[] = []
  const task = defineTask({
    name: 'job',
    params: Type.Object({ v: Type.Number() }),
    async run({ v }) {
      runs.push(v)
      return v
    },
  })
  return { task, runs }
}

t.test('replace creates the task when the key is absent (replaced: false)', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  const before = Date.now()
  const created = await shadow.replace(task, { key: 'fresh' })({ v: 1 })
  t.same({ ...created, when: undefined }, { key: 'fresh', task: 'job', when: undefined, state: 'queued', replaced: false })
  t.ok(created.when.getTime() >= before, 'when is now')
  const later = await shadow.replace(task, { key: 'fresh-later', delay: 60_000 })({ v: 2 })
  t.equal(later.state, 'scheduled')
  t.equal(later.replaced, false)
  t.ok(later.when.getTime() >= before + 60_000)
  t.equal((await shadow.get('fresh-later'))?.state, 'scheduled')
  await shadow.cancel('fresh-later')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [1])
})

t.test('replacing a scheduled task: the old version never runs', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  const old = await shadow.add(task, { key: 'k', delay: 60_000 })({ v: 1 })
  t.equal(old.state, 'scheduled')
  const replacement = await shadow.replace(task, { key: 'k' })({ v: 2 })
  t.equal(replacement.replaced, true)
  t.equal(replacement.state, 'queued')
  t.same(await scheduled(shadow), {}, 'the old version left the schedule')
  t.equal(await streamLength(shadow), 1)
  const info = await shadow.get('k')
  t.same(info?.params, { v: 2 })
  t.equal(info?.state, 'queued')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [2], 'only the new version ran')
  t.equal((await shadow.get('k'))?.result, 2)
})

t.test('replacing a scheduled task with another scheduled time moves it', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'move', delay: 60_000 })({ v: 1 })
  const at = new Date(Date.now() + 120_000)
  const moved = await shadow.replace(task, { key: 'move', when: at })({ v: 2 })
  t.equal(moved.replaced, true)
  t.equal(moved.state, 'scheduled')
  t.equal(moved.when.getTime(), at.getTime())
  t.same(await scheduled(shadow), { move: at.getTime() }, 'one schedule entry, at the new time')
  const info = await shadow.get('move')
  t.same(info?.params, { v: 2 })
  t.equal(info?.when.getTime(), at.getTime())
})

t.test('replacing a queued task already on the stream: the old version never runs', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'q' })({ v: 1 })
  t.equal(await streamLength(shadow), 1)
  const replacement = await shadow.replace(task, { key: 'q' })({ v: 2 })
  t.equal(replacement.replaced, true)
  t.equal(replacement.state, 'queued')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [2], 'only the new version ran')
  const info = await shadow.get('q')
  t.equal(info?.state, 'completed')
  t.same(info?.params, { v: 2 })
})

t.test('replacing a queued task by a scheduled one takes it off the stream', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'q2' })({ v: 1 })
  const replacement = await shadow.replace(task, { key: 'q2', delay: 300 })({ v: 2 })
  t.equal(replacement.replaced, true)
  t.equal(replacement.state, 'scheduled')
  t.equal((await shadow.get('q2'))?.state, 'scheduled')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [2], 'the queued old version did not run; the new one ran when due')
})

t.test('five rapid replaces run once, with the last params', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'rapid', delay: 60_000 })({ v: 0 })
  const replies = []
  for (let v = 1; v <= 5; v++) replies.push(await shadow.replace(task, { key: 'rapid' })({ v }))
  t.same(
    replies.map((r) => r.replaced),
    [true, true, true, true, true],
  )
  t.equal(await streamLength(shadow), 1, 'one entry on the stream')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [5])
  t.equal((await shadow.get('rapid'))?.result, 5)
})

t.test('five concurrent replaces run once, with the params the record ends with', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  const replies = await Promise.all([1, 2, 3, 4, 5].map((v) => shadow.replace(task, { key: 'burst' })({ v })))
  t.equal(replies.filter((r) => !r.replaced).length, 1, 'exactly one of them created the task')
  const stored = (await shadow.get('burst'))?.params
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.equal(runs.length, 1, 'ran once')
  t.same({ v: runs[0] }, stored)
})

t.test('replacing a running task aborts its signal and runs the new version', async (t) => {
  const started: number[] = []
  const outcomes: string[] = []
  const release = gate(t)
  const long = defineTask({
    name: 'long',
    params: Type.Object({ v: Type.Number() }),
    async run({ v }, ctx) {
      started.push(v)
      if (v === 1) {
        const how = await abortedOr(ctx.signal, release.promise)
        outcomes.push(`v1 ${how}`)
        if (how === 'aborted') throw ctx.signal.reason
      }
      return v
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(long, { key: 'live' })({ v: 1 })
  const worker = makeWorker(t, shadow, [long], { concurrency: 4 })
  const stop = runInBackground(worker)
  await waitFor(() => started.includes(1), 5000, 'v1 to start')
  t.equal((await shadow.get('live'))?.state, 'running')
  const replacement = await shadow.replace(long, { key: 'live' })({ v: 2 })
  t.equal(replacement.replaced, true)
  t.equal(replacement.state, 'queued')
  await waitFor(async () => (await shadow.get('live'))?.state === 'completed', 5000, 'v2 to complete')
  await waitFor(() => outcomes.length > 0, 5000, 'v1 to end')
  await stop()
  t.same(outcomes, ['v1 aborted'], 'the running attempt saw its signal fire')
  t.same(started, [1, 2])
  const info = await shadow.get('live')
  t.equal(info?.state, 'completed')
  t.same(info?.params, { v: 2 })
  t.equal(info?.result, 2)
  t.notOk(info?.error, 'the aborted old attempt left no error on the new record')
})

t.test('replacing a completed task creates a fresh one (replaced: false)', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [task])
  await shadow.add(task, { key: 'done' })({ v: 1 })
  await worker.runUntilFinished()
  const again = await shadow.replace(task, { key: 'done' })({ v: 2 })
  t.equal(again.replaced, false)
  t.equal(again.state, 'queued')
  const info = await shadow.get('done')
  t.equal(info?.state, 'queued')
  t.notOk(info && 'result' in info, 'nothing of the old run is left')
  await worker.runUntilFinished()
  t.same(runs, [1, 2])
})

t.test('a rejected replace leaves the existing task untouched and writes nothing', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  await rejectsWith(t, () => shadow.replace(task, {} as ReplaceOptions)({ v: 1 }), 'SHADOWS_ERR_VALIDATION', 'no key')
  await rejectsWith(t, () => shadow.replace(task, { key: 'bad key' })({ v: 1 }), 'SHADOWS_ERR_VALIDATION', 'bad key')
  await rejectsWith(t, () => shadow.replace(task, { key: 'k', when: new Date(), delay: 1 })({ v: 1 }), 'SHADOWS_ERR_VALIDATION', 'when and delay')
  await rejectsWith(t, () => shadow.replace(task, { key: 'k', delay: -5 })({ v: 1 }), 'SHADOWS_ERR_VALIDATION', 'negative delay')
  await rejectsWith(t, () => shadow.replace(task, { key: 'k', when: '2026-11-28T10:00:00' })({ v: 1 }), 'SHADOWS_ERR_VALIDATION', 'naive when')
  await assertNoKeys(t, shadow)

  await shadow.add(task, { key: 'k' })({ v: 1 })
  const err = await rejectsWith(t, () => shadow.replace(task, { key: 'k' })({ v: 'two' } as never), 'SHADOWS_ERR_INVALID_PARAMS', 'bad params')
  t.match(err?.message ?? '', 'params.v')
  const registered = makeShadow(t, { tasks: [task] })
  await rejectsWith(t, () => registered.replace('nope', { key: 'k' })({}), 'SHADOWS_ERR_UNKNOWN_TASK', 'unknown task')
  await assertNoKeys(t, registered)
  const info = await shadow.get('k')
  t.equal(info?.state, 'queued')
  t.same(info?.params, { v: 1 })
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [1], 'the original ran')
})
