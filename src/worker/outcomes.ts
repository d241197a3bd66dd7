/**
 * Records attempt outcomes in batches: every outcome that arrives while a write is in flight goes
 * out with the next one, so a busy worker pays one round trip for many tasks.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Backoff } from '../core/backoff.js'
import { finishAttempts, type FinishOutcome } from '../redis/commands.js'
import type { WorkerContext } from './context.js'

/** One outcome for the finish script (see finish.lua for the meaning of each kind). */
export type Outcome = FinishOutcome

/** What the outcome writer needs from its worker. */
export type OutcomesContext = Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger' | 'executionTtl' | 'historyLimit' | 'eventsLimit' | 'limits'>

/** Writes one batch of outcomes; rejects when Redis did not take it (the batch is then retried). */
export type WriteOutcomes = (batch: readonly Outcome[]) => Promise<unknown>

const BATCH = 500

/** The outcome writer of one worker. */
export class Outcomes {
  private queue: Outcome[] = []
  private writing: Promise<void> | undefined
  private deadline = Number.POSITIVE_INFINITY
  private readonly write: WriteOutcomes

  /** `write` replaces the finish-script call, e.g. to watch or hold the writes. */
  constructor(
    private readonly ctx: OutcomesContext,
    write?: (batch: readonly Outcome[], finish: WriteOutcomes) => Promise<unknown>,
  ) {
    const finish: WriteOutcomes = (batch) => finishAttempts(ctx.redis, ctx.keys, ctx.name, ctx, ctx.limits.lease, batch)
    this.write = write ? (batch) => write(batch, finish) : finish
  }

  /** Queues an outcome; it is written with the next batch. */
  push(outcome: Outcome): void {
    this.queue.push(outcome)
    this.writing ??= this.writeAll()
  }

  /** The messages whose outcome is queued or being written: their tasks ran here and are over. */
  messageIds(): Set<string> {
    return new Set(this.queue.map((o) => o.id))
  }

  /** Resolves when every queued outcome is written. */
  async idle(): Promise<void> {
    while (this.writing) await this.writing
  }

  /** Writes what is queued, retrying for at most `graceMs` while Redis is unreachable. */
  async close(graceMs: number): Promise<void> {
    this.deadline = Date.now() + graceMs
    await this.idle()
  }

  /**
   * Writes until the queue is empty. It lets go of `writing` in the very step in which it finds the
   * queue empty, with no await in between: an outcome pushed a moment later starts a new write
   * instead of joining one that is already over (and staying unwritten until the next outcome).
   */
  private async writeAll(): Promise<void> {
    try {
      // let every attempt that ends in this turn of the event loop join the batch
      await new Promise((resolve) => setImmediate(resolve))
      const backoff = new Backoff({ step: 50, max: 2_000, logEvery: 20, logger: this.ctx.logger, message: 'could not record outcomes; retrying' })
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, BATCH)
        try {
          await this.write(batch)
          this.queue.splice(0, batch.length)
          backoff.succeeded()
        } catch (err) {
          if (Date.now() >= this.deadline) {
            // the messages stay pending and are redelivered: at least once, nothing lost
            this.ctx.logger.error({ err, outcomes: this.queue.length }, 'could not record outcomes before closing; the tasks will be redelivered')
            this.queue = []
            return
          }
          await sleep(backoff.failed(err))
        }
      }
    } finally {
      this.writing = undefined
    }
  }
}
