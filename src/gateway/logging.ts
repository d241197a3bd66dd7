/**
 * What the gateway writes to its log about a request. Never a header (an Authorization header
 * holds a bearer token) and never the query string (a client may put a token there, and the API
 * reads no query parameters anyway): only that there was one.
 */
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { redactingSerializers } from '../redis/redact.js'

/** A request as the log shows it. */
export interface LoggedRequest {
  readonly method: string
  readonly url: string
  readonly host: string | undefined
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
}

/** `url` without its query string, which shows as `?…` when there was one. */
export function withoutQuery(url: string): string {
  const question = url.indexOf('?')
  return question === -1 ? url : `${url.slice(0, question)}?…`
}

/** The `req` serializer: method, path, host and peer, nothing a client could hide a secret in. */
export function loggedRequest(request: FastifyRequest): LoggedRequest {
  return {
    method: request.method,
    url: withoutQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/**
 * The gateway's logger: a child of `base` whose `req` serializer replaces any the caller set (for
 * example pino's standard one, which logs every header), and whose `err` serializer masks Redis
 * credentials (a refused AUTH carries the password).
 */
export function gatewayLogger(base: Logger): Logger {
  return base.child({}, { serializers: { req: loggedRequest, ...redactingSerializers(base) } })
}
