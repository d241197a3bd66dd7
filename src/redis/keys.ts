/**
 * The only module that names Redis keys and channels.
 *
 * Every key of one shadow starts with the hash tag `{name}`, so that all of them land in one
 * Redis Cluster slot and every Lua script may touch any of them. Task records live under their
 * own `task:` namespace, so no user-chosen task key can collide with an internal key.
 */
import { randomFillSync } from 'node:crypto'
import type { FinishedState } from '../core/records.js'

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
  /** Token replaced on every strike change; adds and starts compare it with their local copy's. */
  readonly strikesVersion: string
  /** The last strike change, as pushed (see redis/strike-changes.ts); absent when there are no strikes. */
  readonly strikesChange: string
  /** Sorted set of worker name → when its heartbeat expires (epoch ms): the last beat plus its lifetime. */
  readonly workers: string
  /** Pub/sub channel: schedule wake-ups, cancellations, strike changes. */
  readonly events: string
  /**
   * Pub/sub channel of finished tasks: each message names the tasks a script just ended. Apart from
   * {@link events}, so that workers do not hear a message per finished task.
   */
  readonly finished: string
  /**
   * Stream of every transition (added, started, …, strike, restore), keeping the last `eventsLimit`
   * events; each entry holds the events of one script call (see event-log.ts).
   */
  readonly eventLog: string
  /** How many events the log was ever given: `{eventLog}:count`, which the scripts trim the log by. */
  readonly eventCount: string
  /**
   * Prefix of the history indexes: `{prefix}{state}` is the stream of the tasks that ended in that
   * finished state (entries of up to 100 stored keys with the time they ended, see lua/shared.lua),
   * and `{prefix}{state}:{task}` the same for one task name. Scripts build the names from it, as they
   * build record keys from `taskPrefix`, and the hash of how many tasks each index was ever given:
   * the prefix without its last ":" (`{name}:ended`), index name after the prefix → count.
   */
  readonly historyPrefix: string
  /** The history index of one finished state, or of one task name in that state. */
  history(state: FinishedState, task?: string): string
  /** The hash holding one task's record; `key` is the stored form ({@link storedKey}). */
  task(key: string): string
  /** Prefix shared by every task record, for scans. */
  readonly taskPrefix: string
  /**
   * Prefix of the throttle windows: `{prefix}{key}` (the key's stored form) is a string that lives
   * `throttle` ms after an add with `throttle` stored that key (a PX TTL), holding the due time and
   * task name of that add. The add script builds the names from it, as it builds record keys.
   */
  readonly throttlePrefix: string
  /** The throttle window of one task key; `key` is the stored form ({@link storedKey}). */
  throttle(key: string): string
  /**
   * Prefix of the concurrency slots: `{prefix}{group}` is the sorted set of the stream ids of the
   * attempts holding a slot of a limit group (see src/redis/limits.ts) → when their lease ends.
   */
  readonly slotPrefix: string
  /** Prefix of the tasks waiting for a slot: `{prefix}{group}`, stored key → its place in line (its stream id as ms × 1000 + sequence). */
  readonly waitingPrefix: string
  /** Sorted set of the limit groups that have tasks waiting → when the sweep looks at them again. */
  readonly limits: string
  /** Prefix of the rate windows: `{prefix}{group}`, the starts (and reserved starts) → their time. */
  readonly ratePrefix: string
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
    strikesChange: `${tag}:strikes:change`,
    workers: `${tag}:workers`,
    events: `${tag}:events`,
    finished: `${tag}:finished`,
    eventLog: `${tag}:events:log`,
    eventCount: `${tag}:events:log:count`,
    historyPrefix: `${tag}:ended:`,
    history: (state: FinishedState, task?: string) => (task === undefined ? `${tag}:ended:${state}` : `${tag}:ended:${state}:${task}`),
    taskPrefix: `${tag}:task:`,
    task: (key: string) => `${tag}:task:${key}`,
    throttlePrefix: `${tag}:throttle:`,
    throttle: (key: string) => `${tag}:throttle:${key}`,
    slotPrefix: `${tag}:slots:`,
    waitingPrefix: `${tag}:waiting:`,
    limits: `${tag}:limits`,
    ratePrefix: `${tag}:rate:`,
    worker: (workerName: string) => `${tag}:worker:${workerName}`,
  })
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
/** Marks a compacted UUID; a valid task key never holds it (see `isValidKey`). */
const COMPACT = '~'

/**
 * The form a task key takes inside Redis: in the record's key, the schedule and stream entries.
 *
 * A lowercase UUID — the key shadows makes up when none is given — is stored as `~` and its 16
 * bytes in base64url (23 characters instead of 36), which saves about 30 bytes of Redis memory per
 * task, since the key appears twice. Every other key is stored as it is. `userKey` reverses it.
 */
export function storedKey(key: string): string {
  return key.length === 36 && UUID.test(key) ? COMPACT + Buffer.from(key.replaceAll('-', ''), 'hex').toString('base64url') : key
}

/** The task key as users know it, from its stored form ({@link storedKey}). */
export function userKey(stored: string): string {
  return stored.startsWith(COMPACT) ? dashed(Buffer.from(stored.slice(1), 'base64url').toString('hex')) : stored
}

/** A UUID's 32 hex digits in their usual 8-4-4-4-12 groups. */
function dashed(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const POOL_KEYS = 256
let pool = Buffer.alloc(0)
let offset = 0

/**
 * A new random key for a task added without one: a version 4 UUID, and its stored form. Both are
 * made from the same 16 random bytes, drawn from a pool filled 256 keys at a time, so the hot path
 * of batch adds neither formats a UUID twice nor parses one back.
 */
export function newTaskKey(): [key: string, stored: string] {
  if (offset === pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(16 * POOL_KEYS))
    offset = 0
  }
  const at = offset
  offset += 16
  pool[at + 6] = ((pool[at + 6] as number) & 0x0f) | 0x40 // version 4
  pool[at + 8] = ((pool[at + 8] as number) & 0x3f) | 0x80 // RFC 4122 variant
  return [dashed(pool.toString('hex', at, at + 16)), COMPACT + pool.toString('base64url', at, at + 16)]
}
