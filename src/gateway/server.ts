/**
 * Listening: the only place the gateway binds a port. Without tokens it serves on a loopback
 * address only.
 */
import type { FastifyInstance } from 'fastify'
import { ShadowsError } from '../core/errors.js'
import { isLoopback } from './auth.js'

/** Where and how to listen. */
export interface ListenOptions {
  readonly host: string
  readonly port: number
  /**
   * Whether tokens are configured; without them only loopback hosts are allowed. The app must agree:
   * `true` for an app built without tokens still refuses a non-loopback host.
   */
  readonly authenticated: boolean
}

/** Listens; refuses a non-loopback host when no tokens are configured. Returns the address. */
export async function listen(app: FastifyInstance, options: ListenOptions): Promise<string> {
  const authenticated = options.authenticated && app.authenticated === true
  if (!authenticated && !isLoopback(options.host)) {
    throw new ShadowsError(
      'SHADOWS_ERR_VALIDATION',
      `refusing to listen on ${options.host} without authentication: set SHADOWS_TOKENS (e.g. "s3cret-token:enqueue,read;0ps-token:ops") or --tokens, or listen on 127.0.0.1`,
    )
  }
  return app.listen({ host: options.host, port: options.port })
}
