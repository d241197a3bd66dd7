/**
 * What to record when an attempt ends: its final state, a retry, the next run of a perpetual or
 * cron task, or a return to the queue. Pure but for the attempt's logger; the clock is a parameter.
 */
import type { Logger } from 'pino'
import { NonRetryableError, RetryRequestedError } from './errors.js'
import { describeError } from './records.js'
import { nextCronTime, retryDelay, type AnyTask } from './task.js'

/** Why an attempt's signal fired. */
export type AbortCause = 'cancelled' | 'timeout' | 'shutdown'

/** How an attempt ended. */
export type AttemptResult =
  | { readonly kind: 'returned'; readonly value: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'aborted'; readonly cause: AbortCause; readonly error: Error }

/** When a run chose the next run of its chain: `after` ms from the run's end, or `at` epoch ms. */
export type ChainNext = { readonly after: number } | { readonly at: number }

/** What the policy needs to know about an attempt that ended (a worker's Attempt is one). */
export interface EndedAttempt {
  readonly input: {
    readonly task: AnyTask
    /** Due time of the run, epoch ms. */
    readonly when: number
    /** 1-based attempt number. */
    readonly attempt: number
  }
  /** When the attempt started, epoch ms. */
  readonly startedAt: number
  /** Whether the task called `ctx.perpetual.cancel()`. */
  readonly chainCancelled: boolean
  /** What the task said of its chain's next run (`ctx.perpetual.after()`, `.at()`). */
  readonly chainNext?: ChainNext | undefined
  /** When the task asked to run again (`ctx.retryIn()`, `ctx.retryAt()`), epoch ms. */
  readonly retryDue?: number | undefined
  /** Where the end is logged (it carries task, key and attempt). */
  readonly logger: Logger
}

/**
 * What is recorded for an attempt (see finish.lua): a final state, a retry, the next run of a
 * perpetual or cron task after a success (`again`) or a failure (`again-failed`), or a return to
 * the queue with the attempt unchanged (`defer`). A task the worker does not know is put back
 * with its deferral counted (`unknown-defer`), or fails for good (`unknown-failed`): see
 * unknown-tasks.ts.
 */
export type OutcomeKind = 'completed' | 'failed' | 'cancelled' | 'struck' | 'retry' | 'again' | 'again-failed' | 'defer' | 'unknown-defer' | 'unknown-failed'

/** What the attempt's end decides: the outcome, its data (result or error JSON, "" for none) and due time (0 for none). */
export interface Decision {
  readonly outcome: OutcomeKind
  readonly data: string
  readonly due: number
}

/**
 * When a perpetual or cron task runs next, after the run due at `when`; undefined when a cron
 * expression never matches again (the chain ends) and for other tasks.
 */
export function nextRunAt(task: AnyTask, when: number, now = Date.now()): number | undefined {
  if (task.cron) return nextCronTime(task.cron, new Date(Math.max(now, when)))?.getTime()
  if (task.perpetual) return Math.max(when + task.perpetual.every, now)
  return undefined
}

/** When the chain of a perpetual or cron task runs next after this run, or undefined when it ends. */
function chainNextRun(attempt: EndedAttempt, now: number): number | undefined {
  const { task, when } = attempt.input
  if (attempt.chainCancelled || (task.perpetual === undefined && task.cron === undefined)) return undefined
  const chosen = attempt.chainNext
  if (chosen === undefined) return nextRunAt(task, when, now)
  return 'after' in chosen ? now + chosen.after : Math.max(chosen.at, now)
}

/** Whether `error` says not to retry: a NonRetryableError (of this copy of shadows or another). */
function isNonRetryable(error: unknown): boolean {
  return error instanceof NonRetryableError || (error instanceof Error && error.name === 'NonRetryableError')
}

function failure(attempt: EndedAttempt, error: unknown, now: number): Decision {
  const { task, attempt: number } = attempt.input
  const elapsed = now - attempt.startedAt
  const data = JSON.stringify(describeError(error))
  if (task.retry && number < task.retry.attempts && !isNonRetryable(error)) {
    const delay = retryDelay(task.retry, number)
    attempt.logger.warn({ err: error, elapsed, retryIn: delay }, 'task failed; will retry')
    return { outcome: 'retry', data, due: now + delay }
  }
  attempt.logger.error({ err: error, elapsed }, 'task failed')
  const next = chainNextRun(attempt, now)
  if (next !== undefined) return { outcome: 'again-failed', data, due: next }
  return { outcome: 'failed', data, due: 0 }
}

/** Turns how an attempt ended into what to record, at time `now`. `debug` logs every completion. */
export function decideOutcome(attempt: EndedAttempt, result: AttemptResult, debug: boolean, now = Date.now()): Decision {
  const elapsed = now - attempt.startedAt
  if (result.kind === 'aborted' && result.cause === 'shutdown') {
    attempt.logger.info('interrupted by shutdown; back on the queue')
    return { outcome: 'defer', data: '', due: now }
  }
  if (result.kind === 'aborted' && result.cause === 'cancelled') {
    attempt.logger.info({ elapsed }, 'task cancelled')
    return { outcome: 'cancelled', data: JSON.stringify(describeError(result.error)), due: 0 }
  }
  if (attempt.retryDue !== undefined) {
    // asked for, even if the task caught what retryIn threw and returned
    const due = Math.max(attempt.retryDue, now)
    attempt.logger.info({ elapsed, retryIn: due - now }, 'task asked to run again later')
    return { outcome: 'retry', data: JSON.stringify(describeError(new RetryRequestedError(attempt.retryDue))), due }
  }
  if (result.kind !== 'returned') return failure(attempt, result.error, now)
  let data: string
  try {
    data = result.value === undefined ? '' : (JSON.stringify(result.value) ?? '')
  } catch (err) {
    return failure(attempt, new TypeError(`the task's result is not JSON: ${(err as Error).message}`), now)
  }
  if (debug) attempt.logger.debug({ elapsed }, 'task completed')
  const next = chainNextRun(attempt, now)
  if (next !== undefined) return { outcome: 'again', data, due: next }
  return { outcome: 'completed', data, due: 0 }
}
