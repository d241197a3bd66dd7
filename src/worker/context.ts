/**
 * What the parts of a worker share, and nothing more: the shadow's connection and keys, the
 * worker's name and logger, and the process's copy of the strike rules. Each part takes the few of
 * these it needs (a `Pick` of {@link WorkerContext}) plus its own settings, never the Worker or the
 * Shadow themselves; only worker.ts, which wires the parts, knows those.
 */
import type { Logger } from 'pino'
import type { ShadowKeys } from '../redis/keys.js'
import type { WorkerLimits } from '../redis/limits.js'
import type { RedisClient } from '../redis/scripts.js'
import type { StrikeCopy } from '../redis/strike-copy.js'

/** The minimal interface the parts of a worker need from their worker and its shadow. */
export interface WorkerContext {
  /** The shadow's shared connection (blocking reads and pub/sub use connections of their own). */
  readonly redis: RedisClient
  readonly keys: ShadowKeys
  /** The worker's name: its consumer name in the group, and the name its records carry. */
  readonly name: string
  /** The worker's logger (it carries `worker`). */
  readonly logger: Logger
  /** The strike rules as this process last read them. */
  readonly strikes: StrikeCopy
  /** How long a finished task's record is kept, in ms. */
  readonly executionTtl: number
  /** Most tasks each history index keeps (0: no history). */
  readonly historyLimit: number
  /** Most entries the events log keeps (0: no events). */
  readonly eventsLimit: number
  /** The limits of the worker's tasks, for the scripts that enforce them. */
  readonly limits: WorkerLimits
}
