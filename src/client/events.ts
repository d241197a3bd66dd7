/**
 * Reading a shadow's events log: {@link EventLog}, a reader on a connection of its own that one
 * process shares among many consumers (a gateway runs one blocking read for all its clients), and
 * {@link followEvents}, the async iterator `shadow.events()` hands out, built on one.
 */
import type { Logger } from 'pino'
import { ShadowsError, isShadowsError } from '../core/errors.js'
import { eventMatcher, isEventId, type EventFilter, type ShadowEvent } from '../core/events.js'
import { closeNow, duplicate } from '../redis/connection.js'
import { latestEventId, oldestEventId, readEventLog, type EventBatch } from '../redis/event-log.js'
import type { ShadowKeys } from '../redis/keys.js'
import type { RedisClient } from '../redis/scripts.js'
import { MAX_WAIT } from './waiters.js'

export type { EventBatch } from '../redis/event-log.js'

/** What an events reader needs of its shadow. */
export interface EventLogContext {
  readonly redis: RedisClient
  readonly keys: ShadowKeys
  readonly logger: Logger
}

/** One read of the events log. */
export interface EventReadOptions {
  /** Read the events after this id: an event's `id`, a batch's `next`, `latest()`, or `0-0` for the oldest kept. */
  readonly after: string
  /** Most events to read: 1–10,000 (default 100). */
  readonly count?: number
  /** When no event follows `after` yet, wait this many ms for one (default 0: answer at once). */
  readonly block?: number
}

/** What `shadow.events()` reads: a filter, and where to start. */
export interface EventsOptions extends EventFilter {
  /**
   * Start just after the event of this id (as with SSE's `Last-Event-ID`): nothing between is
   * missed, as long as the log still holds it (the last `eventsLimit` events), and the event
   * `since` itself is not read again. Absent: start from now, with no event of the past.
   */
  readonly since?: string
}

/** Most events one read takes. */
export const MAX_EVENT_READ = 10_000

/** How long one read of {@link followEvents} waits before it asks again (no event is missed between). */
const FOLLOW_BLOCK = 10_000

/** How many events {@link followEvents} reads at a time. */
const FOLLOW_COUNT = 100

function closedError(): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_CLOSED', 'the events reader or its shadow was closed')
}

/**
 * A reader of a shadow's events log, made by `shadow.eventLog()`. Its reads run on a connection of
 * its own, opened at the first read, so a read that waits for events holds up nothing else; one
 * read at a time (a second waits for the first). Closed by `close()` or when the shadow closes; a
 * read waiting then rejects with `SHADOWS_ERR_CLOSED`.
 *
 * ```ts
 * const log = shadow.eventLog()
 * let after = await log.latest()
 * for (;;) {
 *   const { events, next } = await log.read({ after, block: 15_000 })
 *   after = next
 *   for (const event of events) console.log(event.type)
 * }
 * ```
 */
export class EventLog {
  private connection: RedisClient | undefined
  private closed = false

  /** Made by the shadow, which closes it with itself; `closed` is told when it closes. */
  constructor(
    private readonly ctx: EventLogContext,
    private readonly onClose: (log: EventLog) => void,
  ) {}

  /** The id of the newest event, or `0-0` when the log is empty: reading after it starts from now. */
  latest(): Promise<string> {
    if (this.closed) return Promise.reject(closedError())
    return latestEventId(this.ctx.redis, this.ctx.keys)
  }

  /**
   * The id of the oldest event the log still holds, or undefined when it is empty. A reader whose
   * last id is older missed the events trimmed off meanwhile.
   */
  oldest(): Promise<string | undefined> {
    if (this.closed) return Promise.reject(closedError())
    return oldestEventId(this.ctx.redis, this.ctx.keys)
  }

  /**
   * The events after `after`, oldest first, up to `count`; when there are none yet, waits up to
   * `block` ms for some. `next` is the id to read after next time (it moves past entries of a kind
   * this version does not know, too). Throws `SHADOWS_ERR_VALIDATION` for a bad id, count or block.
   */
  async read(options: EventReadOptions): Promise<EventBatch> {
    const { after, count = 100, block = 0 } = options
    if (!isEventId(after)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'after must be an event id, <ms>-<sequence>', { field: 'after' })
    if (!Number.isInteger(count) || count < 1 || count > MAX_EVENT_READ) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `count must be an integer from 1 to ${MAX_EVENT_READ}`, { field: 'count' })
    }
    if (!Number.isInteger(block) || block < 0 || block > MAX_WAIT) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'block must be a non-negative integer (ms)', { field: 'block' })
    }
    if (this.closed) throw closedError()
    try {
      return await readEventLog(this.reader(), this.ctx.keys, after, count, block > 0 ? block : undefined)
    } catch (err) {
      if (this.closed) throw closedError()
      throw err
    }
  }

  /** Whether `close()` was called (or the shadow closed). */
  get isClosed(): boolean {
    return this.closed
  }

  /** Closes the reader's connection at once; a read waiting rejects with `SHADOWS_ERR_CLOSED`. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.connection) closeNow(this.connection)
    this.onClose(this)
  }

  private reader(): RedisClient {
    if (this.connection) return this.connection
    const connection = duplicate(this.ctx.redis)
    connection.on('error', (err: Error) => this.ctx.logger.debug({ err }, 'events reader connection error'))
    this.connection = connection
    return connection
  }
}

/**
 * The events of `log` that `filter` asks for, as they come, from just after the id `from` resolves
 * with (the `since` option, or the latest id read when the caller is asked for the events, so that
 * "now" is that moment, not the first turn of the loop); ends (and closes `log`) when the loop over
 * it breaks, or when `log` or its shadow closes. `filter` is checked by the caller.
 */
export async function* followEvents(log: EventLog, filter: EventFilter, from: Promise<string>): AsyncGenerator<ShadowEvent, void, undefined> {
  const matches = eventMatcher(filter)
  // a read that fails because the log or its shadow closed ends the loop; any other failure is thrown
  const unlessClosed = async <T>(read: Promise<T>): Promise<T | undefined> => {
    try {
      return await read
    } catch (err) {
      if (isShadowsError(err, 'SHADOWS_ERR_CLOSED')) return undefined
      throw err
    }
  }
  try {
    let after = await unlessClosed(from)
    while (after !== undefined) {
      const batch = await unlessClosed(log.read({ after, count: FOLLOW_COUNT, block: FOLLOW_BLOCK }))
      if (batch === undefined) return
      after = batch.next
      for (const event of batch.events) if (matches(event)) yield event
    }
  } finally {
    log.close()
  }
}
