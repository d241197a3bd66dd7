/**
 * Every error shadows raises, with a stable code, an HTTP status and a message template,
 * in one registry used by the library, the gateway and the docs.
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
