/**
 * Helpers of the security tests: bounds on how long something may take to settle (far above the
 * time it should take: the point is that it settles at all), and the key-hygiene check on a
 * private Redis.
 */
import type { Redis } from 'ioredis'

/** What `promise` gave, or `undefined` when `ms` passed first. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([promise.then((value) => ({ value })), bound])
  } finally {
    clearTimeout(timer)
  }
}

/** Task records of finished tasks of shadow `name` in `redis` that have no TTL (should be none). */
export async function leakedKeysIn(redis: Redis, name: string): Promise<string[]> {
  const leaked: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${name}}:task:*`, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      const state = await redis.hget(key, 'state')
      const live = state === 'scheduled' || state === 'queued' || state === 'running'
      if (!live && (await redis.pttl(key)) < 0) leaked.push(key)
    }
  } while (cursor !== '0')
  return leaked
}
