/**
 * A worker's claims on its messages: it renews the claim on every task it runs, so that no other
 * worker takes them over, and it takes over (reclaims) the messages of workers that stopped
 * renewing theirs because they died.
 */
import { CONSUMER_GROUP } from '../redis/keys.js'
import { renewClaims, sweepLimits, type Claim } from '../redis/commands.js'
import type { StreamEntry } from '../redis/stream.js'
import type { WorkerContext } from './context.js'

/** What the claims need from their worker. */
export interface ClaimsContext extends Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger' | 'limits'> {
  /** A message unclaimed for this long (ms) is taken over. */
  readonly redeliveryTimeout: number
  /** The claims of the tasks running now. */
  readonly running: () => Iterable<Claim>
  /** How many more tasks the worker can start now. */
  readonly freeSlots: () => number
  /** Starts the tasks of reclaimed messages. */
  readonly start: (entries: readonly StreamEntry[]) => Promise<void>
}

/** Most messages taken over at once while no slot is free. */
const RECLAIM_BATCH = 10

/** One worker's claims on its messages. */
export class Claims {
  private timers: NodeJS.Timeout[] = []
  private stopped = true
  private reclaiming: Promise<void> | undefined

  constructor(private readonly options: ClaimsContext) {}

  /** Renews every redeliveryTimeout/3 and reclaims every redeliveryTimeout/2 (at most 30 s). */
  start(): void {
    const timeout = this.options.redeliveryTimeout
    const reclaimEvery = Math.min(Math.max(Math.floor(timeout / 2), 50), 30_000)
    const renewEvery = Math.max(Math.floor(timeout / 3), 50)
    this.stopped = false
    this.timers = [setInterval(() => this.reclaim(), reclaimEvery), setInterval(() => void this.renew(), renewEvery)]
  }

  /** Stops both; resolves once a reclaim in progress has started what it took over. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    await this.reclaiming
  }

  /** Takes over tasks whose worker stopped renewing its claim (it died), and the slots they held. */
  private reclaim(): void {
    if (this.stopped || this.reclaiming) return
    this.reclaiming = Promise.all([this.reclaimAbandoned(), this.freeLapsedSlots()])
      .then(() => {})
      .finally(() => {
        this.reclaiming = undefined
      })
  }

  private async reclaimAbandoned(): Promise<void> {
    const { redis, keys, name, redeliveryTimeout, logger, freeSlots } = this.options
    const { stream } = keys
    try {
      let cursor = '0-0'
      // taken over whether or not a slot is free: they start in the next slots that free, ahead of
      // new messages (see Starter.startReclaimed), so that a busy worker does not leave them waiting
      for (let rounds = 0; rounds < 10 && !this.stopped; rounds++) {
        const count = Math.max(freeSlots(), RECLAIM_BATCH)
        const [next, entries] = (await redis.xautoclaim(stream, CONSUMER_GROUP, name, redeliveryTimeout, cursor, 'COUNT', count)) as [string, StreamEntry[]]
        if (entries.length > 0) {
          logger.warn({ count: entries.length }, 'reclaimed tasks of a worker that stopped renewing its claim')
          await this.options.start(entries)
        }
        cursor = next
        if (cursor === '0-0') break
      }
    } catch (err) {
      if (!this.stopped) logger.debug({ err }, 'reclaim failed; will try again')
    }
  }

  /** Frees the concurrency slots a dead worker held, for the tasks waiting on them. */
  private async freeLapsedSlots(): Promise<void> {
    const { redis, keys, limits, logger } = this.options
    if (limits.concurrency.size === 0) return
    try {
      const admitted = await sweepLimits(redis, keys, limits)
      if (admitted > 0) logger.info({ admitted }, 'freed the concurrency slots of a worker that stopped renewing them')
    } catch (err) {
      if (!this.stopped) logger.debug({ err }, 'slot sweep failed; will try again')
    }
  }

  /** Renews this worker's claim on its running tasks so that no other worker reclaims them. */
  private async renew(): Promise<void> {
    // every claim, each tick: the idle time Redis keeps counts from delivery, not from the start
    const claims = [...this.options.running()]
    if (claims.length === 0) return
    try {
      const { redis, keys, name, limits } = this.options
      const lost = await renewClaims(redis, keys, name, limits.lease, claims)
      if (lost.length > 0) this.options.logger.warn({ ids: lost }, 'another worker reclaimed running tasks; their outcome here will be ignored')
    } catch (err) {
      this.options.logger.warn({ err }, 'could not renew claims on running tasks')
    }
  }
}
