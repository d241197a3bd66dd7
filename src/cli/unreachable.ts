/**
 * Turns ioredis failing — giving up ("Reached the max retries per request limit …"), Redis refusing
 * the credentials, a TLS URL against a plain-text port, no answer within the connect timeout —
 * into an error line that says what the user can act on, without the password.
 */
import { isShadowsError, ShadowsError } from '../core/errors.js'
import { redisFailure, REDIS_FAILURE_MESSAGES } from '../redis/failure.js'
import { redactError, redactUrl } from '../redis/redact.js'
import type { RedisClient } from '../redis/scripts.js'
import { shadowContext, type Shadow } from '../client/shadow.js'

export { redactUrl }

/** Redis was not ready within the connect timeout; `cause` is the last connection error, if any. */
class NotReadyError extends Error {
  constructor(
    readonly waited: number,
    cause: unknown,
  ) {
    super(`no connection within ${waited} ms`, { cause })
    this.name = 'NotReadyError'
  }
}

/**
 * Resolves once `client` is ready. Rejects when it is not within `timeoutMs`, or as soon as Redis
 * refuses the credentials or the port turns out not to speak TLS: waiting would change neither.
 */
export function untilReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    let last: unknown
    const finish = (err?: unknown) => {
      clearTimeout(timer)
      client.off('ready', onReady)
      client.off('error', onError)
      if (err === undefined) resolve()
      else reject(err)
    }
    const onReady = () => finish()
    const onError = (err: unknown) => {
      last = err
      if (redisFailure(err) !== undefined) finish(err)
    }
    const timer = setTimeout(() => finish(new NotReadyError(timeoutMs, last)), timeoutMs)
    client.on('ready', onReady)
    client.on('error', onError)
  })
}

/** `err` as `SHADOWS_ERR_UNAVAILABLE` when it came from `shadow` not reaching Redis, else unchanged. */
export function explainRedisError(err: unknown, shadow: Shadow): unknown {
  redactError(err)
  const url = redactUrl(shadow.url)
  const unavailable = (message: string) => new ShadowsError('SHADOWS_ERR_UNAVAILABLE', message, undefined, { cause: err })
  const failure = redisFailure(err)
  if (failure === 'credentials') {
    return unavailable(`${REDIS_FAILURE_MESSAGES.credentials} at ${url} (${firstLine(err)}); check the user name and password in SHADOWS_URL or --url`)
  }
  if (failure === 'tls') return unavailable(`${REDIS_FAILURE_MESSAGES.tls} (${url} answers in plain text: use redis:// for it, or turn TLS on in Redis)`)
  if (err instanceof NotReadyError) {
    return err.cause === undefined
      ? unavailable(`cannot reach Redis at ${url}: no answer within ${err.waited} ms (set SHADOWS_URL or --url, or a longer --connect-timeout)`)
      : unavailable(`cannot reach Redis at ${url} within ${err.waited} ms (${firstLine(err.cause)}); set SHADOWS_URL or --url`)
  }
  if (isShadowsError(err) || shadowContext(shadow).redis.status === 'ready') return err
  return unavailable(`cannot reach Redis at ${url} (set SHADOWS_URL or --url)`)
}

/** The first line of an error's message, with any URL password masked. */
function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return redactUrl(message.split('\n')[0] ?? '')
}
