/**
 * A worker's health, for readiness probes: whether Redis answers, asked with a bounded PING, and
 * whether the read loop makes progress. The loop reports each step to a {@link ProgressWatch}; it
 * counts as stuck once no step came within a bound, unless it said it waits for running tasks to
 * free a slot, which may rightly take as long as the tasks take.
 */
import type { RedisClient } from '../redis/scripts.js'

/** What `worker.health()` tells. */
export interface WorkerHealth {
  /** Redis answered a PING within the timeout. */
  readonly redis: boolean
  /** The read loop runs and is not stuck. */
  readonly readLoop: boolean
  /** When the read loop last made progress; null before its first step. */
  readonly lastLoopAt: Date | null
}

/** Settings of a {@link ProgressWatch}. */
export interface ProgressWatchOptions {
  /** Longest time between two steps of a loop that is not stuck, in ms. */
  readonly bound: number
  /** The clock, in ms since the epoch (default `Date.now`); tests give their own. */
  readonly now?: () => number
}

/** What a {@link ProgressWatch} tells about its loop. */
export interface LoopProgress {
  /** The loop stepped within the bound, or waits for running tasks. */
  readonly alive: boolean
  /** When the loop last stepped (ms since the epoch); undefined before its first step. */
  readonly lastStepAt: number | undefined
}

/** Tells whether a loop makes progress from the steps it reports. */
export class ProgressWatch {
  private readonly now: () => number
  private lastStepAt: number | undefined
  private waitingOnTasks = false

  constructor(private readonly options: ProgressWatchOptions) {
    this.now = options.now ?? Date.now
  }

  /** The loop made progress: a turn began, a read returned, a call was sent or answered. */
  step(): void {
    this.lastStepAt = this.now()
    this.waitingOnTasks = false
  }

  /**
   * The loop waits for a running task to free a slot: not stuck however long that takes, until its
   * next step.
   */
  waitOnTasks(): void {
    this.step()
    this.waitingOnTasks = true
  }

  /** Whether the loop is alive now, and when it last stepped. */
  progress(): LoopProgress {
    const { lastStepAt } = this
    const alive = lastStepAt !== undefined && (this.waitingOnTasks || this.now() - lastStepAt <= this.options.bound)
    return { alive, lastStepAt }
  }
}

/**
 * Whether `redis` answers a PING within `timeoutMs`. A connection that is not ready is not asked:
 * its PING would wait in the offline queue for the reconnection.
 */
export async function pingWithin(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status !== 'ready') return false
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  const answered = redis.ping().then(
    (reply) => reply === 'PONG',
    () => false,
  )
  try {
    return await Promise.race([answered, timedOut])
  } finally {
    clearTimeout(timer)
  }
}
