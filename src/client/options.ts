/**
 * The options of a {@link Shadow}, their defaults, and their checks.
 */
import type { Logger } from 'pino'
import { ShadowsError } from '../core/errors.js'
import type { AnyTask } from '../core/task.js'
import type { ConnectionOptions } from '../redis/connection.js'
import { isValidShadowName } from '../redis/keys.js'
import type { RedisClient } from '../redis/scripts.js'

/** Default time a finished task's record is kept: 15 minutes. */
export const DEFAULT_EXECUTION_TTL = 15 * 60_000

/** Most strike rules one shadow holds; the store stays bounded. */
export const DEFAULT_MAX_STRIKES = 1000

/** Default of `historyLimit`: most finished tasks kept listable per finished state (and per task name in it). */
export const DEFAULT_HISTORY_LIMIT = 10_000

/** Default of `eventsLimit`: most events the events log keeps. */
export const DEFAULT_EVENTS_LIMIT = 10_000

/** Options of {@link Shadow}. */
export interface ShadowOptions {
  /** Name of the queue; many shadows can share a Redis (default `shadows`). */
  readonly name?: string
  /**
   * Redis URL (default `redis://127.0.0.1:6379/0`); `redis+cluster://h:p,h:p` for a cluster;
   * `redis+sentinel://[user:password@]h:p,h:p/master-name[?sentinelPassword=…&db=N]` for the master
   * those sentinels name, followed through failovers. A malformed one throws `SHADOWS_ERR_VALIDATION`.
   */
  readonly url?: string
  /** An existing connection to use instead of `url`; `close()` leaves it open. */
  readonly redis?: RedisClient
  /** How long a finished task's record is kept, in ms (default 15 min; 0 keeps nothing). */
  readonly executionTtl?: number
  /**
   * Most finished tasks `list()` can find per finished state, and per task name in each (default
   * 10,000; 0 keeps no history); the oldest are dropped first, and none outlives its record
   * (`executionTtl`). Written by the processes that end tasks (workers, and whoever cancels): give
   * them all the same.
   */
  readonly historyLimit?: number
  /**
   * Most entries the events log keeps (default 10,000; 0 writes no events): `events({ since })`
   * resumes without a gap within that many. Written by every process that changes tasks or
   * strikes: give them all the same.
   */
  readonly eventsLimit?: number
  /** Tasks that `add(name)` may name: their params are validated on add, and other names refused. */
  readonly tasks?: readonly AnyTask[]
  readonly logger?: Logger
  readonly maxStrikes?: number
  /** Settings of the connection opened from `url`. */
  readonly connection?: ConnectionOptions
}

/** The settings of a shadow that its options fix, checked: `SHADOWS_ERR_VALIDATION` names a bad one. */
export interface ShadowSettings {
  readonly name: string
  readonly executionTtl: number
  readonly historyLimit: number
  readonly eventsLimit: number
  readonly maxStrikes: number
}

/** The settings `options` give, defaults filled in; throws `SHADOWS_ERR_VALIDATION` for a bad one. */
export function shadowSettings(options: ShadowOptions): ShadowSettings {
  const name = options.name ?? 'shadows'
  if (!isValidShadowName(name)) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `shadow name must be 1-100 chars of [A-Za-z0-9._:@-], got ${JSON.stringify(name)}`)
  }
  return {
    name,
    executionTtl: nonNegative(options.executionTtl ?? DEFAULT_EXECUTION_TTL, 'executionTtl', ' (ms)'),
    historyLimit: nonNegative(options.historyLimit ?? DEFAULT_HISTORY_LIMIT, 'historyLimit'),
    eventsLimit: nonNegative(options.eventsLimit ?? DEFAULT_EVENTS_LIMIT, 'eventsLimit'),
    maxStrikes: options.maxStrikes ?? DEFAULT_MAX_STRIKES,
  }
}

/** A count option: a non-negative integer. */
function nonNegative(value: number, name: string, unit = ''): number {
  if (!Number.isInteger(value) || value < 0) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${name} must be a non-negative integer${unit}`, { field: name })
  return value
}
