/**
 * Every error shadows raises, in one place: the registry of stable codes with their HTTP status
 * and meaning (used by the library, the gateway and the docs), {@link ShadowsError} for what a
 * call refuses, and the errors a task's attempt ends with by shadows' doing (a timeout, a cancel,
 * a shutdown, a strike, too many deliveries), each with its code.
 */

/** The registry: code → HTTP status, reason phrase and what the error means. */
export const ERRORS = {
  SHADOWS_ERR_VALIDATION: { status: 400, summary: 'The request is malformed or a field has a wrong value.' },
  SHADOWS_ERR_UNKNOWN_TASK: { status: 400, summary: 'No task of that name is registered.' },
  SHADOWS_ERR_INVALID_PARAMS: { status: 400, summary: "The params do not match the task's schema." },
  SHADOWS_ERR_MALFORMED_JSON: { status: 400, summary: 'The body is not valid JSON.' },
  SHADOWS_ERR_UNAUTHORIZED: { status: 401, summary: 'A valid bearer token is required.' },
  SHADOWS_ERR_FORBIDDEN: { status: 403, summary: "The token lacks the scope this route needs; without tokens, the Host or Origin is not the gateway's own." },
  SHADOWS_ERR_NOT_FOUND: { status: 404, summary: 'No such task, strike or route.' },
  SHADOWS_ERR_STRUCK: { status: 409, summary: 'A strike rule matches the task; nothing was stored.' },
  SHADOWS_ERR_ALREADY_FINISHED: { status: 409, summary: 'The task already finished (completed, failed or struck).' },
  SHADOWS_ERR_TOO_MANY_STRIKES: { status: 409, summary: 'The shadow already holds the maximum number of strikes.' },
  SHADOWS_ERR_NOT_FINISHED: { status: 409, summary: 'The task is scheduled, queued or running; only a finished task can be retried.' },
  SHADOWS_ERR_TASK_FAILED: { status: 409, summary: 'The task ended failed, cancelled or struck, without a result; the details hold its state and error.' },
  SHADOWS_ERR_WAIT_TIMEOUT: { status: 409, summary: 'The wait ended before the task finished.' },
  SHADOWS_ERR_PAYLOAD_TOO_LARGE: { status: 413, summary: 'The body is larger than the configured limit.' },
  SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The body must be application/json.' },
  SHADOWS_ERR_UNAVAILABLE: { status: 503, summary: 'Redis is unreachable; retry later.' },
  SHADOWS_ERR_CLOSED: { status: 503, summary: 'The client or worker has been closed.' },
  SHADOWS_ERR_INTERNAL: { status: 500, summary: 'An unexpected error; the log has the details.' },
} as const satisfies Record<string, { status: number; summary: string }>

/** A stable error code. */
export type ErrorCode = keyof typeof ERRORS

/** Every error code, in registry order. */
export const ERROR_CODES = Object.freeze(Object.keys(ERRORS) as ErrorCode[])

/** Base class of every error shadows throws on purpose. */
export class ShadowsError extends Error {
  /** The stable code, e.g. `SHADOWS_ERR_STRUCK`. */
  readonly code: ErrorCode
  /** HTTP status the gateway answers with. */
  readonly statusCode: number
  /** Optional machine-readable details (the field that failed validation, the matching strike, …). */
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ShadowsError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.details = details
  }
}

/** Whether `err` is a {@link ShadowsError}, optionally of one code. */
export function isShadowsError(err: unknown, code?: ErrorCode): err is ShadowsError {
  return err instanceof ShadowsError && (code === undefined || err.code === code)
}

/**
 * The codes of the errors an attempt ends with by shadows' doing, with what each means. The task's
 * record keeps the error's class name as `error.type`.
 */
export const TASK_ERRORS = {
  SHADOWS_ERR_TIMEOUT: "The attempt ran past the task's timeout; its signal fired.",
  SHADOWS_ERR_CANCELLED: 'The task was cancelled or replaced while it ran; its signal fired.',
  SHADOWS_ERR_SHUTDOWN: 'The worker shut down while the task ran; it went back on the queue.',
  SHADOWS_ERR_STRUCK: 'A strike rule matched when the worker was about to run the task; it was skipped.',
  SHADOWS_ERR_POISON_TASK: 'The task was delivered more than maxDeliveries times, its worker dying each time; it failed.',
  SHADOWS_ERR_RETRY_REQUESTED: 'The task asked to run again later (ctx.retryIn, ctx.retryAt); the next attempt waits until then.',
  SHADOWS_ERR_UNKNOWN_TASK:
    'No worker knew the task for unknownTaskTimeout while it was put back, again and again, for one that does; it failed without running.',
} as const satisfies Record<string, string>

/** A code of {@link TASK_ERRORS}. */
export type TaskErrorCode = keyof typeof TASK_ERRORS

/** An error an attempt ended with by shadows' doing; `code` says which. */
abstract class TaskEndError extends Error {
  abstract readonly code: TaskErrorCode
}

/** The error an attempt's signal carries when the task ran past its timeout. */
export class TimeoutError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_TIMEOUT'
  constructor(ms: number) {
    super(`timed out after ${ms} ms`)
    this.name = 'TimeoutError'
  }
}

/** The error an attempt's signal carries when the task was cancelled or replaced. */
export class CancelledError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_CANCELLED'
  constructor(message = 'cancelled') {
    super(message)
    this.name = 'CancelledError'
  }
}

/** The error an attempt's signal carries when its worker shuts down. */
export class ShutdownError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_SHUTDOWN'
  constructor() {
    super('the worker is shutting down; the task goes back on the queue')
    this.name = 'ShutdownError'
  }
}

/** What a struck task's record holds: the strike that matched when a worker was about to run it. */
export class StruckError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_STRUCK'
  constructor(message: string) {
    super(message)
    this.name = 'StruckError'
  }
}

/** What a poison task's record holds: it was delivered too often, its worker dying each time. */
export class PoisonTaskError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_POISON_TASK'
  constructor(message: string) {
    super(message)
    this.name = 'PoisonTaskError'
  }
}

/** What the record of a task no worker knew holds once it failed for it (see the worker's `unknownTaskTimeout`). */
export class UnknownTaskError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_UNKNOWN_TASK'
  constructor(message: string) {
    super(message)
    this.name = 'UnknownTaskError'
  }
}

/**
 * What `ctx.retryIn()` and `ctx.retryAt()` throw to end the attempt: the task runs again at `due`
 * (epoch ms), as its next attempt. The record keeps it as the attempt's error.
 */
export class RetryRequestedError extends TaskEndError {
  readonly code = 'SHADOWS_ERR_RETRY_REQUESTED'
  constructor(readonly due: number) {
    super(`the task asked to run again at ${new Date(due).toISOString()}`)
    this.name = 'RetryRequestedError'
  }
}

/**
 * Throw it from a task to fail the attempt for good: no retry, whatever the task's `retry` says
 * (a perpetual or cron task still runs its next run). The record keeps its message, and
 * `NonRetryableError` as `error.type`.
 */
export class NonRetryableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'NonRetryableError'
  }
}
