/**
 * Retries and timeouts against the real Redis: attempt counting, the stored due time of each retry
 * (fixed and exponential backoff), the final state and error, and per-attempt time limits.
 */
import t, { type Test } from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, type TaskContext } from '../../src/index.js'
import { CONSUMER_GROUP } from '../../src/redis/keys.js'
import { aborted, deferred } from '../helpers/engine-rules.js'
import { finishScript, heardEvents, rawRecord } from '../helpers/engine-state.js'
import { closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { shadowContext } from '../../src/client/shadow.js'

t.teardown(closeAdmin)

interface Try {
  attempt: number
  when: number
  key: string
  /** Date.now() just before the attempt threw (the failure time). */
  failedAt?: number
}

/** A task that records every try and throws `fail 1`, `fail 2`, … until `succeedOn` (if given). */
function flaky(name: string, retry: Parameters<typeof defineTask>[0]['retry'], succeedOn?: number) {
  const tries: Try[] = []
  const task = defineTask({
    name,
    params: Type.Object({ n: Type.Number() }),
    retry,
    async run({ n }, ctx: TaskContext) {
      const entry: Try = { attempt: ctx.attempt, when: ctx.when.getTime(), key: ctx.key }
      tries.push(entry)
      if (succeedOn !== undefined && ctx.attempt >= succeedOn) return { n, attempt: ctx.attempt }
      entry.failedAt = Date.now()
      throw new Error(`fail ${ctx.attempt}`)
    },
  })
  return { task, tries }
}

/** Checks that each retry was due at least `delays[i]` after the previous failure. */
function checkDelays(t: Test, tries: readonly Try[], delays: readonly number[]): void {
  t.equal(tries.length, delays.length + 1, 'one try per expected delay, plus the first')
  for (let i = 1; i < tries.length; i++) {
    const previous = tries[i - 1] as Try
    const current = tries[i] as Try
    t.ok(previous.failedAt !== undefined, `try ${i} failed`)
    const earliest = (previous.failedAt ?? 0) + (delays[i - 1] ?? 0)
    t.ok(current.when >= earliest, `try ${i + 1} is due ${delays[i - 1]} ms after the failure of try ${i}`, {
      when: current.when,
      earliest,
    })
  }
}

t.test('without retry a failing task is tried once and fails with its error', async (t) => {
  const shadow = makeShadow(t)
  const { task, tries } = flaky('once', undefined)
  const { key } = await shadow.add(task)({ n: 1 })
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.same(
    tries.map((x) => x.attempt),
    [1],
    'one try, attempt 1',
  )
  const info = await shadow.get(key)
  t.equal(info?.state, 'failed')
  t.equal(info?.attempt, 1)
  t.same(info?.error, { type: 'Error', message: 'fail 1' })
})

t.test('attempts counts every try; exhausted retries fail with the last error (fixed delay)', async (t) => {
  const shadow = makeShadow(t)
  const { task, tries } = flaky('fixed', { attempts: 3, delay: 60, backoff: 'fixed' })
  const { key } = await shadow.add(task)({ n: 2 })
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.same(
    tries.map((x) => x.attempt),
    [1, 2, 3],
    'three tries, ctx.attempt 1-based',
  )
  t.same(new Set(tries.map((x) => x.key)).size, 1, 'every try under the same key')
  checkDelays(t, tries, [60, 60])
  const info = await shadow.get(key)
  t.equal(info?.state, 'failed')
  t.equal(info?.attempt, 3, 'the record shows the last attempt')
  t.same(info?.error, { type: 'Error', message: 'fail 3' }, 'the last error is kept')
  t.equal(info?.when.getTime(), tries[2]?.when, "the record's when is the last try's due time")
})

t.test('exponential backoff doubles the delay, capped by maxDelay', async (t) => {
  const shadow = makeShadow(t)
  const { task, tries } = flaky('expo', { attempts: 5, delay: 40, backoff: 'exponential', maxDelay: 100 })
  const { key } = await shadow.add(task)({ n: 3 })
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.same(
    tries.map((x) => x.attempt),
    [1, 2, 3, 4, 5],
  )
  checkDelays(t, tries, [40, 80, 100, 100])
  const info = await shadow.get(key)
  t.equal(info?.state, 'failed')
  t.equal(info?.attempt, 5)
  t.same(info?.error, { type: 'Error', message: 'fail 5' })
})

t.test('the next attempt is stored as scheduled at failure time + delay', async (t) => {
  const shadow = makeShadow(t)
  const { task, tries } = flaky('slow-retry', { attempts: 2, delay: 60_000 })
  const { key } = await shadow.add(task)({ n: 4 })
  const worker = makeWorker(t, shadow, [task])
  const running = worker.run()
  await waitFor(async () => (await shadow.get(key))?.state === 'scheduled', 5000, 'the retry to be scheduled')
  const info = await shadow.get(key)
  const failedAt = tries[0]?.failedAt ?? Number.NaN
  t.equal(info?.attempt, 2, 'the record counts the coming attempt')
  t.same(info?.error, { type: 'Error', message: 'fail 1' }, 'the error of the failed attempt is visible meanwhile')
  t.ok((info?.when.getTime() ?? 0) >= failedAt + 60_000, 'due at least delay after the failure', { when: info?.when, failedAt })
  t.ok((info?.when.getTime() ?? Infinity) <= Date.now() + 60_000, 'and not later than delay after now')
  t.equal(tries.length, 1)
  await worker.close()
  await running
})

t.test('a task that succeeds on attempt 2 ends completed with attempt 2', async (t) => {
  const shadow = makeShadow(t)
  const { task, tries } = flaky('second-time', { attempts: 4, delay: 30 }, 2)
  const { key } = await shadow.add(task)({ n: 5 })
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.same(
    tries.map((x) => x.attempt),
    [1, 2],
    'no try after the success',
  )
  checkDelays(t, tries, [30])
  const info = await shadow.get(key)
  t.equal(info?.state, 'completed')
  t.equal(info?.attempt, 2)
  t.same(info?.result, { n: 5, attempt: 2 })
})

t.test('the error type is the class name of what the task threw', async (t) => {
  const shadow = makeShadow(t)
  class QuotaError extends Error {
    override name = 'QuotaError'
  }
  const typed = defineTask({
    name: 'typed',
    params: Type.Object({ kind: Type.String() }),
    retry: { attempts: 2, delay: 10 },
    async run({ kind }, ctx) {
      if (kind === 'type' || ctx.attempt === 2) throw new TypeError(`bad ${ctx.attempt}`)
      throw new QuotaError('over quota')
    },
  })
  const first = await shadow.add(typed)({ kind: 'quota' })
  const second = await shadow.add(typed)({ kind: 'type' })
  await makeWorker(t, shadow, [typed]).runUntilFinished()
  t.same((await shadow.get(first.key))?.error, { type: 'TypeError', message: 'bad 2' }, 'the last error, not the first')
  t.same((await shadow.get(second.key))?.error, { type: 'TypeError', message: 'bad 2' })
})

t.test('timeout: the signal aborts with a TimeoutError and the attempt fails', async (t) => {
  const shadow = makeShadow(t)
  const reasons: unknown[] = []
  const slow = defineTask({
    name: 'slow',
    timeout: 100,
    async run(_params, ctx) {
      const reason = await aborted(ctx.signal)
      reasons.push(reason)
      throw reason
    },
  })
  const { key } = await shadow.add(slow)({})
  await makeWorker(t, shadow, [slow]).runUntilFinished()
  t.equal(reasons.length, 1, 'one try')
  t.equal((reasons[0] as Error)?.name, 'TimeoutError', 'the signal carries a TimeoutError')
  const info = await shadow.get(key)
  t.equal(info?.state, 'failed')
  t.equal(info?.error?.type, 'TimeoutError')
  t.equal(info?.attempt, 1)
})

t.test('timeout: a task that ignores the signal still has its attempt ended as timed out', async (t) => {
  const shadow = makeShadow(t)
  const release = deferred()
  let returned = false
  let sawAbort = false
  const stubborn = defineTask({
    name: 'stubborn',
    timeout: 80,
    async run(_params, ctx) {
      ctx.signal.addEventListener('abort', () => {
        sawAbort = true
      })
      await release.promise
      returned = true
      return 'too late'
    },
  })
  const { key } = await shadow.add(stubborn)({})
  const worker = makeWorker(t, shadow, [stubborn])
  const running = worker.run()
  t.teardown(() => release.resolve())
  await waitFor(async () => (await shadow.get(key))?.state === 'failed', 5000, 'the attempt to end')
  t.equal(returned, false, 'ended while the task function was still running')
  t.equal(sawAbort, true, 'the signal fired')
  const info = await shadow.get(key)
  t.equal(info?.error?.type, 'TimeoutError')
  t.equal(info?.result, undefined)

  release.resolve()
  await waitFor(() => returned, 5000, 'the task function to return')
  await worker.close()
  await running
  const after = await shadow.get(key)
  t.equal(after?.state, 'failed', 'a late return does not change the outcome')
  t.equal(after?.result, undefined, 'and stores no result')
})

t.test('timeout with retry: a timed-out attempt is retried while attempts remain', async (t) => {
  const shadow = makeShadow(t)
  const attempts: number[] = []
  const recovering = defineTask({
    name: 'recovering',
    timeout: 60,
    retry: { attempts: 3, delay: 20 },
    async run(_params, ctx) {
      attempts.push(ctx.attempt)
      if (ctx.attempt < 3) throw await aborted(ctx.signal)
      return 'done'
    },
  })
  const exhausted = defineTask({
    name: 'exhausted',
    timeout: 60,
    retry: { attempts: 2, delay: 20 },
    async run(_params, ctx) {
      attempts.push(10 + ctx.attempt)
      await aborted(ctx.signal)
      return 'ignored the abort'
    },
  })
  const ok = await shadow.add(recovering)({})
  const ko = await shadow.add(exhausted)({})
  await makeWorker(t, shadow, [recovering, exhausted]).runUntilFinished()
  t.same(
    attempts.sort((x, y) => x - y),
    [1, 2, 3, 11, 12],
  )
  const okInfo = await shadow.get(ok.key)
  t.equal(okInfo?.state, 'completed')
  t.equal(okInfo?.attempt, 3)
  t.equal(okInfo?.result, 'done')
  const koInfo = await shadow.get(ko.key)
  t.equal(koInfo?.state, 'failed')
  t.equal(koInfo?.attempt, 2)
  t.equal(koInfo?.error?.type, 'TimeoutError', 'returning after the abort still counts as timed out')
})

t.test('a retry due past the year 5138 keeps its due time, and its wake-up, to the millisecond', async (t) => {
  const shadow = makeShadow(t)
  const { stream, schedule } = shadowContext(shadow).keys
  await shadow.add('far', { key: 'far' })({})
  await shadowContext(shadow).redis.xgroup('CREATE', stream, CONSUMER_GROUP, '0')
  const { gen = '', sid = '' } = await rawRecord(shadow, 'far')
  await shadowContext(shadow).redis.hset(shadowContext(shadow).keys.task('far'), 'state', 'running', 'worker', 'w')
  // the last millisecond RFC 3339 can write: 15 digits, more than Lua writes a number with
  const due = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
  const heard = await heardEvents(t, shadow)
  await finishScript(shadow, 'w', [[sid, 'far', gen, 'retry', '{}', due]])
  t.equal(await shadowContext(shadow).redis.zscore(schedule, 'far'), String(due), 'its place in the schedule is the due time given')
  t.equal((await shadow.get('far'))?.when.getTime(), due, 'and so is its when')
  await waitFor(() => heard.length > 0, 2000, 'the wake-up')
  t.same(heard, [`due ${due}`], 'schedulers are woken for that very millisecond')
})
