/**
 * Recovery after a reconnection, and the guard on every start of a message this worker already
 * held: a push missed while the connection was down, or a start reply lost with it, must neither
 * leave a task running that was cancelled nor leave a delivered task running nowhere, and must
 * never run twice a task that ran here.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Backoff } from '../core/backoff.js'
import { isRedisUnavailable } from '../redis/failure.js'
import { CONSUMER_GROUP } from '../redis/keys.js'
import type { StreamEntry } from '../redis/stream.js'
import type { WorkerContext } from './context.js'
import type { Outcomes } from './outcomes.js'
import type { AttemptRunner } from './runner.js'
import type { Starter } from './starter.js'

/** What recovery needs from its worker. */
export interface RecoveryContext extends Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger'> {
  readonly runner: Pick<AttemptRunner, 'has' | 'running'>
  readonly outcomes: Pick<Outcomes, 'messageIds'>
  readonly starter: Pick<Starter, 'startReclaimed'>
}

/** Puts one worker's own messages back in order after a reconnection. */
export class Recovery {
  private stopped = false
  /** The recovery under way, if any (see recoverOwnPending). */
  private recovering: Promise<void> | undefined
  private recoverAgain = false

  constructor(private readonly ctx: RecoveryContext) {}

  /** Recovers nothing more. */
  stop(): void {
    this.stopped = true
  }

  /**
   * Starts messages this worker holds but runs nowhere: taken over from a dead worker (claims), or
   * pending after a reconnection. Messages it runs or ran are left alone (see notRunHere).
   */
  async startTakenOver(entries: readonly StreamEntry[]): Promise<void> {
    await this.ctx.starter.startReclaimed(this.notRunHere(entries))
  }

  /**
   * After a reconnection: messages delivered to this worker whose start reply was lost with the
   * connection, or that it reclaimed and had not started, sit in its pending list, running
   * nowhere. Start them now rather than after the redelivery timeout.
   */
  async recoverOwnPending(): Promise<void> {
    // one recovery at a time; a reconnection during one has it look once more when it is done
    if (this.recovering) {
      this.recoverAgain = true
      return this.recovering
    }
    this.recovering = (async () => {
      do {
        this.recoverAgain = false
        await this.recoverOnce()
      } while (this.recoverAgain && !this.stopped)
    })().finally(() => {
      this.recovering = undefined
    })
    return this.recovering
  }

  /**
   * One look at the pending list, tried again while Redis cannot serve it: a new master may refuse
   * writes for a while after a failover (`NOREPLICAS` until a replica joins it), and XREADGROUP is
   * a write. Giving up would leave those tasks for the redelivery timeout.
   */
  private async recoverOnce(): Promise<void> {
    const { redis, keys, name, logger } = this.ctx
    const failures = new Backoff({ step: 100, max: 2_000, logEvery: 20, logger, message: 'could not look at pending tasks after reconnecting; retrying' })
    while (!this.stopped) {
      try {
        const reply = (await redis.xreadgroup('GROUP', CONSUMER_GROUP, name, 'COUNT', 1000, 'STREAMS', keys.stream, '0')) as [string, StreamEntry[]][] | null
        const entries = this.notRunHere(reply?.[0]?.[1] ?? [])
        if (entries.length === 0) return
        logger.info({ count: entries.length }, 'starting tasks whose start was cut off by the disconnection')
        // as reclaimed: some may be messages this worker took over from a dead one and had not
        // started yet, whose record still names the dead worker
        await this.ctx.starter.startReclaimed(entries)
        return
      } catch (err) {
        if (!isRedisUnavailable(err)) {
          logger.debug({ err }, 'could not look at pending tasks after reconnecting; they will be redelivered')
          return
        }
        // what started before the failure runs here now, and notRunHere leaves it alone next time
        await sleep(failures.failed(err), undefined, { ref: false })
      }
    }
  }

  /**
   * After a reconnection: a cancellation published while the subscriber was away never arrived.
   * Aborts the attempts whose record no longer runs them: cancelled, replaced or gone.
   */
  async recheckRunning(): Promise<void> {
    const attempts = [...this.ctx.runner.running()]
    if (this.stopped || attempts.length === 0) return
    const { redis, keys } = this.ctx
    try {
      const pipeline = redis.pipeline()
      for (const attempt of attempts) pipeline.hmget(keys.task(attempt.input.key), 'gen', 'state')
      const replies = (await pipeline.exec()) ?? []
      attempts.forEach((attempt, i) => {
        const [err, fields] = replies[i] ?? []
        if (err || !Array.isArray(fields)) return
        const [gen, state] = fields as (string | null)[]
        if (gen === attempt.input.gen && state !== 'cancelled') return
        attempt.logger.info('cancelled or replaced while disconnected; aborting the running task')
        attempt.abort('cancelled')
      })
    } catch (err) {
      this.ctx.logger.debug({ err }, 'could not check running tasks after reconnecting')
    }
  }

  /**
   * The messages pending for this worker that it is not running and has not run: a task that ran
   * here stays pending until its outcome is written (perhaps only once Redis is back), and its
   * record still says running on this worker, so a start of it, recovered or reclaimed from
   * ourselves, would run it twice.
   */
  private notRunHere(entries: readonly StreamEntry[]): StreamEntry[] {
    const ended = this.ctx.outcomes.messageIds()
    return entries.filter(([id]) => !this.ctx.runner.has(id) && !ended.has(id))
  }
}
