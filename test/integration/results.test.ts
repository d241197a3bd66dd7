/**
 * shadow.result and shadow.get(key, { wait }) against the real Redis: a completed task's result,
 * at once or when it finishes; the other ends as SHADOWS_ERR_TASK_FAILED; timeouts, unknown keys;
 * many waiters on one subscription; woken by a push, not by polling; close() ends the waits.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, isShadowsError, type Shadow } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { gate, rejectsWith, runInBackground } from '../helpers/engine-state.js'
import { connectionsOf, countCommands, jobTask } from '../helpers/history.js'

t.teardown(closeAdmin)

/** A task `gated` that returns `{ v }` once the gate opens (or throws when `fail`). */
function gatedTask(release: { promise: Promise<void> }) {
  return defineTask({
    name: 'gated',
    params: Type.Object({ v: Type.Number(), fail: Type.Optional(Type.Boolean()) }),
    async run({ v, fail }) {
      await release.promise
      if (fail) throw new RangeError(`bad ${v}`)
      return { v }
    },
  })
}

/** Subscribers of the shadow's finished channel. */
async function finishedSubscribers(shadow: Shadow): Promise<number> {
  const channel = shadowContext(shadow).keys.finished
  const [, count] = (await adminRedis().call('PUBSUB', 'NUMSUB', channel)) as [string, number]
  return Number(count)
}

t.test('result of a completed task: at once when it already is, else when it finishes', async (t) => {
  const release = gate(t)
  const { task: job } = jobTask()
  const gated = gatedTask(release)
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'done' })({ v: 1 })
  await makeWorker(t, shadow, [job]).runUntilFinished()
  t.same(await shadow.result('done'), { v: 1 }, 'already completed')
  t.same(await shadow.result('done', { timeout: 0 }), { v: 1 }, 'timeout 0: at once')

  await shadow.add(gated, { key: 'later' })({ v: 2 })
  const pending = shadow.result('later')
  const bounded = shadow.result('later', { timeout: 60_000 })
  const record = shadow.get('later', { wait: 60_000 })
  const stop = runInBackground(makeWorker(t, shadow, [gated]))
  await waitFor(async () => (await shadow.get('later'))?.state === 'running', 10_000, 'later running')
  release.open()
  t.same(await pending, { v: 2 }, 'resolved when it finished')
  t.same(await bounded, { v: 2 }, 'within its timeout')
  t.has(await record, { key: 'later', state: 'completed', result: { v: 2 } }, 'get with wait: the finished record')
  await stop()
})

t.test('failed, cancelled and struck tasks reject with SHADOWS_ERR_TASK_FAILED', async (t) => {
  const release = gate(t)
  const gated = gatedTask(release)
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(gated, { key: 'fails' })({ v: 1, fail: true })
  await shadow.add(job, { key: 'cancelled', delay: 3_600_000 })({ v: 1 })
  await shadow.add(job, { key: 'struck' })({ v: 66 })
  const waits = ['fails', 'cancelled', 'struck'].map((key) =>
    shadow.result(key).then(
      () => undefined,
      (err: unknown) => err,
    ),
  )
  await shadow.cancel('cancelled')
  await shadow.strike({ task: 'job', parameter: 'v', value: 66 })
  const stop = runInBackground(makeWorker(t, shadow, [gated, job]))
  release.open()
  const [failed, cancelled, struck] = await Promise.all(waits)
  for (const [err, state] of [
    [failed, 'failed'],
    [cancelled, 'cancelled'],
    [struck, 'struck'],
  ] as const) {
    t.ok(isShadowsError(err, 'SHADOWS_ERR_TASK_FAILED'), `${state}: SHADOWS_ERR_TASK_FAILED`)
    t.equal(isShadowsError(err) ? err.details?.state : undefined, state, `${state}: details.state`)
  }
  t.same(isShadowsError(failed) ? failed.details?.error : undefined, { type: 'RangeError', message: 'bad 1' }, 'failed: details.error')
  t.has(isShadowsError(struck) ? struck.details?.error : undefined, { type: 'StruckError' }, 'struck: details.error')
  // and once finished, at once
  const again = await rejectsWith(t, () => shadow.result('fails'), 'SHADOWS_ERR_TASK_FAILED', 'already failed')
  t.has(isShadowsError(again) ? again.details : undefined, { key: 'fails', state: 'failed', error: { type: 'RangeError', message: 'bad 1' } })
  await stop()
})

t.test('timeouts, unknown keys, bad options', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'waits', delay: 3_600_000 })({ v: 1 })
  const timedOut = await rejectsWith(t, () => shadow.result('waits', { timeout: 50 }), 'SHADOWS_ERR_WAIT_TIMEOUT', 'timeout')
  t.has(isShadowsError(timedOut) ? timedOut.details : undefined, { key: 'waits', state: 'scheduled', timeout: 50 }, 'the details say where it is')
  await rejectsWith(t, () => shadow.result('waits', { timeout: 0 }), 'SHADOWS_ERR_WAIT_TIMEOUT', 'timeout 0 on a live task')
  t.has(await shadow.get('waits', { wait: 50 }), { key: 'waits', state: 'scheduled' }, 'get with wait: the record as it is when the wait ends')
  await rejectsWith(t, () => shadow.result('nobody'), 'SHADOWS_ERR_NOT_FOUND', 'unknown key')
  await rejectsWith(t, () => shadow.result('nobody', { timeout: 10 }), 'SHADOWS_ERR_NOT_FOUND', 'unknown key with a timeout')
  t.equal(await shadow.get('nobody', { wait: 1000 }), undefined, 'get with wait: unknown answers at once')
  await rejectsWith(t, () => shadow.result('bad key'), 'SHADOWS_ERR_VALIDATION', 'invalid key')
  for (const timeout of [-1, 1.5, Number.NaN, 2 ** 31, '10'] as unknown[]) {
    await rejectsWith(t, () => shadow.result('waits', { timeout: timeout as number }), 'SHADOWS_ERR_VALIDATION', `timeout ${String(timeout)}`)
    await rejectsWith(t, () => shadow.get('waits', { wait: timeout as number }), 'SHADOWS_ERR_VALIDATION', `wait ${String(timeout)}`)
  }
  t.equal(await finishedSubscribers(shadow), 0, 'nobody waits: no subscription left')
})

t.test('a record that goes while waited for: not found', async (t) => {
  const release = gate(t)
  const gated = gatedTask(release)
  const shadow = makeShadow(t, { executionTtl: 0 })
  await shadow.add(gated, { key: 'fleeting' })({ v: 1 })
  const waiting = shadow.result('fleeting')
  const stop = runInBackground(makeWorker(t, shadow, [gated]))
  release.open()
  await rejectsWith(t, () => waiting, 'SHADOWS_ERR_NOT_FOUND', 'executionTtl 0: nothing to read the result from')
  await stop()
})

t.test('200 waiters share one subscription, woken by one push', async (t) => {
  const release = gate(t)
  const gated = gatedTask(release)
  const shadow = makeShadow(t)
  const keys = Array.from({ length: 20 }, (_, i) => `w${i}`)
  for (const [i, key] of keys.entries()) await shadow.add(gated, { key })({ v: i })
  const baseline = await connectionsOf(shadow)
  // ten waiters per task, half of them with a (long) timeout
  const waits = Array.from({ length: 200 }, (_, i) => shadow.result(keys[i % 20] as string, i % 2 ? { timeout: 600_000 } : {}))
  await waitFor(async () => (await finishedSubscribers(shadow)) === 1, 10_000, 'the subscription')
  t.equal(await finishedSubscribers(shadow), 1, 'one subscriber on the finished channel')
  t.equal(await connectionsOf(shadow), baseline + 1, 'one connection more, not one per waiter')
  const stop = runInBackground(makeWorker(t, shadow, [gated], { concurrency: 20 }))
  await waitFor(async () => (await shadow.snapshot()).counts.running === 20, 10_000, 'every task running')
  const counter = countCommands(shadow)
  release.open()
  const results = await Promise.all(waits)
  counter.stop()
  t.same(
    results,
    Array.from({ length: 200 }, (_, i) => ({ v: i % 20 })),
    'every waiter has its result',
  )
  // one read per task woken (one or two pushes per task), never one per waiter
  const reads = counter.counts.get('hgetall') ?? 0
  t.ok(reads <= 2 * keys.length, `${reads} record reads for 200 waiters on 20 tasks`)
  await waitFor(async () => (await finishedSubscribers(shadow)) === 0, 10_000, 'the subscription to go')
  t.pass('the subscription went when nobody waited')
  await stop()
})

t.test('a long wait is not polled', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'later', delay: 3_600_000 })({ v: 1 })
  const counter = countCommands(shadow)
  await rejectsWith(t, () => shadow.result('later', { timeout: 1500 }), 'SHADOWS_ERR_WAIT_TIMEOUT', 'the wait ended')
  counter.stop()
  // read once at first, once subscribed, once when the time is up
  const reads = counter.counts.get('hgetall') ?? 0
  t.ok(reads <= 3, `${reads} reads of the record during the wait (${JSON.stringify(Object.fromEntries(counter.counts))})`)
})

t.test('close() ends the pending waits with SHADOWS_ERR_CLOSED', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'never', delay: 3_600_000 })({ v: 1 })
  const baseline = await connectionsOf(shadow)
  const result = shadow.result('never')
  const record = shadow.get('never', { wait: 600_000 })
  await waitFor(async () => (await finishedSubscribers(shadow)) === 1, 10_000, 'the subscription')
  t.equal(await connectionsOf(shadow), baseline + 1)
  // judged once closed; handled from now on
  const ended = [rejectsWith(t, () => result, 'SHADOWS_ERR_CLOSED', 'result'), rejectsWith(t, () => record, 'SHADOWS_ERR_CLOSED', 'get with wait')]
  await shadow.close()
  await Promise.all(ended)
  await rejectsWith(t, () => shadow.result('never'), 'SHADOWS_ERR_CLOSED', 'a wait after close')
  await waitFor(async () => (await connectionsOf(shadow)) === 0, 10_000, 'every connection to close')
  t.pass('every connection closed')
})
