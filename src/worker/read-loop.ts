/**
 * The read loop: takes new messages from the stream through the consumer group as slots allow.
 * While work is waiting it reads with start calls that read for themselves (two in flight, so that
 * Redis works on one batch while this process runs another); when the stream is empty, with one
 * blocking read on a connection of its own, which close() interrupts.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Backoff } from '../core/backoff.js'
import { closeNow, duplicate } from '../redis/connection.js'
import { CONSUMER_GROUP } from '../redis/keys.js'
import type { RedisClient } from '../redis/scripts.js'
import type { StreamEntry } from '../redis/stream.js'
import type { WorkerContext } from './context.js'
import { ProgressWatch } from './health.js'
import type { Outcomes } from './outcomes.js'
import type { Slots } from './slots.js'
import type { Starter } from './starter.js'

/** What the read loop needs from its worker. */
export interface ReadLoopContext extends Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger'> {
  readonly slots: Slots
  readonly starter: Pick<Starter, 'startNew' | 'startDelivered'>
  readonly outcomes: Pick<Outcomes, 'idle'>
  /** Longest blocking read, in ms. */
  readonly readBlock: number
  /** Blocking read while running until finished: how often "is anything left?" is asked, in ms. */
  readonly drainCheck: number
}

/**
 * Beyond twice the longest blocking read, how long the loop may go without a step before it counts
 * as stuck, in ms: more than the longest retry delay after a failed read (2 s) plus a slow reply.
 */
const PROGRESS_MARGIN = 5_000

/** Reads one worker's new messages and has them started. */
export class ReadLoop {
  /** Whether the loop makes progress (the worker's readiness). */
  readonly progress: ProgressWatch
  private reader: RedisClient | undefined
  private stopped = false
  /** Whether the last read found the stream empty: the next read blocks. */
  private idle = true
  /** Start calls of mode read sent and not yet answered. */
  private readonly calls = new Set<Promise<unknown>>()
  private readError: Error | undefined
  private readonly readFailures: Backoff
  private pumpScheduled = false
  /** The loop's own waits while work is waiting (see untilWorkDrains). */
  private loopWaiters: (() => void)[] = []

  constructor(private readonly ctx: ReadLoopContext) {
    this.progress = new ProgressWatch({ bound: 2 * Math.max(ctx.readBlock, ctx.drainCheck) + PROGRESS_MARGIN })
    this.readFailures = new Backoff({ step: 50, max: 2_000, logEvery: 20, logger: ctx.logger, message: 'cannot read from redis; retrying' })
    // a task that ends frees a slot: one more start call may go out (once per turn of the event
    // loop, so that every task ending in this turn frees its slot first: one read for all)
    ctx.slots.onRelease(() => this.schedulePump())
  }

  /**
   * Opens the connection for blocking reads (the shared one must stay free), unless stopped: a
   * connection opened after stop() would never be closed.
   */
  openReader(): void {
    if (this.reader || this.stopped) return
    this.reader = duplicate(this.ctx.redis)
    this.reader.on('error', (err: Error) => this.ctx.logger.debug({ err }, 'reader connection error'))
  }

  /** Opens the reader (see openReader) and makes sure the consumer group exists. */
  async connect(): Promise<void> {
    this.openReader()
    await this.ensureGroup()
  }

  /** Reads nothing more; wakes the loop wherever it waits, so that it ends. */
  stop(): void {
    this.stopped = true
    this.wakeLoop()
  }

  /** Ends a blocking read in progress by closing its connection (also while it waits to reconnect). */
  disconnect(): void {
    if (this.reader) closeNow(this.reader)
  }

  /**
   * Reads and starts tasks until stopped; with `untilFinished`, also returns once nothing is
   * queued, scheduled or running in the shadow. Errors are logged and retried, never thrown.
   * Resolves once the start calls it sent have landed: nothing it read starts afterwards.
   */
  async run(untilFinished: boolean): Promise<void> {
    const { slots } = this.ctx
    const block = untilFinished ? this.ctx.drainCheck : this.ctx.readBlock
    while (!this.stopped) {
      this.progress.step()
      if (this.readError) {
        const err = this.readError
        this.readError = undefined
        await this.recoverFromReadError(err)
        continue
      }
      if (!this.idle || this.calls.size > 0) {
        // work is waiting: start calls go out as replies arrive and slots free up (see pump), and
        // the loop waits until the stream is found empty, or a call fails
        this.pump()
        await this.untilWorkDrains()
        // let every task that ends in this turn of the event loop free its slot: one read for all
        await new Promise((resolve) => setImmediate(resolve))
        continue
      }
      const free = slots.free
      if (free <= 0) {
        this.progress.waitOnTasks()
        await slots.whenFree()
        continue
      }
      try {
        if (untilFinished && (await this.isDrained())) return
        const reply = (await this.reader?.xreadgroup(
          'GROUP',
          CONSUMER_GROUP,
          this.ctx.name,
          'COUNT',
          free,
          'BLOCK',
          block,
          'STREAMS',
          this.ctx.keys.stream,
          '>',
        )) as [string, StreamEntry[]][] | null
        this.readFailures.succeeded()
        const entries = reply?.[0]?.[1] ?? []
        // fewer than asked for: the stream is empty now, so the next read blocks again; a full
        // reply means more is waiting, and reading turns to start calls that read for themselves
        this.idle = entries.length < free
        if (entries.length > 0) await this.ctx.starter.startDelivered(entries)
      } catch (err) {
        if (this.stopped) break
        await this.recoverFromReadError(err as Error)
      }
    }
    await Promise.allSettled([...this.calls])
  }

  /** Removes this worker from the consumer group when it holds no message, so the group does not grow forever. */
  async leaveGroup(): Promise<void> {
    const { redis, keys, name } = this.ctx
    // while Redis is away this would only wait for its retries to run out; the entry is harmless
    if (redis.status !== 'ready') return
    const pending = (await redis.xpending(keys.stream, CONSUMER_GROUP, '-', '+', 1, name)) as unknown[]
    if (pending.length === 0) await redis.xgroup('DELCONSUMER', keys.stream, CONSUMER_GROUP, name)
  }

  /**
   * While work is waiting, reads new messages and starts them in one script call (mode read), up
   * to two calls of half the concurrency in flight: the next call goes out as soon as a reply
   * arrives, before its tasks run, so Redis works on one batch while this process runs another.
   */
  private pump(): void {
    const chunk = Math.ceil(this.ctx.slots.capacity / 2)
    while (!this.stopped && !this.idle && !this.readError && this.calls.size < 2) {
      const taken = this.ctx.slots.tryAcquire(chunk)
      if (taken === 0) {
        // every slot is taken: with no call out, the loop waits for a task to end
        if (this.calls.size === 0) this.progress.waitOnTasks()
        return
      }
      this.progress.step()
      const call = this.ctx.starter
        .startNew(taken, (handled) => {
          this.calls.delete(call)
          this.readFailures.succeeded()
          this.progress.step()
          if (handled === 0) this.idle = true
          else this.pump()
          // the loop waits while work is waiting, and turns to blocking reads once a call found
          // the stream empty and none is out any more
          if (this.idle && this.calls.size === 0) this.wakeLoop()
        })
        .catch((err: Error) => {
          this.readError = err
        })
        .finally(() => {
          // a call that failed never replied
          if (this.calls.delete(call)) this.wakeLoop()
        })
      this.calls.add(call)
    }
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.idle || this.stopped) return
    this.pumpScheduled = true
    setImmediate(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  /** Resolves when reading turns to blocking reads (see pump), a start call fails, or the loop is stopped. */
  private untilWorkDrains(): Promise<void> {
    if (this.stopped) return Promise.resolve()
    return new Promise((resolve) => this.loopWaiters.push(resolve))
  }

  private wakeLoop(): void {
    if (this.loopWaiters.length === 0) return
    const waiters = this.loopWaiters
    this.loopWaiters = []
    for (const resolve of waiters) resolve()
  }

  private async recoverFromReadError(err: Error): Promise<void> {
    if (/NOGROUP/.test(err.message)) {
      // Redis lost the stream (restarted without persistence): make the group again, at once
      this.ctx.logger.warn('consumer group missing; creating it again')
      await this.ensureGroup().catch(() => undefined)
      return
    }
    await sleep(this.readFailures.failed(err))
  }

  /** Nothing queued, scheduled or running anywhere, and nothing of ours waiting to be recorded. */
  private async isDrained(): Promise<boolean> {
    if (this.ctx.slots.inUse > 0) return false
    await this.ctx.outcomes.idle()
    const { stream, schedule } = this.ctx.keys
    const [length, scheduled] = (await this.ctx.redis.pipeline().xlen(stream).zcard(schedule).exec()) ?? []
    return length?.[1] === 0 && scheduled?.[1] === 0
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.ctx.redis.xgroup('CREATE', this.ctx.keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err
    }
  }
}
