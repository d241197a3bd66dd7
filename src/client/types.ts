/**
 * What the client's methods take and answer.
 */
import type { ShadowsError } from '../core/errors.js'
import type { LiveState, TaskState } from '../core/records.js'
import type { AnyTask } from '../core/task.js'
import type { When } from '../core/validation.js'

/** Where and when to add a task. */
export interface AddOptions {
  /** Due time; absent or past = now. */
  readonly when?: When
  /** Due in this many ms; not together with `when`. */
  readonly delay?: number
  /** The task's identity (default: a new UUID). */
  readonly key?: string
  /**
   * Collapse a burst of adds of one key into one run, this many ms after the last add, with the
   * last add's params (1 ms to one year; needs `key`; not with `when`, `delay` or `throttle`). The
   * first add schedules the task at now + `debounce`; an add while that task is still scheduled
   * moves it to now + `debounce` with the new params (`debounced: true`). Once it is queued or
   * running, an add is a duplicate, as without `debounce`.
   */
  readonly debounce?: number
  /**
   * Take the key for this many ms after this add stores it (1 ms to one year; needs `key`; not with
   * `debounce`): within that window every add of the key is a duplicate, even once its task
   * finished. Duplicates do not extend the window.
   */
  readonly throttle?: number
}

/** Options of `replace`: as `add`, with the key required. */
export interface ReplaceOptions extends AddOptions {
  readonly key: string
}

/** What `add` returns: the task it stored, or the one that holds the key (`duplicate`). */
export type Execution = StoredExecution | DuplicateExecution

/** An add that stored its task. */
export interface StoredExecution {
  readonly key: string
  readonly task: string
  readonly when: Date
  /** The state it was stored in. */
  readonly state: LiveState
  readonly duplicate: false
  /** With `debounce`: the key's task was still scheduled, and was moved to `when` with these params. */
  readonly debounced?: true
  /** Only a duplicate answers params. */
  readonly params?: undefined
}

/** An add that changed nothing: the key is scheduled, queued or running, or within a throttle window. */
export interface DuplicateExecution {
  readonly key: string
  readonly task: string
  readonly when: Date
  /**
   * The state of the task that holds the key: scheduled, queued or running, or, within a throttle
   * window, any state (that task may have finished). Absent when that task's record has expired
   * (`executionTtl`) while the window is still open.
   */
  readonly state?: TaskState
  readonly duplicate: true
  readonly debounced?: undefined
  /** The params of the task that holds the key; absent when its record has expired. */
  readonly params?: Record<string, unknown>
}

/** What `replace` returns. */
export interface Replacement {
  readonly key: string
  readonly task: string
  readonly when: Date
  readonly state: LiveState
  /** True when a scheduled, queued or running task was replaced; false when it was created. */
  readonly replaced: boolean
  /** With `debounce`: the key's task was still scheduled, and was moved to `when` with these params. */
  readonly debounced?: true
}

/** One task of a batch add. */
export interface BatchItem {
  readonly task: string | AnyTask
  readonly params?: unknown
  readonly key?: string
  readonly when?: When
  readonly delay?: number
  /** See {@link AddOptions.debounce}. */
  readonly debounce?: number
  /** See {@link AddOptions.throttle}. */
  readonly throttle?: number
}

/** The outcome of one batch item, judged as if added alone. */
export type BatchResult = { readonly ok: true; readonly execution: Execution } | { readonly ok: false; readonly error: ShadowsError }

/** What `cancel` returns. */
export interface Cancellation {
  readonly key: string
  readonly task: string
  readonly state: 'cancelled'
  /** The state the task was in when cancelled (`cancelled` when it already was). */
  readonly previous: string
}

/** Options of `get`. */
export interface GetOptions {
  /**
   * Wait up to this many ms for a task that is not finished yet: the record comes as soon as it is
   * completed, failed, cancelled or struck, or as it is when the wait ends (default 0: at once).
   */
  readonly wait?: number
  /** Ends the wait early when it fires (the record as it is then); the waiter is forgotten at once. */
  readonly signal?: AbortSignal
}

/** Options of `result`. */
export interface ResultOptions {
  /** Give up after this many ms with `SHADOWS_ERR_WAIT_TIMEOUT` (default: wait as long as it takes). */
  readonly timeout?: number
}
