/**
 * What a worker does with a task whose name it does not know: it puts the task back for a worker
 * that does, a little later each time, and fails it once no worker has known it for the timeout.
 * The deferrals so far and the time of the first are kept in the task's record, so that every
 * worker that meets the task counts on from where the last one left off. Pure: the clock is a
 * parameter.
 */
import { UnknownTaskError } from './errors.js'
import { describeError, type TaskError } from './records.js'
import { retryDelay } from './task.js'

/** How a worker treats tasks it does not know. */
export interface UnknownTaskPolicy {
  /** Delay before the task is offered again after its first deferral, in ms; it doubles with each deferral. */
  readonly firstDelay: number
  /** Longest delay between two offers, in ms. */
  readonly maxDelay: number
  /** How long after its first deferral a task no worker knew fails, in ms (0: at once). */
  readonly timeout: number
}

/** What the record says of a task's deferrals so far. */
export interface UnknownTaskDeferrals {
  /** Deferrals so far (0 before the first). */
  readonly deferrals: number
  /** When the task was first deferred, epoch ms; undefined before the first deferral. */
  readonly since: number | undefined
}

/** Put the task back, due at `due`; or fail it with `error`. */
export type UnknownTaskDecision = { readonly kind: 'defer'; readonly due: number } | { readonly kind: 'fail'; readonly error: TaskError }

/**
 * What to do with the task `task` no worker met so far knew, deferred as `record` says, at `now`:
 * put it back after `firstDelay` × 2^deferrals (at most `maxDelay`, and never past the moment it
 * would fail, so that it fails on time), or fail it once `timeout` ms passed since the first deferral.
 */
export function decideUnknownTask(task: string, record: UnknownTaskDeferrals, policy: UnknownTaskPolicy, now: number): UnknownTaskDecision {
  // a record written by hand may hold anything: a count or a time that is none starts afresh
  const since = record.since !== undefined && Number.isFinite(record.since) ? record.since : now
  const deferrals = Number.isSafeInteger(record.deferrals) && record.deferrals > 0 ? record.deferrals : 0
  const waited = Math.max(0, now - since)
  if (waited >= policy.timeout) {
    return { kind: 'fail', error: describeError(new UnknownTaskError(`no worker knows the task "${task}" (deferred for ${formatDuration(waited)})`)) }
  }
  const delay = retryDelay({ attempts: Number.POSITIVE_INFINITY, delay: policy.firstDelay, backoff: 'exponential', maxDelay: policy.maxDelay }, deferrals + 1)
  return { kind: 'defer', due: Math.min(now + delay, since + policy.timeout) }
}

/** A duration in ms for people: `250ms`, `42s`, `5m 3s`, `1h`, `2h 30m`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`
  const seconds = Math.round(ms / 1_000)
  const [h, m, s] = [Math.floor(seconds / 3_600), Math.floor(seconds / 60) % 60, seconds % 60]
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`
  if (m > 0) return s > 0 ? `${m}m ${s}s` : `${m}m`
  return `${s}s`
}
