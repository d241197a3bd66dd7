/**
 * The outcome policy: what is recorded when an attempt ends, decided from how it ended, the task's
 * retry and recurrence, and the time (given, not read from the clock).
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, type AnyTask } from '../../src/index.js'
import { decideOutcome, nextRunAt, type AttemptResult, type EndedAttempt } from '../../src/core/outcome-policy.js'
import { nextCronTime } from '../../src/core/task.js'
import { captureLogs, LEVEL } from '../helpers/engine-workers.js'

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)
const run = async () => undefined

const plain = defineTask({ name: 'plain', run })
const retried = defineTask({ name: 'retried', run, retry: { attempts: 3, delay: 1000 } })
const exponential = defineTask({ name: 'exponential', run, retry: { attempts: 5, delay: 100, backoff: 'exponential', maxDelay: 250 } })
const perpetual = defineTask({ name: 'perpetual', run, perpetual: { every: 60_000 } })
const cron = defineTask({ name: 'cron', run, cron: { expression: '0 * * * *' }, params: Type.Object({}) })

/** An attempt of `task` that started 25 ms before NOW, with its logs kept. */
function ended(task: AnyTask, options: { attempt?: number; when?: number; chainCancelled?: boolean } = {}) {
  const logs = captureLogs('debug')
  const attempt: EndedAttempt = {
    input: { task, when: options.when ?? NOW - 1000, attempt: options.attempt ?? 1 },
    startedAt: NOW - 25,
    chainCancelled: options.chainCancelled ?? false,
    logger: logs.logger,
  }
  return { attempt, logs }
}

const returned = (value: unknown): AttemptResult => ({ kind: 'returned', value })
const threw = (error: unknown): AttemptResult => ({ kind: 'threw', error })

t.test('a task that returns completes with its result as JSON, or none', async (t) => {
  t.same(decideOutcome(ended(plain).attempt, returned({ sent: 3 }), false, NOW), { outcome: 'completed', data: '{"sent":3}', due: 0 })
  t.same(decideOutcome(ended(plain).attempt, returned(undefined), false, NOW), { outcome: 'completed', data: '', due: 0 })
  const { attempt, logs } = ended(plain)
  decideOutcome(attempt, returned(null), true, NOW)
  t.same(
    logs.entries().map((e) => [e.msg, e.elapsed]),
    [['task completed', 25]],
    'with debug on, the completion is logged with the time it took',
  )
})

t.test('a result that is not JSON fails the attempt as a TypeError', async (t) => {
  const decision = decideOutcome(ended(plain).attempt, returned({ big: 1n }), false, NOW)
  t.equal(decision.outcome, 'failed')
  t.match(JSON.parse(decision.data), { type: 'TypeError', message: /the task's result is not JSON/ })
})

t.test('a failure with attempts left is retried after the retry delay; the last one fails', async (t) => {
  const first = ended(retried, { attempt: 1 })
  t.same(decideOutcome(first.attempt, threw(new Error('smtp down')), false, NOW), {
    outcome: 'retry',
    data: '{"type":"Error","message":"smtp down"}',
    due: NOW + 1000,
  })
  t.match(first.logs.entries(), [{ level: LEVEL.warn, msg: 'task failed; will retry', retryIn: 1000, elapsed: 25 }])
  const last = ended(retried, { attempt: 3 })
  t.same(decideOutcome(last.attempt, threw(new Error('smtp down')), false, NOW), { outcome: 'failed', data: '{"type":"Error","message":"smtp down"}', due: 0 })
  t.match(last.logs.entries(), [{ level: LEVEL.error, msg: 'task failed' }])
  t.equal(decideOutcome(ended(plain).attempt, threw('a string'), false, NOW).outcome, 'failed', 'no retry policy: one try')
})

t.test('exponential retries double the delay up to maxDelay', async (t) => {
  const dues = [1, 2, 3, 4].map((attempt) => decideOutcome(ended(exponential, { attempt }).attempt, threw(new Error('x')), false, NOW).due - NOW)
  t.same(dues, [100, 200, 250, 250])
})

t.test('a timeout is a failure like any other: retried while attempts are left', async (t) => {
  const timeout = Object.assign(new Error('timed out after 50 ms'), { name: 'TimeoutError' })
  const decision = decideOutcome(ended(retried).attempt, { kind: 'aborted', cause: 'timeout', error: timeout }, false, NOW)
  t.equal(decision.outcome, 'retry')
  t.match(JSON.parse(decision.data), { type: 'TimeoutError' })
})

t.test('a cancelled attempt is recorded cancelled; one interrupted by shutdown goes back on the queue, attempt unchanged', async (t) => {
  const cancelled = Object.assign(new Error('cancelled'), { name: 'CancelledError' })
  t.same(decideOutcome(ended(retried).attempt, { kind: 'aborted', cause: 'cancelled', error: cancelled }, false, NOW), {
    outcome: 'cancelled',
    data: '{"type":"CancelledError","message":"cancelled"}',
    due: 0,
  })
  const shutdown = Object.assign(new Error('shutting down'), { name: 'ShutdownError' })
  t.same(decideOutcome(ended(retried).attempt, { kind: 'aborted', cause: 'shutdown', error: shutdown }, false, NOW), { outcome: 'defer', data: '', due: NOW })
})

t.test('a perpetual task runs again every ms after its due time, or at once when it ran late', async (t) => {
  t.same(decideOutcome(ended(perpetual, { when: NOW - 1000 }).attempt, returned('ok'), false, NOW), {
    outcome: 'again',
    data: '"ok"',
    due: NOW - 1000 + 60_000,
  })
  t.equal(decideOutcome(ended(perpetual, { when: NOW - 120_000 }).attempt, returned('ok'), false, NOW).due, NOW, 'late: now, never in the past')
  const failedRun = decideOutcome(ended(perpetual).attempt, threw(new Error('flaky')), false, NOW)
  t.same([failedRun.outcome, failedRun.due], ['again-failed', NOW - 1000 + 60_000], 'a failed run does not end the chain')
  t.same(
    decideOutcome(ended(perpetual, { chainCancelled: true }).attempt, returned('last'), false, NOW),
    { outcome: 'completed', data: '"last"', due: 0 },
    'ctx.perpetual.cancel() ends it',
  )
  t.equal(decideOutcome(ended(perpetual, { chainCancelled: true }).attempt, threw(new Error('x')), false, NOW).outcome, 'failed')
})

t.test('a cron task runs again at the next matching time after now, or after its due time when that is later', async (t) => {
  t.equal(decideOutcome(ended(cron).attempt, returned(undefined), false, NOW).due, Date.UTC(2026, 0, 15, 13, 0, 0))
  t.equal(nextRunAt(cron, NOW + 90 * 60_000, NOW), Date.UTC(2026, 0, 15, 14, 0, 0), 'due in the future: the match after it')
  t.equal(nextRunAt(cron, NOW, NOW), nextCronTime(cron.cron!, new Date(NOW))?.getTime())
  t.equal(nextRunAt(plain, NOW, NOW), undefined, 'a plain task has no next run')
})
