/**
 * The deferrals of tasks no worker knew, as their records keep them: how often a worker put the
 * task back for one that knows it (`deferrals`, counted by finish.lua) and when it first did
 * (`unknownSince`). The start script hands them to the worker with each message it did not start
 * for that reason; this read gives the same for messages the worker read itself.
 */
import type { UnknownTaskDeferrals } from '../core/unknown-tasks.js'
import type { ShadowKeys } from './keys.js'
import type { RedisClient } from './scripts.js'

/**
 * The deferrals of the tasks of `stored` keys (stored form), in order, in one round trip; a
 * missing record reads as never deferred (its message is dropped when its outcome is written).
 */
export async function readUnknownDeferrals(redis: RedisClient, keys: ShadowKeys, stored: readonly string[]): Promise<UnknownTaskDeferrals[]> {
  const pipeline = redis.pipeline()
  for (const key of stored) pipeline.hmget(keys.task(key), 'deferrals', 'unknownSince')
  const replies = (await pipeline.exec()) ?? []
  return stored.map((_, i) => {
    const [err, fields] = replies[i] ?? [new Error('no reply')]
    if (err) throw err
    const [deferrals, since] = fields as (string | null)[]
    return { deferrals: Number(deferrals ?? 0), since: since == null ? undefined : Number(since) }
  })
}
