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

/** How often, at most, the gateway sums up the requests it answered 503 while Redis was unavailable, in ms. */
export const UNAVAILABLE_SUMMARY_EVERY = 10_000

/**
 * The log of the requests Redis's absence fails. While Redis is away every request fails alike, and
 * under load that is thousands a minute: the first is logged as an error with its cause, the ones
 * after it are counted and logged as one line every `every` ms (how many, and since when) for as
 * long as they go on. A window in which none failed ends the outage: the next failure is logged
 * whole again.
 */
export class UnavailableLog {
  private counted = 0
  private countingSince = 0
  private cancel: (() => void) | undefined

  /** `schedule` runs `fn` once after `ms` and answers how to cancel it (a timer that keeps no process alive, unless a test steps it). */
  constructor(
    private readonly logger: Pick<Logger, 'error'>,
    private readonly every: number = UNAVAILABLE_SUMMARY_EVERY,
    private readonly schedule: (fn: () => void, ms: number) => () => void = unrefTimer,
  ) {}

  /** One more request failed because Redis is unavailable; `log` is its own logger (it carries the request). */
  failed(log: Pick<Logger, 'error'>, err: unknown, code: string): void {
    if (this.cancel) {
      this.counted += 1
      return
    }
    log.error({ err, code, next: `further requests failing for want of Redis are counted, and logged every ${this.every} ms` }, 'request failed')
    this.window()
  }

  /** Logs what is counted and stops: the gateway closes. */
  close(): void {
    this.cancel?.()
    this.cancel = undefined
    this.summarize()
  }

  private window(): void {
    this.countingSince = Date.now()
    this.cancel = this.schedule(() => {
      this.cancel = undefined
      // none failed in a whole window: the outage is over
      if (this.summarize()) this.window()
    }, this.every)
  }

  /** Logs the requests counted since the window began, if any; answers whether there were. */
  private summarize(): boolean {
    if (this.counted === 0) return false
    this.logger.error(
      { code: 'SHADOWS_ERR_UNAVAILABLE', requests: this.counted, sinceMs: Date.now() - this.countingSince },
      `${this.counted} more requests failed: Redis is unavailable`,
    )
    this.counted = 0
    return true
  }
}

function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms)
  timer.unref()
  return () => clearTimeout(timer)
}
