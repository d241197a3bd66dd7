/**
 * Turns ioredis giving up ("Reached the max retries per request limit …") into an error that says
 * what the user can act on.
 */
import { isShadowsError, ShadowsError } from '../errors.js'
import type { Shadow } from '../shadow.js'

/** `url` without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@')
  }
}

/** `err` as `SHADOWS_ERR_UNAVAILABLE` when it came from `shadow` not reaching Redis, else unchanged. */
export function explainRedisError(err: unknown, shadow: Shadow): unknown {
  if (isShadowsError(err) || shadow.redis.status === 'ready') return err
  return new ShadowsError('SHADOWS_ERR_UNAVAILABLE', `cannot reach Redis at ${redactUrl(shadow.url)} (set SHADOWS_URL or --url)`, undefined, { cause: err })
}
