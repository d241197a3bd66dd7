/**
 * What to record when an attempt ends: its final state, a retry, the next run of a perpetual or
 * cron task, or a return to the queue. Pure but for the clock and the attempt's logger.
 */
import type { Attempt, AttemptResult } from '../worker/attempt.js'
import type { Outcome } from '../worker/outcomes.js'
import { describeError } from './records.js'
import { nextCronTime, retryDelay, type AnyTask } from './task.js'

/** The part of an {@link Outcome} that the attempt's end decides. */
export type Decision = Pick<Outcome, 'outcome' | 'data' | 'due'>

/**
 * When a perpetual or cron task runs next, after the run due at `when`; undefined when a cron
 * expression never matches again (the chain ends) and for other tasks.
 */
export function nextRunAt(task: AnyTask, when: number): number | undefined {
  const now = Date.now()
  if (task.cron) return nextCronTime(task.cron, new Date(Math.max(now, when)))?.getTime()
  if (task.perpetual) return Math.max(when + task.perpetual.every, now)
  return undefined
}

function failure(attempt: Attempt, error: unknown, elapsed: number): Decision {
  const { task, when, attempt: number } = attempt.input
  const data = JSON.stringify(describeError(error))
  if (task.retry && number < task.retry.attempts) {
    const delay = retryDelay(task.retry, number)
    attempt.logger.warn({ err: error, elapsed, retryIn: delay }, 'task failed; will retry')
    return { outcome: 'retry', data, due: Date.now() + delay }
  }
  attempt.logger.error({ err: error, elapsed }, 'task failed')
  const next = attempt.chainCancelled ? undefined : nextRunAt(task, when)
  if (next !== undefined) return { outcome: 'again-failed', data, due: next }
  return { outcome: 'failed', data, due: 0 }
}

/** Turns how an attempt ended into what to record. `debug` logs every completion. */
export function decideOutcome(attempt: Attempt, result: AttemptResult, debug: boolean): Decision {
  const { task, when } = attempt.input
  const elapsed = Date.now() - attempt.startedAt
  if (result.kind === 'aborted' && result.cause === 'shutdown') {
    attempt.logger.info('interrupted by shutdown; back on the queue')
    return { outcome: 'defer', data: '', due: Date.now() }
  }
  if (result.kind === 'aborted' && result.cause === 'cancelled') {
    attempt.logger.info({ elapsed }, 'task cancelled')
    return { outcome: 'cancelled', data: JSON.stringify(describeError(result.error)), due: 0 }
  }
  if (result.kind !== 'returned') return failure(attempt, result.error, elapsed)
  let data: string
  try {
    data = result.value === undefined ? '' : (JSON.stringify(result.value) ?? '')
  } catch (err) {
    return failure(attempt, new TypeError(`the task's result is not JSON: ${(err as Error).message}`), elapsed)
  }
  if (debug) attempt.logger.debug({ elapsed }, 'task completed')
  const next = attempt.chainCancelled ? undefined : nextRunAt(task, when)
  if (next !== undefined) return { outcome: 'again', data, due: next }
  return { outcome: 'completed', data, due: 0 }
}
