/**
 * The only module that names Redis keys and channels.
 *
 * Every key of one shadow starts with the hash tag `{name}`, so that all of them land in one
 * Redis Cluster slot and every Lua script may touch any of them. Task records live under their
 * own `task:` namespace, so no user-chosen task key can collide with an internal key.
 */

/** Name of the consumer group that every worker of a shadow joins. */
export const CONSUMER_GROUP = 'workers'

/** The Redis keys and pub/sub channel of one shadow. */
export interface ShadowKeys {
  /** Stream of queued and running tasks, read through the consumer group {@link CONSUMER_GROUP}. */
  readonly stream: string
  /** Sorted set of scheduled task keys, scored by due time in epoch milliseconds. */
  readonly schedule: string
  /** Hash of strike id → rule (JSON). */
  readonly strikes: string
  /** Counter bumped on every strike change; adds and starts compare it with their local copy. */
  readonly strikesVersion: string
  /** Sorted set of worker name → last heartbeat (epoch ms). */
  readonly workers: string
  /** Pub/sub channel: schedule wake-ups, cancellations, strike changes. */
  readonly events: string
  /** The hash holding one task's record. */
  task(key: string): string
  /** Prefix shared by every task record, for scans. */
  readonly taskPrefix: string
  /** The hash holding one worker's heartbeat details; it expires when the worker stops beating. */
  worker(workerName: string): string
}

const NAME_PATTERN = /^[A-Za-z0-9._:@-]{1,100}$/

/** Whether `name` is usable as a shadow name (it becomes part of every key). */
export function isValidShadowName(name: string): boolean {
  return NAME_PATTERN.test(name)
}

/** Builds the key names of the shadow called `name`. */
export function shadowKeys(name: string): ShadowKeys {
  const tag = `{${name}}`
  return Object.freeze({
    stream: `${tag}:stream`,
    schedule: `${tag}:schedule`,
    strikes: `${tag}:strikes`,
    strikesVersion: `${tag}:strikes:version`,
    workers: `${tag}:workers`,
    events: `${tag}:events`,
    taskPrefix: `${tag}:task:`,
    task: (key: string) => `${tag}:task:${key}`,
    worker: (workerName: string) => `${tag}:worker:${workerName}`,
  })
}
