/**
 * The client's one error: {@link ShadowsError}, with the gateway's stable `code` when the gateway
 * answered, or one of the client's own codes when no answer of the gateway's shape came (the
 * network failed, the call timed out, something else answered).
 */
import type { ErrorAnswer, ErrorCode } from './types.js'

/** The codes the client gives itself, when the gateway's one error shape did not come back. */
export const CLIENT_ERROR_CODES = Object.freeze({
  /** No answer: the connection was refused, reset or lost (`status` 0). */
  SHADOWS_ERR_NETWORK: 'No answer from the gateway: the connection was refused, reset or lost.',
  /** The call's `timeout` passed before an answer (`status` 0). */
  SHADOWS_ERR_CLIENT_TIMEOUT: "The call's timeout passed before the gateway answered.",
  /** An answer that is not the gateway's (a proxy's page, not JSON); `status` is its status. */
  SHADOWS_ERR_UNEXPECTED_RESPONSE: "The answer is not the gateway's: not JSON, or not the shape the route answers with.",
} as const)

/** A code of {@link CLIENT_ERROR_CODES}. */
export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES

/** What the client throws for every failed call but one the caller aborted (that rejects with the signal's reason). */
export class ShadowsError extends Error {
  /** The gateway's stable code (`SHADOWS_ERR_STRUCK`, …), or one of {@link CLIENT_ERROR_CODES}. */
  readonly code: ErrorCode | ClientErrorCode
  /** The HTTP status of the answer; 0 when no answer came. */
  readonly status: number
  /** The same as {@link status}, under the name the library's `ShadowsError` and the error body use. */
  readonly statusCode: number
  /** With a 503: how long the gateway asked to wait before trying again (`Retry-After`), in ms. */
  readonly retryAfter: number | undefined

  constructor(code: ErrorCode | ClientErrorCode, status: number, message: string, options?: ErrorOptions & { retryAfter?: number | undefined }) {
    super(message, options)
    this.name = 'ShadowsError'
    this.code = code
    this.status = status
    this.statusCode = status
    this.retryAfter = options?.retryAfter
  }
}

/** Whether `err` is a {@link ShadowsError} of the client, optionally of one code. */
export function isShadowsError(err: unknown, code?: ErrorCode | ClientErrorCode): err is ShadowsError {
  return err instanceof ShadowsError && (code === undefined || err.code === code)
}

/**
 * `Retry-After` in ms: delay-seconds or an HTTP date. Undefined when absent or unreadable. A date
 * in the past is 0.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined
  const text = header.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

function isErrorAnswer(body: unknown): body is ErrorAnswer {
  if (typeof body !== 'object' || body === null) return false
  const { code, message } = body as Record<string, unknown>
  return typeof code === 'string' && code.startsWith('SHADOWS_ERR_') && typeof message === 'string'
}

/** The error for an answer that is not 2xx, from its body text: the gateway's code and message, when it is the gateway's shape. */
export function errorOfAnswer(response: Response, text: string): ShadowsError {
  const retryAfter = response.status === 503 ? retryAfterMs(response.headers.get('retry-after')) : undefined
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (isErrorAnswer(body)) return new ShadowsError(body.code, response.status, body.message, { retryAfter })
  const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text
  return new ShadowsError('SHADOWS_ERR_UNEXPECTED_RESPONSE', response.status, `HTTP ${response.status} ${response.statusText}: ${snippet}`.trim(), {
    retryAfter,
  })
}
