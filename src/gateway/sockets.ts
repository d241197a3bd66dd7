/**
 * The sockets of long answers (a wait, an event stream).
 */
import type { FastifyRequest } from 'fastify'

/**
 * Lets the socket of a long answer stay idle for `ms`: the gateway closes a socket idle for its
 * `connectionTimeout`, which would cut such an answer short.
 */
export function allowIdle(request: FastifyRequest, ms: number): void {
  const socket = request.raw.socket as { setTimeout?: (ms: number) => unknown } | undefined
  const idle = request.server.server.timeout
  if (idle > 0 && idle < ms && typeof socket?.setTimeout === 'function') socket.setTimeout(ms)
}
