/**
 * Runs started tasks: each as an {@link Attempt} in the slot its start took, until it ends; then
 * the outcome policy decides what to record and the outcome writer records it. The runner is also
 * where running attempts are found to abort them (cancel, shutdown).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { decideOutcome } from '../core/outcome-policy.js'
import { storeProgress, type Claim } from '../redis/commands.js'
import { Attempt, type AbortCause, type AttemptInput, type AttemptResult, type TaskHandles } from './attempt.js'
import type { WorkerContext } from './context.js'
import type { WorkerObserver } from './options.js'
import type { Outcomes } from './outcomes.js'
import type { Slots } from './slots.js'
import { endRunSpan, startRunSpan } from './tracing.js'

/** What the runner needs from its worker. */
export interface RunnerContext extends Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger' | 'eventsLimit'> {
  readonly slots: Slots
  readonly outcomes: Pick<Outcomes, 'push'>
  readonly observer: WorkerObserver | undefined
  /** Handed to every task as `ctx.shadow` and `ctx.worker`. */
  readonly handles: TaskHandles
}

/** The attempts running in one worker. */
export class AttemptRunner {
  private readonly attempts = new Map<string, Attempt>()
  private idleWaiters: (() => void)[] = []

  constructor(private readonly ctx: RunnerContext) {}

  /** Attempts running now. */
  get size(): number {
    return this.attempts.size
  }

  /** Whether the message `id` runs here now. */
  has(id: string): boolean {
    return this.attempts.has(id)
  }

  /** The claims of the attempts running now: their messages and the slots they hold. */
  *claims(): Generator<Claim> {
    for (const attempt of this.attempts.values()) yield { id: attempt.input.id, slot: attempt.input.slot }
  }

  /** The attempts running now. */
  running(): IterableIterator<Attempt> {
    return this.attempts.values()
  }

  /**
   * Runs a started task in the slot its start took, and releases the slot when the attempt ends.
   * Resolves once its outcome is handed to the outcome writer; never rejects.
   */
  run(input: AttemptInput): Promise<void> {
    const attempt = new Attempt(input, this.ctx.logger)
    this.attempts.set(input.id, attempt)
    this.ctx.observer?.taskStarted?.(input.task.name, attempt.startedAt - input.when)
    return this.execute(attempt)
  }

  /** Aborts the running attempt of `key` (stored form) whose generation is `gen`, if it runs here. */
  cancel(key: string, gen: string): void {
    for (const attempt of this.attempts.values()) {
      if (attempt.input.key === key && attempt.input.gen === gen) {
        attempt.logger.info('cancel received; aborting the running task')
        attempt.abort('cancelled')
      }
    }
  }

  /** Resolves once no attempt runs here (at once when none does). */
  whenIdle(): Promise<void> {
    if (this.attempts.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Lets running attempts finish within `gracePeriod` ms, then aborts the rest (they go back on the queue). */
  async drain(gracePeriod: number): Promise<void> {
    if (this.attempts.size > 0 && gracePeriod > 0) {
      const timer = new AbortController()
      await Promise.race([this.whenIdle(), sleep(gracePeriod, undefined, { signal: timer.signal }).catch(() => undefined)])
      timer.abort()
    }
    if (this.attempts.size === 0) return
    this.ctx.logger.warn({ running: this.attempts.size }, 'grace period over; aborting running tasks')
    this.abortAll('shutdown')
    // an aborted attempt settles at once (its outcome is recorded even if the task ignores the signal)
    await sleep(0)
  }

  /** Fires the signal of every running attempt. */
  abortAll(cause: AbortCause): void {
    for (const attempt of this.attempts.values()) attempt.abort(cause)
  }

  /** Stores a progress report of a running attempt (the record ignores it once the attempt is over). */
  private readonly reportProgress = async (attempt: Attempt, body: string): Promise<void> => {
    const { key, gen } = attempt.input
    await storeProgress(this.ctx.redis, this.ctx.keys, key, gen, this.ctx.name, body, this.ctx.eventsLimit)
  }

  private async execute(attempt: Attempt): Promise<void> {
    const { id, key, gen, slot } = attempt.input
    const { logger, outcomes, observer } = this.ctx
    if (logger.isLevelEnabled('debug')) attempt.logger.debug('task started')
    // the shadow's name, for the span: read off the handle every task gets anyway
    const span = startRunSpan(this.ctx.handles.shadow.name, attempt.input)
    let result: AttemptResult
    try {
      result = await attempt.run(this.ctx.handles, this.reportProgress, span?.context)
    } finally {
      this.attempts.delete(id)
      this.ctx.slots.release(1)
      if (this.attempts.size === 0) this.wakeIdle()
    }
    const { outcome, data, due } = decideOutcome(attempt, result, logger.isLevelEnabled('debug'))
    outcomes.push({ id, key, gen, outcome, data, due, slot })
    if (span) endRunSpan(span, result, outcome)
    observer?.taskEnded?.(attempt.input.task.name, outcome === 'again-failed' ? 'failed' : outcome, Date.now() - attempt.startedAt)
  }

  private wakeIdle(): void {
    if (this.idleWaiters.length === 0) return
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}
