/**
 * shadow.retry and shadow.retryAll against the real Redis: a finished task runs again under the
 * same key with the same params, as attempt 1; what cannot be retried is refused with its code and
 * nothing changed; retryAll's filters and counts, and keys taken meanwhile left as they are.
 * (Retries of a failing attempt, by the task's retry policy, are retry.test.ts.)
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, isShadowsError, type TaskContext } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { storedKey } from '../../src/redis/keys.js'
import { messageHead } from '../../src/redis/stream.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, waitFor, shadowContents } from '../helpers/shadow.js'
import { gate, recordTtl, rejectsWith, runInBackground, streamLength } from '../helpers/engine-state.js'
import { jobTask, listed, tick } from '../helpers/history.js'

t.teardown(closeAdmin)

t.test('a failed task runs again under the same key, same params, as attempt 1', async (t) => {
  const tries: { key: string; attempt: number; v: number }[] = []
  let healthy = false
  const flaky = defineTask({
    name: 'flaky',
    params: Type.Object({ v: Type.Number() }),
    retry: { attempts: 2, delay: 1 },
    async run({ v }, ctx: TaskContext) {
      tries.push({ key: ctx.key, attempt: ctx.attempt, v })
      if (!healthy) throw new Error(`fail ${ctx.attempt}`)
      await ctx.progress(1, 1)
      return { v, attempt: ctx.attempt }
    },
  })
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [flaky])
  const added = await shadow.add(flaky)({ v: 7 })
  await shadow.add(flaky, { key: 'named' })({ v: 8 })
  await worker.runUntilFinished()
  for (const key of [added.key, 'named']) {
    const failed = await shadow.get(key)
    t.has(failed, { state: 'failed', attempt: 2, error: { message: 'fail 2' } }, `${key} failed after two attempts`)
  }
  t.same((await listed(shadow, 'failed')).sort(), [added.key, 'named'].sort())

  const before = Date.now()
  const retried = await shadow.retry(added.key)
  t.same(Object.keys(retried).sort(), ['key', 'state', 'task', 'when'], 'key, task, when, state')
  t.has(retried, { key: added.key, task: 'flaky', state: 'queued' })
  t.ok(retried.when.getTime() >= before && retried.when.getTime() <= Date.now(), 'due now')
  const queued = await shadow.get(added.key)
  t.has(queued, { key: added.key, state: 'queued', attempt: 1, params: { v: 7 } }, 'queued again, attempt 1, same params')
  t.equal(queued?.error, undefined, 'the old error is gone')
  t.equal(queued?.finishedAt, undefined, 'no finish time')
  t.equal(queued?.worker, undefined, 'no worker')
  t.equal(await recordTtl(shadow, added.key), -1, 'a live record does not expire')
  t.same(await listed(shadow, 'failed'), ['named'], 'it left the failed history')
  t.same(await listed(shadow, 'queued'), [added.key], 'it is listed as queued')

  healthy = true
  tries.length = 0
  await worker.runUntilFinished()
  t.same(tries, [{ key: added.key, attempt: 1, v: 7 }], 'ran once more, as attempt 1, under the same key')
  const completed = await shadow.get(added.key)
  t.has(completed, { state: 'completed', attempt: 1, result: { v: 7, attempt: 1 } })
  t.equal(completed?.error, undefined)
  t.same(await listed(shadow, 'completed'), [added.key], 'listed as completed')
  t.ok((await recordTtl(shadow, added.key)) > 0, 'the record expires again')
})

t.test('a completed, cancelled or struck task can be retried too', async (t) => {
  const { task: job, runs } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'done' })({ v: 1 })
  await shadow.add(job, { key: 'stopped', delay: 3_600_000 })({ v: 2 })
  await shadow.cancel('stopped')
  await shadow.add(job, { key: 'hit' })({ v: 3 })
  const { strike } = await shadow.strike({ task: 'job', parameter: 'v', operator: '==', value: 3 })
  const worker = makeWorker(t, shadow, [job])
  await worker.runUntilFinished()
  t.equal((await shadow.get('hit'))?.state, 'struck')
  t.same(runs, [1])
  await shadow.restore(strike.id)
  for (const key of ['done', 'stopped', 'hit']) t.has(await shadow.retry(key), { key, state: 'queued' }, `${key} retried`)
  for (const state of ['completed', 'cancelled', 'struck'] as const) t.same(await listed(shadow, state), [], `none left ${state}`)
  await worker.runUntilFinished()
  t.same(runs.sort(), [1, 1, 2, 3], 'each ran (again)')
  for (const key of ['done', 'stopped', 'hit']) t.equal((await shadow.get(key))?.state, 'completed', `${key} completed`)
})

t.test('what cannot be retried: not found, not finished, struck; nothing changed', async (t) => {
  const release = gate(t)
  const { task: job } = jobTask()
  const hold = defineTask({
    name: 'hold',
    params: Type.Object({}),
    async run() {
      await release.promise
    },
  })
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  await shadow.add(job, { key: 'f' })({ v: 5, fail: true })
  await worker.runUntilFinished()
  await shadow.add(job, { key: 'sched', delay: 3_600_000 })({ v: 1 })
  await shadow.add(hold, { key: 'run' })({})
  const holder = makeWorker(t, shadow, [hold], { concurrency: 1 })
  const stop = runInBackground(holder)
  await waitFor(async () => (await shadow.get('run'))?.state === 'running', 10_000, 'run running')
  await shadow.add(hold, { key: 'queue' })({})
  await shadow.strike({ task: 'job', parameter: 'v', operator: '>=', value: 5 })
  const before = await shadowContents(shadow.name)

  await rejectsWith(t, () => shadow.retry('nobody'), 'SHADOWS_ERR_NOT_FOUND', 'unknown key')
  await rejectsWith(t, () => shadow.retry('bad key!'), 'SHADOWS_ERR_VALIDATION', 'invalid key')
  await rejectsWith(t, () => shadow.retry(''), 'SHADOWS_ERR_VALIDATION', 'empty key')
  for (const [key, state] of [
    ['sched', 'scheduled'],
    ['queue', 'queued'],
    ['run', 'running'],
  ] as const) {
    const err = await rejectsWith(t, () => shadow.retry(key), 'SHADOWS_ERR_NOT_FINISHED', state)
    t.has(isShadowsError(err) ? err.details : undefined, { key, state }, `${state}: the details say so`)
  }
  const struck = await rejectsWith(t, () => shadow.retry('f'), 'SHADOWS_ERR_STRUCK', 'a strike matches')
  t.has(isShadowsError(struck) ? struck.details : undefined, { key: 'f', task: 'job' }, 'the details name the task')
  t.ok(isShadowsError(struck) && typeof struck.details?.strike === 'string', 'and the strike')
  t.same(await shadow.retryAll({ state: 'failed' }), { retried: 0, skipped: 1 }, 'retryAll skips the struck task')
  t.same(await shadowContents(shadow.name), before, 'nothing changed')
  release.open()
  await stop()
})

t.test('a key whose record expired is not found', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t, { executionTtl: 200 })
  const worker = makeWorker(t, shadow, [job])
  await shadow.add(job, { key: 'short' })({ v: 1, fail: true })
  await worker.runUntilFinished()
  await waitFor(async () => (await shadow.get('short')) === undefined, 10_000, 'the record to expire')
  await rejectsWith(t, () => shadow.retry('short'), 'SHADOWS_ERR_NOT_FOUND', 'expired')
})

t.test('retryAll: by state, task, finishedAfter and limit; counts', async (t) => {
  const { task: job } = jobTask('job')
  const { task: other } = jobTask('other')
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job, other])
  for (let i = 0; i < 5; i++) await shadow.add(job, { key: `j${i}` })({ v: i, fail: true })
  for (let i = 0; i < 3; i++) await shadow.add(other, { key: `o${i}` })({ v: i, fail: true })
  await worker.runUntilFinished()
  await tick(3)
  const cut = new Date()
  await tick(3)
  await shadow.add(job, { key: 'late1' })({ v: 10, fail: true })
  await shadow.add(job, { key: 'late2' })({ v: 11, fail: true })
  await worker.runUntilFinished()
  t.equal((await shadow.list({ state: 'failed' })).tasks.length, 10)

  t.same(await shadow.retryAll({ state: 'failed', task: 'other' }), { retried: 3, skipped: 0 }, 'one task name')
  t.same((await listed(shadow, 'queued')).sort(), ['o0', 'o1', 'o2'])
  t.same(await shadow.retryAll({ state: 'failed', finishedAfter: cut }), { retried: 2, skipped: 0 }, 'finished after a time (a Date)')
  t.same((await listed(shadow, 'queued')).sort(), ['late1', 'late2', 'o0', 'o1', 'o2'])
  t.same(
    await shadow.retryAll({ state: 'failed', finishedAfter: new Date(Date.now() + 60_000).toISOString() }),
    { retried: 0, skipped: 0 },
    'finishedAfter in the future: none',
  )
  const newest = (await shadow.list({ state: 'failed', limit: 2 })).tasks.map((info) => info.key)
  t.same(await shadow.retryAll({ state: 'failed', limit: 2 }), { retried: 2, skipped: 0 }, 'limit')
  t.same((await listed(shadow, 'failed')).length, 3, 'three left')
  for (const key of newest) t.equal((await shadow.get(key))?.state, 'queued', `the newest first: ${key}`)
  await shadow.strike({ task: 'job', parameter: 'v', operator: '==', value: 0 })
  t.same(await shadow.retryAll({ state: 'failed' }), { retried: 2, skipped: 1 }, 'a struck one skipped')
  t.same(await listed(shadow, 'failed'), ['j0'], 'the struck one stays failed')
  t.same(await shadow.retryAll({ state: 'cancelled' }), { retried: 0, skipped: 0 }, 'no cancelled task: nothing')
  t.same(await shadow.retryAll({ state: 'struck' }), { retried: 0, skipped: 0 })
  const queuedBefore = await streamLength(shadow)
  t.equal(queuedBefore, 9, 'nine messages queued, one per task retried')
  await worker.runUntilFinished()
  t.equal((await shadow.list({ state: 'failed', limit: 1000 })).tasks.length, 10, 'all failed again, each once')
})

t.test('retryAll refuses a bad filter, nothing changed', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  await shadow.add(job, { key: 'f' })({ v: 1, fail: true })
  await worker.runUntilFinished()
  const before = await shadowContents(shadow.name)
  const bad: [string, unknown][] = [
    ['null', null],
    ['no state', {}],
    ['completed', { state: 'completed' }],
    ['queued', { state: 'queued' }],
    ['scheduled', { state: 'scheduled' }],
    ['running', { state: 'running' }],
    ['junk state', { state: '__proto__' }],
    ['limit 0', { state: 'failed', limit: 0 }],
    ['limit 10001', { state: 'failed', limit: 10_001 }],
    ['limit 1.5', { state: 'failed', limit: 1.5 }],
    ['task ""', { state: 'failed', task: '' }],
    ['finishedAfter junk', { state: 'failed', finishedAfter: 'yesterday' }],
    ['finishedAfter naive', { state: 'failed', finishedAfter: '2026-01-01T00:00:00' }],
  ]
  for (const [what, filter] of bad) await rejectsWith(t, () => shadow.retryAll(filter as never), 'SHADOWS_ERR_VALIDATION', what)
  t.same(await shadowContents(shadow.name), before, 'nothing changed')
  t.same(await shadow.retryAll({ state: 'failed', limit: 10_000 }), { retried: 1, skipped: 0 }, 'limit 10,000 is fine')
})

t.test('a key taken meanwhile is skipped, never overwritten', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  for (const key of ['a', 'b', 'c', 'd']) await shadow.add(job, { key })({ v: 1, fail: true })
  await worker.runUntilFinished()

  // taken before the listing: a live task, not a failed one any more
  await shadow.add(job, { key: 'a', delay: 3_600_000 })({ v: 100 })
  await rejectsWith(t, () => shadow.retry('a'), 'SHADOWS_ERR_NOT_FINISHED', 'retry of a key added again')

  // taken between the listing and the retry: the strikes are read in between
  const strikes = shadowContext(shadow).strikes
  const current = strikes.current.bind(strikes)
  let interfered = false
  strikes.current = async (refresh?: boolean) => {
    if (!interfered) {
      interfered = true
      await shadow.replace(job, { key: 'b' })({ v: 200 })
      // and one that was added and finished again meanwhile: another incarnation
      await shadow.add(job, { key: 'c', delay: 3_600_000 })({ v: 300 })
      await shadow.cancel('c')
    }
    return current(refresh)
  }
  t.teardown(() => {
    strikes.current = current
  })
  t.same(await shadow.retryAll({ state: 'failed' }), { retried: 1, skipped: 2 }, 'd retried; b (queued) and c (cancelled since) skipped')
  t.ok(interfered, 'the keys were taken between the listing and the retry')
  t.has(await shadow.get('a'), { state: 'scheduled', params: { v: 100 } }, 'a untouched')
  t.has(await shadow.get('b'), { state: 'queued', params: { v: 200 }, attempt: 1 }, 'b is the replacement, untouched')
  t.has(await shadow.get('c'), { state: 'cancelled', params: { v: 300 } }, 'c is the later incarnation, untouched')
  t.has(await shadow.get('d'), { state: 'queued', params: { v: 1, fail: true } }, 'd queued again')
  const messages = await adminRedis().xrange(shadowContext(shadow).keys.stream, '-', '+')
  const keys = messages.map(([, fields]) => messageHead(fields)?.key).sort()
  t.same(keys, ['b', 'd'].map(storedKey), 'one message each for b and d, none more')
  t.same(await listed(shadow, 'cancelled'), ['c'], 'c listed as cancelled')
})

t.test('retryAll while a worker fails the tasks again: each retried once', async (t) => {
  const { task: job, runs } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job], { concurrency: 50 })
  await shadow.addBatch(Array.from({ length: 1200 }, (_, i) => ({ task: 'job', key: `k${i}`, params: { v: i, fail: true } })))
  await worker.runUntilFinished()
  t.equal(runs.length, 1200)
  const again = makeWorker(t, shadow, [job], { concurrency: 50 })
  const stop = runInBackground(again)
  // the worker fails retried tasks again at once: they re-enter the index ahead of where retryAll reads
  const counts = await shadow.retryAll({ state: 'failed' })
  t.same(counts, { retried: 1200, skipped: 0 }, 'each once, in three batches')
  await waitFor(async () => runs.length === 2400 && (await shadow.snapshot()).counts.running === 0, 30_000, 'every retried task to run')
  await stop()
  t.equal(runs.length, 2400, 'each ran exactly once more')
  t.equal((await shadow.list({ state: 'failed', limit: 1000 })).tasks.length, 1000)
})
