/**
 * What the client's methods take and answer.
 */
import type { ShadowsError } from '../core/errors.js'
import type { LiveState } from '../core/records.js'
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
}

/** Options of `replace`: as `add`, with the key required. */
export interface ReplaceOptions extends AddOptions {
  readonly key: string
}

/** What `add` returns. */
export interface Execution {
  readonly key: string
  readonly task: string
  readonly when: Date
  readonly state: LiveState
  /** True when the key was already scheduled, queued or running and nothing changed. */
  readonly duplicate: boolean
  /** With `duplicate`: the params of the existing task. */
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
}

/** One task of a batch add. */
export interface BatchItem {
  readonly task: string | AnyTask
  readonly params?: unknown
  readonly key?: string
  readonly when?: When
  readonly delay?: number
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
