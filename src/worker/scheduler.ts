/**
 * Moves due tasks from the schedule onto the stream. It sleeps until the next due time and is woken
 * early by a push when a task that is due sooner is added: no fixed polling. Every worker runs one;
 * the move is a single Lua script, so racing schedulers never move a task twice.
 */
import { Backoff } from '../core/backoff.js'
import { moveDueTasks } from '../redis/commands.js'
import type { WorkerContext } from './context.js'

/** What a {@link Scheduler} needs from its worker, and its settings. */
export interface SchedulerContext extends Pick<WorkerContext, 'redis' | 'keys' | 'logger'> {
  /** Most tasks moved by one script call. */
  readonly batch: number
  /**
   * Longest sleep, in ms: a safety net that re-reads the schedule even when no push arrived
   * (a push can be missed while a connection is down).
   */
  readonly maxSleep: number
}

/** One worker's scheduler. */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined
  private plannedAt = Number.POSITIVE_INFINITY
  /** Earliest due time pushed since the current move began. */
  private pushedDue = Number.POSITIVE_INFINITY
  private moving: Promise<void> | undefined
  private moveAgain = false
  private stopped = true
  private readonly failures: Backoff

  constructor(private readonly options: SchedulerContext) {
    this.failures = new Backoff({ step: 100, max: 2_000, logEvery: 20, logger: options.logger, message: 'could not move due tasks; retrying' })
  }

  /** Starts moving due tasks (at once, then whenever the next one is due). */
  start(): void {
    this.stopped = false
    this.moveDueTasks()
  }

  /** Stops; a move in progress completes. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
    await this.moving
  }

  /** A task due at `due` was added (pushed by the add script): wake then if that is sooner than planned. */
  notifyDue(due: number): void {
    if (this.stopped) return
    this.pushedDue = Math.min(this.pushedDue, due)
    if (due < this.plannedAt) this.planAt(due)
  }

  /** Re-reads the schedule now, e.g. after a reconnection. */
  wake(): void {
    if (!this.stopped) this.moveDueTasks()
  }

  private planAt(due: number): void {
    clearTimeout(this.timer)
    const now = Date.now()
    const wakeAt = Math.min(due, now + this.options.maxSleep)
    this.plannedAt = wakeAt
    this.timer = setTimeout(() => this.moveDueTasks(), Math.max(0, wakeAt - now))
  }

  private moveDueTasks(): void {
    if (this.stopped) return
    if (this.moving) {
      this.moveAgain = true
      return
    }
    clearTimeout(this.timer)
    this.plannedAt = Number.POSITIVE_INFINITY
    this.pushedDue = Number.POSITIVE_INFINITY
    this.moving = this.moveUntilNoneDue().finally(() => {
      this.moving = undefined
      if (this.moveAgain) {
        this.moveAgain = false
        this.moveDueTasks()
      }
    })
  }

  private async moveUntilNoneDue(): Promise<void> {
    try {
      for (;;) {
        const { moved, next } = await moveDueTasks(this.options.redis, this.options.keys, Date.now(), this.options.batch)
        this.failures.succeeded()
        if (moved > 0) this.options.logger.debug({ moved }, 'moved due tasks to the stream')
        if (this.stopped) return
        // a full batch, or more came due meanwhile: go on at once
        if (next !== undefined && next <= Date.now()) continue
        this.planAt(Math.min(next ?? Number.POSITIVE_INFINITY, this.pushedDue))
        return
      }
    } catch (err) {
      const delay = this.failures.failed(err)
      if (!this.stopped) this.planAt(Date.now() + delay)
    }
  }
}
