/**
 * The limits of `worker.runAtMost()`: how many runs of each named task this worker may still
 * start, counting the runs that ended (completed or failed) and those running now, and when every
 * named task has ended its runs.
 */
import { ShadowsError } from '../core/errors.js'
import type { AnyTask } from '../core/task.js'

/** Outcomes (as the worker's observer hears them) that end a run: a retry or a put-back does not. */
const RUN_ENDS: ReadonlySet<string> = new Set(['completed', 'failed', 'again'])

/** Runs of each named task: allowed, running now, ended. */
interface Count {
  readonly limit: number
  running: number
  ended: number
}

/** The runs `runAtMost()` allows, and those it has seen. */
export class RunQuota {
  private readonly counts = new Map<string, Count>()
  private left: number

  /**
   * Checks `runs` against the tasks of `registry` (throws `SHADOWS_ERR_VALIDATION`); `reached` is
   * called once, when the last named task has ended its runs; `reopened` whenever an attempt that
   * did not end its run (cancelled, retried, put back) leaves room for one more run of a task that
   * had none: the tasks held back meanwhile may start again.
   */
  constructor(
    registry: ReadonlyMap<string, AnyTask>,
    runs: Readonly<Record<string, number>>,
    private readonly reached: () => void,
    private readonly reopened: () => void = () => undefined,
  ) {
    if (typeof runs !== 'object' || runs === null || Object.keys(runs).length === 0) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'runAtMost needs { taskName: runs } for at least one task')
    }
    for (const [task, limit] of Object.entries(runs)) {
      if (!registry.has(task)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `runAtMost: this worker does not run a task named ${JSON.stringify(task)}`)
      if (!Number.isInteger(limit) || limit < 1) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `runAtMost: runs of ${task} must be an integer >= 1`)
      this.counts.set(task, { limit, running: 0, ended: 0 })
    }
    this.left = this.counts.size
  }

  /** Whether one more run of `task` may start: always for a task not named. */
  admits(task: string): boolean {
    const count = this.counts.get(task)
    return count === undefined || count.running + count.ended < count.limit
  }

  /** An attempt of `task` started. */
  started(task: string): void {
    const count = this.counts.get(task)
    if (count) count.running += 1
  }

  /** An attempt of `task` ended with `outcome` (completed, failed, again, retry, cancelled, defer). */
  ended(task: string, outcome: string): void {
    const count = this.counts.get(task)
    if (!count) return
    count.running -= 1
    if (!RUN_ENDS.has(outcome)) {
      if (count.running + count.ended === count.limit - 1) this.reopened()
      return
    }
    count.ended += 1
    if (count.ended === count.limit) {
      this.left -= 1
      if (this.left === 0) this.reached()
    }
  }
}
