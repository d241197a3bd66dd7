/**
 * The gateway's live events (`GET /events`): one reader of the shadow's events log — one
 * {@link EventLog}, so one blocking Redis connection, however many clients — fanning out to every
 * Server-Sent Events client of the process, each with its own filter and a bounded buffer.
 *
 * A client without `Last-Event-ID` gets the events read after it joined. A client with one joins
 * the live feed at once (its live events held back) and first reads the log from its id up to
 * where the shared reader stood when it joined, with non-blocking reads on the shadow's main
 * connection; then the held events follow. The ids are ordered, so nothing is sent twice and
 * nothing between is missed, as long as the log still holds the id (the last `eventsLimit` events).
 *
 * The reader runs while some client is connected, and stops after its next read once none is.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { EventLog } from '../client/events.js'
import { shadowContext, type Shadow } from '../client/shadow.js'
import { Backoff } from '../core/backoff.js'
import { ShadowsError } from '../core/errors.js'
import { assertEventFilter, compareEventIds, eventMatcher, isEventId, type EventFilter } from '../core/events.js'
import { readEventLog, trimmedBefore } from '../redis/event-log.js'
import { allowIdle } from './sockets.js'
import { EventClient, outgoing } from './sse.js'

/** Default time between two keep-alive comments on an idle stream: 15 s. */
export const DEFAULT_EVENTS_KEEP_ALIVE = 15_000

/** Default most bytes that may wait to be sent to one client before it is dropped: 1 MiB. */
export const DEFAULT_EVENTS_CLIENT_BUFFER = 1024 * 1024

/** How long one read of the shared reader blocks before it asks again (no event is missed between). */
const READ_BLOCK = 10_000

/** Events per read, of the shared reader and of a catch-up. */
const READ_COUNT = 1000

/** Options of {@link EventStreams}. */
export interface EventStreamsOptions {
  readonly shadow: Shadow
  readonly logger: Logger
  /** Resolves when Redis answers; rejects with `SHADOWS_ERR_UNAVAILABLE` otherwise (the app's `pingRedis`). */
  readonly ping: () => Promise<void>
  /** Time between keep-alive comments, in ms. */
  readonly keepAlive: number
  /** Most bytes that may wait for one client; past it the client is sent a `dropped` event and closed. */
  readonly clientBuffer: number
}

/** What a client asks for: a filter, and where to resume. */
export interface StreamQuery extends EventFilter {
  /** The `Last-Event-ID` header: resume just after this event. Absent or empty: from now. */
  readonly lastEventId?: string | undefined
}

/** How many clients are connected, and how many were dropped for reading too slowly. */
export interface StreamStats {
  readonly clients: number
  readonly dropped: number
}

function shuttingDown(): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'the gateway is shutting down; retry later')
}

/** Every SSE client of one gateway, fed by one reader of the events log. */
export class EventStreams {
  private log: EventLog | undefined
  /** The id the shared reader reads after: every event up to it was offered to the clients of the time. */
  private position = '0-0'
  private running = false
  private starting: Promise<void> | undefined
  private readonly clients = new Set<EventClient>()
  private heartbeat: NodeJS.Timeout | undefined
  private closed = false
  private readonly stopping = new AbortController()
  private droppedCount = 0

  constructor(private readonly options: EventStreamsOptions) {}

  /** Clients connected now, and dropped so far. */
  get stats(): StreamStats {
    return { clients: this.clients.size, dropped: this.droppedCount }
  }

  /**
   * Serves `GET /events` on `reply`: checks the query (`SHADOWS_ERR_VALIDATION`) and that Redis
   * answers (`SHADOWS_ERR_UNAVAILABLE`) while an error can still be answered, then takes the reply
   * over, sends the headers at once and streams until the client goes, reads too slowly, or the
   * gateway closes.
   */
  async open(request: FastifyRequest, reply: FastifyReply, query: StreamQuery): Promise<void> {
    const { lastEventId, ...filter } = query
    assertEventFilter(filter)
    const since = lastEventId === undefined || lastEventId === '' ? undefined : lastEventId
    if (since !== undefined && !isEventId(since)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'Last-Event-ID must be the id of an event: <ms>-<sequence>, two 64-bit unsigned integers', {
        field: 'Last-Event-ID',
      })
    }
    if (this.closed) throw shuttingDown()
    await this.options.ping()

    const client = new EventClient(reply.raw, eventMatcher(filter), this.options.clientBuffer, (ended, why) => this.forget(ended, why))
    if (since !== undefined) client.held = []
    // joined before the reader starts or reads on: every event after `position` reaches it
    this.clients.add(client)
    try {
      await this.ensureRunning()
    } catch (err) {
      this.clients.delete(client)
      throw err
    }
    const joinedAt = this.position
    // the gateway closes a socket idle for connectionTimeout: leave room for a few keep-alive
    // comments (a client that reads nothing at all still goes: its socket times out)
    allowIdle(request, 3 * this.options.keepAlive)
    reply.hijack()
    client.start(outgoingHeaders(reply))
    this.startHeartbeat()
    if (since === undefined) {
      client.startsAt(joinedAt)
      return
    }
    // an id from the future (another Redis, a log deleted since): from now
    client.cursor = compareEventIds(since, joinedAt) > 0 ? joinedAt : since
    void this.catchUp(client, joinedAt)
  }

  /** Ends every stream, stops the reader and closes its connection. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stopping.abort()
    clearInterval(this.heartbeat)
    this.heartbeat = undefined
    for (const client of [...this.clients]) client.close('the gateway is shutting down; reconnect with Last-Event-ID')
    this.log?.close()
  }

  /** Starts the shared reader from the newest event, unless it runs. */
  private ensureRunning(): Promise<void> {
    if (this.running) return Promise.resolve()
    this.starting ??= (async () => {
      try {
        this.log ??= this.options.shadow.eventLog()
        this.position = await this.log.latest()
        if (this.closed) throw shuttingDown()
        this.running = true
        void this.run(this.log)
      } finally {
        this.starting = undefined
      }
    })()
    return this.starting
  }

  /** The shared reader: reads after `position`, offers each event to every client, while any is connected. */
  private async run(log: EventLog): Promise<void> {
    const failures = new Backoff({ step: 100, max: 2000, logEvery: 20, logger: this.options.logger, message: 'cannot read the events log; retrying' })
    while (!this.closed && this.clients.size > 0) {
      try {
        const batch = await log.read({ after: this.position, count: READ_COUNT, block: READ_BLOCK })
        failures.succeeded()
        this.position = batch.next
        for (const event of batch.events) {
          const out = outgoing(event)
          for (const client of this.clients) client.offer(out)
        }
      } catch (err) {
        if (this.closed) break
        try {
          await sleep(failures.failed(err), undefined, { signal: this.stopping.signal })
        } catch {
          break
        }
      }
    }
    this.running = false
  }

  /** Sends a resuming client the events after its cursor up to `upTo` from the log, then what was held. */
  private async catchUp(client: EventClient, upTo: string): Promise<void> {
    const { redis, keys } = shadowContext(this.options.shadow)
    try {
      let after = client.cursor ?? upTo
      // the log keeps the last eventsLimit events: a client that was away longer is told it missed some
      const oldest = await trimmedBefore(redis, keys)
      if (oldest !== undefined && compareEventIds(oldest, after) > 0 && compareEventIds(after, upTo) < 0) {
        client.notice('gap', {
          message: `events after ${after} and before ${oldest} may be missing: the log keeps the last eventsLimit events; resuming from the oldest it holds`,
          lastEventId: after,
          oldestEventId: oldest,
        })
      }
      while (!client.isEnded && compareEventIds(after, upTo) < 0) {
        const batch = await readEventLog(redis, keys, after, READ_COUNT)
        if (batch.next === after) break
        for (const event of batch.events) client.send(outgoing(event))
        after = batch.next
      }
      client.caughtUp()
    } catch (err) {
      this.options.logger.warn({ err }, 'could not read the events log for a resuming client; its stream is closed')
      client.close('could not read the events log; reconnect with Last-Event-ID')
    }
  }

  /** One timer for every client: a comment when `keepAlive` ms pass, while any client is connected. */
  private startHeartbeat(): void {
    if (this.heartbeat !== undefined || this.closed) return
    this.heartbeat = setInterval(() => {
      if (this.clients.size === 0) {
        clearInterval(this.heartbeat)
        this.heartbeat = undefined
        return
      }
      for (const client of this.clients) client.comment('keep-alive')
    }, this.options.keepAlive)
    this.heartbeat.unref()
  }

  private forget(client: EventClient, why: 'dropped' | 'gone' | 'closed'): void {
    this.clients.delete(client)
    if (why === 'dropped') {
      this.droppedCount += 1
      this.options.logger.info({ clients: this.clients.size }, 'an events client read too slowly and was dropped')
    }
  }
}

/** The headers set on the reply before it was taken over (by the hooks), for the stream's own. */
function outgoingHeaders(reply: FastifyReply): Record<string, string | number | readonly string[]> {
  const headers: Record<string, string | number | readonly string[]> = {}
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value
  return headers
}
