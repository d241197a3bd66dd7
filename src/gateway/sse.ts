/**
 * One Server-Sent Events client of the gateway: the wire format of an event, the bound on what may
 * wait to be sent to it, and how it ends. {@link EventStreams} feeds every client from one reader.
 */
import type { ServerResponse } from 'node:http'
import { compareEventIds, type ShadowEvent } from '../core/events.js'

/** The `data:` of an event: `{ type, key, task, at, attempt?, state?, error?, progress?, strike? }`. */
function eventData(event: ShadowEvent): Record<string, unknown> {
  const at = event.at.toISOString()
  if ('strike' in event) return { type: event.type, ...(event.task !== undefined ? { task: event.task } : {}), at, strike: event.strike }
  return {
    type: event.type,
    key: event.key,
    task: event.task,
    at,
    ...(event.attempt !== undefined ? { attempt: event.attempt } : {}),
    state: event.state,
    ...(event.error !== undefined ? { error: event.error } : {}),
    ...(event.progress !== undefined ? { progress: event.progress } : {}),
  }
}

/** An event as SSE lines: `id:`, `event:`, one `data:` line of JSON (JSON text holds no raw newline). */
function formatEvent(event: ShadowEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(eventData(event))}\n\n`
}

/** An event with its SSE text, formatted once for every client it goes to. */
export interface OutgoingEvent {
  readonly event: ShadowEvent
  readonly text: string
}

/** `event` ready for the wire. */
export function outgoing(event: ShadowEvent): OutgoingEvent {
  return { event, text: formatEvent(event) }
}

/** How long a dropped or closed client may take to read its last bytes before its socket is destroyed. */
const LINGER = 10_000

/** One SSE response, written as events come; ends once, whatever ends it. */
export class EventClient {
  /** The id of the last event this client was offered (sent or filtered out): later ones only. */
  cursor: string | undefined
  /** While the client catches up from its Last-Event-ID: the live events that came meanwhile. */
  held: OutgoingEvent[] | undefined
  /** The bytes the held events that pass the filter will take. */
  private heldBytes = 0
  private ended = false

  /**
   * `res` is the hijacked response, headers not written yet; `limit` the most bytes that may wait
   * for the client before it is dropped; `onEnd` is told once when the stream ends for any reason.
   */
  constructor(
    private readonly res: ServerResponse,
    private readonly matches: (event: ShadowEvent) => boolean,
    private readonly limit: number,
    private readonly onEnd: (client: EventClient, why: 'dropped' | 'gone' | 'closed') => void,
  ) {
    res.once('close', () => this.finish('gone'))
    res.on('error', () => this.finish('gone'))
  }

  /** Whether the stream is over. */
  get isEnded(): boolean {
    return this.ended
  }

  /** Writes the status and headers at once (so the client knows it is connected before any event). */
  start(headers: Record<string, string | number | readonly string[]>): void {
    this.res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      // a stream ends only on purpose (a drop, a shutdown): the socket goes with it
      connection: 'close',
    })
    this.res.flushHeaders()
  }

  /** Sends the event when the filter keeps it, unless it is not after the cursor; moves the cursor. */
  send(out: OutgoingEvent): void {
    const { event } = out
    if (this.ended || (this.cursor !== undefined && compareEventIds(event.id, this.cursor) <= 0)) return
    this.cursor = event.id
    if (this.matches(event)) this.write(out.text)
  }

  /** A live event: held while the client catches up, sent otherwise. */
  offer(out: OutgoingEvent): void {
    if (this.held === undefined) return this.send(out)
    this.held.push(out)
    // what is held waits for this client as much as what is buffered
    if (this.matches(out.event)) this.heldBytes += Buffer.byteLength(out.text)
    if (this.res.writableLength + this.heldBytes > this.limit) this.drop()
  }

  /** Ends the catch-up: the held events after the cursor are sent, then events flow live. */
  caughtUp(): void {
    const held = this.held ?? []
    this.held = undefined
    this.heldBytes = 0
    for (const out of held) this.send(out)
  }

  /**
   * An event of the stream itself, not of the log (a `gap` in what a resuming client missed): no
   * `id:`, so a client's Last-Event-ID stays on the last event of the log it saw.
   */
  notice(type: string, data: Record<string, unknown>): void {
    if (!this.ended) this.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`)
  }

  /**
   * Where the stream starts, for a client that did not resume from an event: an `id:` line without
   * data. No event is dispatched, but the client's Last-Event-ID becomes `id` (as the HTML standard
   * reads the format), so a connection lost before the first event resumes from here rather than
   * from whenever it reconnects.
   */
  startsAt(id: string): void {
    if (!this.ended) this.write(`id: ${id}\n\n`)
  }

  /** A comment line (proxies see traffic; clients ignore it); skipped while bytes still wait. */
  comment(text: string): void {
    if (!this.ended && this.res.writableLength === 0) this.write(`: ${text}\n\n`)
  }

  /** Ends the stream (the gateway closes, or the catch-up failed); a client that cannot take it now is cut off. */
  close(why: string): void {
    if (this.ended) return
    if (this.res.writableLength > 0) this.res.destroy()
    else this.res.end(`: ${why}\n\n`)
    this.finish('closed')
  }

  private write(text: string): void {
    this.res.write(text)
    if (this.res.writableLength > this.limit) this.drop()
  }

  /**
   * The client reads too slowly: what waits for it passed the limit. It gets a last event saying
   * so (after what is already buffered), then the stream ends; a client that does not read even
   * that is cut off.
   */
  private drop(): void {
    if (this.ended) return
    const data = {
      type: 'dropped',
      message: `this client read too slowly: more than ${this.limit} bytes were waiting for it; reconnect with Last-Event-ID to resume`,
      ...(this.cursor !== undefined ? { lastEventId: this.cursor } : {}),
    }
    this.res.end(`event: dropped\ndata: ${JSON.stringify(data)}\n\n`)
    this.finish('dropped')
    const res = this.res
    setTimeout(() => res.destroy(), LINGER).unref()
  }

  private finish(why: 'dropped' | 'gone' | 'closed'): void {
    if (this.ended) return
    this.ended = true
    this.held = undefined
    this.onEnd(this, why)
  }
}
