/**
 * One error shape for every answer that is not a success, including what Fastify rejects by
 * itself: `{ statusCode, code, error, message }`.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ERRORS, isShadowsError, type ErrorCode } from '../core/errors.js'
import { ErrorBody } from './contract.js'
import { isRedisUnavailable } from '../redis/failure.js'
import { UnavailableLog } from './logging.js'

/** Seconds a client is told to wait when Redis is unreachable. */
export const RETRY_AFTER_SECONDS = 2

/** The JSON body of an error answer. */
export function errorBody(
  code: ErrorCode,
  message: string,
  statusCode: number = ERRORS[code].status,
): { statusCode: number; code: ErrorCode; error: string; message: string } {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

/** Fastify's own error codes, mapped to ours. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'SHADOWS_ERR_MALFORMED_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'SHADOWS_ERR_MALFORMED_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'SHADOWS_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'SHADOWS_ERR_VALIDATION',
  FST_ERR_CTP_INVALID_TYPE: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_BAD_URL: 'SHADOWS_ERR_VALIDATION',
  FST_ERR_MAX_PARAM_LENGTH: 'SHADOWS_ERR_VALIDATION',
  FST_ERR_VALIDATION: 'SHADOWS_ERR_VALIDATION',
}

/** Clearer messages than Fastify's own, by Fastify code. */
const FASTIFY_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_MAX_PARAM_LENGTH: 'a path parameter is too long (a key is 1-200 chars of [A-Za-z0-9._:@-])',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the body must be JSON, sent with Content-Type: application/json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty but Content-Type is application/json',
}

/** Our code for a client error (4xx) some library raised with only a status. */
function clientErrorCode(status: number): ErrorCode {
  if (status === 401) return 'SHADOWS_ERR_UNAUTHORIZED'
  if (status === 403) return 'SHADOWS_ERR_FORBIDDEN'
  if (status === 404) return 'SHADOWS_ERR_NOT_FOUND'
  if (status === 413) return 'SHADOWS_ERR_PAYLOAD_TOO_LARGE'
  if (status === 415) return 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE'
  return 'SHADOWS_ERR_VALIDATION'
}

/** What {@link classify} makes of an error: our code, a message safe to show, and the status. */
export interface Classified {
  readonly code: ErrorCode
  readonly message: string
  /** The HTTP status: the code's own, or the 4xx a library chose (416, 405, …). */
  readonly status: number
}

/** Classifies any error into our code, a message safe to show and a status. */
export function classify(err: unknown): Classified {
  const as = (code: ErrorCode, message: string): Classified => ({ code, message, status: ERRORS[code].status })
  if (isShadowsError(err)) return as(err.code, err.message)
  const e = err as FastifyError & { status?: unknown }
  if (e?.validation) return as('SHADOWS_ERR_VALIDATION', e.message)
  const mapped = e?.code ? FASTIFY_CODES[e.code] : undefined
  if (mapped) return as(mapped, FASTIFY_MESSAGES[e.code as string] ?? e.message)
  if (e?.statusCode === 408) return as('SHADOWS_ERR_VALIDATION', 'the request body did not arrive in time')
  // a client error a library raised (the static files refuse a path with 403, a range with 416):
  // the client's fault, so its status stands; the message is the reason phrase, since a library's
  // own message may name paths on this machine
  const status = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.status === 'number' ? e.status : undefined
  if (status !== undefined && status >= 400 && status < 500) {
    const code = clientErrorCode(status)
    const message =
      status === 400 || status === 404 || status === 413 || status === 415 ? e.message : `the request was refused: ${STATUS_CODES[status] ?? status}`
    return { code, message, status }
  }
  if (isRedisUnavailable(e)) return as('SHADOWS_ERR_UNAVAILABLE', 'Redis is unreachable; retry later')
  return as('SHADOWS_ERR_INTERNAL', 'an unexpected error occurred; the gateway log has the details')
}

/** Sends an error answer (with Retry-After when Redis is away); `status` overrides the code's own. */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string, status: number = ERRORS[code].status): FastifyReply {
  if (code === 'SHADOWS_ERR_UNAVAILABLE') reply.header('retry-after', String(RETRY_AFTER_SECONDS))
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(errorBody(code, message, status))
}

/**
 * The one error shape everywhere: the error and not-found handlers, and the Error schema the
 * routes' error responses refer to.
 */
export const errorRepliesPlugin = fp(
  async (app) => {
    installErrorHandlers(app)
    app.addSchema(ErrorBody)
  },
  { name: 'shadows-error-replies' },
)

/** Installs the error and not-found handlers. */
function installErrorHandlers(app: FastifyInstance): void {
  // while Redis is away, every request fails alike: not a line each (see UnavailableLog)
  const unavailable = new UnavailableLog(app.log)
  app.addHook('onClose', async () => unavailable.close())
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { code, message, status } = classify(err)
    if (code === 'SHADOWS_ERR_UNAVAILABLE') unavailable.failed(request.log, err, code)
    else if (status >= 500) request.log.error({ err, code }, 'request failed')
    else request.log.info({ code, status, reason: message }, 'request refused')
    return sendError(reply, code, message, status)
  })
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendError(reply, 'SHADOWS_ERR_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
  )
}

/** What Node's HTTP server reports on `clientError`, by code, as we tell the client. */
function clientErrorMessage(code: string | undefined, requestTimeout: number): string {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return `the request did not arrive within ${requestTimeout} ms`
  if (code === 'HPE_HEADER_OVERFLOW') return 'the request headers are too large'
  return 'the HTTP request is malformed (e.g. bytes that are not allowed in a path or header)'
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused, or one that did not arrive
 * within the request timeout, answered on the raw socket in the one error shape, then the
 * connection closed. The error's raw packet is never logged: it may hold an Authorization header.
 */
export function answerClientError(this: FastifyInstance, err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const message = clientErrorMessage(err.code, this.server.requestTimeout)
  this.log.debug({ code: err.code, reason: message }, 'client error')
  // a response already under way (its headers sent) cannot be followed by another
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify(errorBody('SHADOWS_ERR_VALIDATION', message))
    socket.write(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy(err)
}
