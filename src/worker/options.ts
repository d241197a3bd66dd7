/**
 * A worker's options: what users may set, the defaults in one place, checked once and frozen.
 */
import type { Logger } from 'pino'
import { ShadowsError } from '../core/errors.js'
import type { AnyTask } from '../core/task.js'
import { assertValidTaskName } from '../core/validation.js'

/** Options of a `Worker`. */
export interface WorkerOptions {
  /** The tasks this worker runs; a message naming any other is put back for another worker. */
  readonly tasks: readonly AnyTask[]
  /** Most tasks running at once (default 10). */
  readonly concurrency?: number
  /** A task whose worker has not renewed its claim for this long (ms) is redelivered (default 300 000). */
  readonly redeliveryTimeout?: number
  /** Consumer name (default `host#pid`). */
  readonly name?: string
  /** How long `close()` lets running tasks finish before aborting them, in ms (default 30 000). */
  readonly gracePeriod?: number
  /** Heartbeat period in ms (default 2000); a worker is listed until 2.5 periods after its last beat. */
  readonly heartbeatInterval?: number
  /**
   * Delay before a task this worker does not know is offered again after its first deferral, in ms
   * (default 1000); it doubles with each deferral, up to a minute.
   */
  readonly unknownTaskDelay?: number
  /**
   * A task no worker knew for this long (ms) since it was first put back fails with
   * `SHADOWS_ERR_UNKNOWN_TASK` (default 3 600 000: one hour; 0 fails it at once).
   */
  readonly unknownTaskTimeout?: number
  /** A task delivered this many times without finishing (its worker died each time) fails (default 5). */
  readonly maxDeliveries?: number
  readonly logger?: Logger
  /** Told about every start and end, e.g. to keep metrics. */
  readonly observer?: WorkerObserver
}

/** Hooks a worker calls as tasks start and end (metrics live here, outside the engine). */
export interface WorkerObserver {
  /** A task started; `lateness` is start − when, in ms. */
  taskStarted?(task: string, lateness: number): void
  /** An attempt ended: completed, failed, retry, cancelled, struck, again (a perpetual run), defer. */
  taskEnded?(task: string, outcome: string, durationMs: number): void
}

/** Defaults of the options, and the settings users do not choose. */
export const WORKER_DEFAULTS = Object.freeze({
  concurrency: 10,
  redeliveryTimeout: 300_000,
  gracePeriod: 30_000,
  heartbeatInterval: 2_000,
  unknownTaskDelay: 1_000,
  unknownTaskTimeout: 3_600_000,
  /** Longest delay between two offers of a task no worker knows (or unknownTaskDelay, if longer). */
  unknownTaskMaxDelay: 60_000,
  maxDeliveries: 5,
  /** Longest blocking read; close() interrupts it. */
  readBlock: 5_000,
  /** Blocking read while running until finished: how often "is anything left?" is asked. */
  drainCheck: 100,
  schedulerBatch: 1_000,
  schedulerMaxSleep: 15_000,
  startBatch: 500,
  /**
   * After the grace period, how long close() still waits for what is left to tell Redis (outcomes,
   * the heartbeat, the consumer group) before giving up on it.
   */
  closeMargin: 2_000,
})

/** The numeric options, checked and with their defaults filled in. */
export interface WorkerSettings {
  readonly concurrency: number
  readonly redeliveryTimeout: number
  readonly gracePeriod: number
  readonly heartbeatInterval: number
  readonly unknownTaskDelay: number
  readonly unknownTaskTimeout: number
  readonly maxDeliveries: number
}

/** Checks the numeric options and fills in their defaults; throws `SHADOWS_ERR_VALIDATION`. */
export function workerSettings(options: WorkerOptions): WorkerSettings {
  const settings = {
    concurrency: options.concurrency ?? WORKER_DEFAULTS.concurrency,
    redeliveryTimeout: options.redeliveryTimeout ?? WORKER_DEFAULTS.redeliveryTimeout,
    gracePeriod: options.gracePeriod ?? WORKER_DEFAULTS.gracePeriod,
    heartbeatInterval: options.heartbeatInterval ?? WORKER_DEFAULTS.heartbeatInterval,
    unknownTaskDelay: options.unknownTaskDelay ?? WORKER_DEFAULTS.unknownTaskDelay,
    unknownTaskTimeout: options.unknownTaskTimeout ?? WORKER_DEFAULTS.unknownTaskTimeout,
    maxDeliveries: options.maxDeliveries ?? WORKER_DEFAULTS.maxDeliveries,
  }
  for (const [field, value] of Object.entries(settings)) {
    const min = field === 'gracePeriod' || field === 'unknownTaskDelay' || field === 'unknownTaskTimeout' ? 0 : 1
    if (!Number.isInteger(value) || value < min) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `worker ${field} must be an integer >= ${min}`)
  }
  return Object.freeze(settings)
}

/** The tasks by name; throws `SHADOWS_ERR_VALIDATION` for a missing list, a bad name or a name given twice. */
export function taskRegistry(tasks: WorkerOptions['tasks'] | undefined): ReadonlyMap<string, AnyTask> {
  if (!Array.isArray(tasks)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'Worker needs { tasks: [...] }')
  const registry = new Map<string, AnyTask>()
  for (const task of tasks as readonly AnyTask[]) {
    assertValidTaskName(task?.name)
    if (registry.has(task.name)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `task ${task.name} is registered twice`)
    registry.set(task.name, task)
  }
  return registry
}
