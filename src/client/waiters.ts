/**
 * Waiting for tasks to finish, woken by a push rather than by polling. The scripts that end a task
 * (finish, cancel) publish its key on the shadow's finished channel; one subscription per shadow,
 * on a connection of its own opened at the first wait, serves every waiter, however many: a waiter
 * is an entry in a map and, when it has a time limit, one timer. The subscription is dropped
 * while nobody waits (so an idle client does not hear every finish) and made again at the next wait.
 *
 * No finish is missed: a waiter reads the record once subscribed, so a task that finished between
 * the first read and the subscription is seen by that read; after a reconnection (pushes published
 * meanwhile were lost) every awaited record is read again once the subscription is back.
 */
import type { Logger } from 'pino'
import { ShadowsError } from '../core/errors.js'
import { isFinished, type TaskInfo } from '../core/records.js'
import { closeNow, subscriber } from '../redis/connection.js'
import { decodeFinished } from '../redis/events.js'
import { storedKey, type ShadowKeys } from '../redis/keys.js'
import type { RedisClient } from '../redis/scripts.js'

/** What the waiters need of their shadow. */
export interface WaitersContext {
  readonly redis: RedisClient
  readonly keys: ShadowKeys
  readonly logger: Logger
  /** Reads a task's record (by the key users know), as `get()` does. */
  read(key: string): Promise<TaskInfo | undefined>
}

/** One caller waiting for one task. */
interface Waiter {
  /** The key as users know it. */
  readonly key: string
  settled: boolean
  timer: NodeJS.Timeout | undefined
  /** Stops listening to the caller's abort signal, when it gave one. */
  release: (() => void) | undefined
  readonly resolve: (info: TaskInfo | undefined) => void
  readonly reject: (err: unknown) => void
}

/** The longest wait a timer can measure (about 24.8 days). */
export const MAX_WAIT = 2 ** 31 - 1

/** Every caller waiting for tasks of one shadow to finish. */
export class FinishWaiters {
  private connection: RedisClient | undefined
  /** Resolves once the finished channel is subscribed; undefined while nobody waits. */
  private subscription: Promise<void> | undefined
  /** Stored key → who waits for it. */
  private readonly waiting = new Map<string, Set<Waiter>>()
  private closed = false

  constructor(private readonly ctx: WaitersContext) {}

  /**
   * The record of `key` as soon as its task is finished (completed, failed, cancelled or struck),
   * or as it is when `wait` ms have passed (no limit when undefined); undefined when there is no
   * such task, or its record went while waiting. When `signal` fires the wait ends at once, as if
   * its time were up, and the waiter is forgotten (a caller that went away holds nothing).
   */
  async untilFinished(key: string, wait: number | undefined, signal?: AbortSignal): Promise<TaskInfo | undefined> {
    const first = await this.ctx.read(key)
    if (first === undefined || isFinished(first.state) || wait === 0 || signal?.aborted) return first
    if (this.closed) throw closedError()
    const stored = storedKey(key)
    return new Promise<TaskInfo | undefined>((resolve, reject) => {
      const waiter: Waiter = { key, settled: false, timer: undefined, release: undefined, resolve, reject }
      this.add(stored, waiter)
      if (wait !== undefined) waiter.timer = setTimeout(() => void this.check(stored, [waiter], true), wait)
      if (signal !== undefined) {
        const ended = () => void this.check(stored, [waiter], true)
        signal.addEventListener('abort', ended, { once: true })
        waiter.release = () => signal.removeEventListener('abort', ended)
      }
      // read again once subscribed: a finish pushed before the subscription took is seen here
      this.subscribe().then(
        () => this.check(stored, [waiter]),
        (err: unknown) => this.fail(stored, waiter, err),
      )
    })
  }

  /** Ends every wait with `SHADOWS_ERR_CLOSED` and closes the connection. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const [stored, waiters] of [...this.waiting]) for (const waiter of [...waiters]) this.fail(stored, waiter, closedError())
    if (this.connection) closeNow(this.connection)
  }

  private add(stored: string, waiter: Waiter): void {
    let waiters = this.waiting.get(stored)
    if (!waiters) this.waiting.set(stored, (waiters = new Set()))
    waiters.add(waiter)
  }

  /** Ends a wait with a record, unless it ended already. */
  private answer(stored: string, waiter: Waiter, info: TaskInfo | undefined): void {
    if (this.forget(stored, waiter)) waiter.resolve(info)
  }

  /** Ends a wait with an error, unless it ended already. */
  private fail(stored: string, waiter: Waiter, err: unknown): void {
    if (this.forget(stored, waiter)) waiter.reject(err)
  }

  /** Forgets a waiter and clears its timer, once: false when it was forgotten already. */
  private forget(stored: string, waiter: Waiter): boolean {
    if (waiter.settled) return false
    waiter.settled = true
    clearTimeout(waiter.timer)
    waiter.release?.()
    const waiters = this.waiting.get(stored)
    waiters?.delete(waiter)
    if (waiters?.size === 0) this.waiting.delete(stored)
    if (this.waiting.size === 0) this.unsubscribe()
    return true
  }

  /**
   * Reads the record once for `waiters` of one task and settles those it ends: every one when the
   * task finished or its record is gone, or when `final` (their time is up).
   */
  private async check(stored: string, waiters: readonly Waiter[], final = false): Promise<void> {
    const open = waiters.filter((w) => !w.settled)
    const [first] = open
    if (first === undefined) return
    let info: TaskInfo | undefined
    try {
      info = await this.ctx.read(first.key)
    } catch (err) {
      for (const waiter of open) this.fail(stored, waiter, err)
      return
    }
    if (final || info === undefined || isFinished(info.state)) for (const waiter of open) this.answer(stored, waiter, info)
  }

  /** Reads again the records of every task waited for whose key a pushed message names. */
  private heard(message: string): void {
    for (const stored of decodeFinished(message)) {
      const waiters = this.waiting.get(stored)
      if (waiters) void this.check(stored, [...waiters])
    }
  }

  private subscribe(): Promise<void> {
    if (this.closed) return Promise.reject(closedError())
    this.subscription ??= this.channel()
      .subscribe(this.ctx.keys.finished)
      .then(() => undefined)
    return this.subscription
  }

  /** Leaves the channel while nobody waits; the next wait subscribes again (commands keep their order). */
  private unsubscribe(): void {
    if (this.subscription === undefined || this.closed || !this.connection) return
    this.subscription = undefined
    this.connection.unsubscribe(this.ctx.keys.finished).catch((err: unknown) => this.ctx.logger.debug({ err }, 'could not leave the finished channel'))
  }

  /** The connection of the subscription, opened on first use. */
  private channel(): RedisClient {
    if (this.connection) return this.connection
    const connection = subscriber(this.ctx.redis, {
      logger: this.ctx.logger,
      what: 'finished-channel',
      onMessage: (message) => this.heard(message),
      onReconnect: () => {
        if (this.waiting.size === 0 || this.closed) return
        // pushes published while the connection was down are lost: once subscribed again (ioredis
        // subscribes too, after this), read every awaited record again
        connection.subscribe(this.ctx.keys.finished).then(
          () => {
            for (const [stored, waiters] of this.waiting) void this.check(stored, [...waiters])
          },
          (err: unknown) => this.ctx.logger.debug({ err }, 'could not subscribe to the finished channel again'),
        )
      },
    })
    this.connection = connection
    return connection
  }
}

function closedError(): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_CLOSED', 'the shadow was closed while waiting for a task')
}
