/**
 * Records attempt outcomes in batches: every outcome that arrives while a write is in flight goes
 * out with the next one, so a busy worker pays one round trip for many tasks.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { CONSUMER_GROUP } from '../redis/keys.js'
import { runScript } from '../redis/scripts.js'
import type { Shadow } from '../client/shadow.js'

/** One outcome for the finish script (see finish.lua for the meaning of each kind). */
export interface Outcome {
  readonly id: string
  readonly key: string
  readonly gen: string
  readonly outcome: 'completed' | 'failed' | 'cancelled' | 'struck' | 'retry' | 'again' | 'again-failed' | 'defer'
  readonly data: string
  /** Due time for retry, again and defer; 0 otherwise. */
  readonly due: number
}

const BATCH = 500

export class Outcomes {
  private queue: Outcome[] = []
  private writing: Promise<void> | undefined
  private deadline = Number.POSITIVE_INFINITY

  constructor(
    private readonly shadow: Shadow,
    private readonly worker: string,
    private readonly logger: Logger,
  ) {}

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
      let failures = 0
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, BATCH)
        try {
          await this.write(batch)
          this.queue.splice(0, batch.length)
          failures = 0
        } catch (err) {
          failures += 1
          if (Date.now() >= this.deadline) {
            // the messages stay pending and are redelivered: at least once, nothing lost
            this.logger.error({ err, outcomes: this.queue.length }, 'could not record outcomes before closing; the tasks will be redelivered')
            this.queue = []
            return
          }
          if (failures === 1 || failures % 20 === 0) this.logger.warn({ err, failures }, 'could not record outcomes; retrying')
          await sleep(Math.min(50 * failures, 2000))
        }
      }
    } finally {
      this.writing = undefined
    }
  }

  private async write(batch: readonly Outcome[]): Promise<void> {
    const { keys, redis, executionTtl } = this.shadow
    const args: (string | number)[] = [CONSUMER_GROUP, this.worker, Date.now(), executionTtl, keys.events, keys.taskPrefix]
    for (const o of batch) args.push(o.id, o.key, o.gen, o.outcome, o.data, o.due)
    await runScript(redis, 'finish', [keys.stream, keys.schedule], args)
  }
}
