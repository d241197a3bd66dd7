/**
 * `GET /events` as an async iterator: one event per transition, read with `fetch` (so a token can be
 * sent, which the browser's `EventSource` cannot), and resumed after a dropped connection with
 * `Last-Event-ID`, so that nothing between is missed and nothing comes twice.
 */
import { ShadowsError, errorOfAnswer } from './errors.js'
import { backoff, networkError, type Transport } from './request.js'
import { SseParser } from './sse.js'
import type { EventsFilter, EventsGap, ShadowsEvent } from './types.js'

/** Options of {@link ShadowsClient.events}. */
export interface EventsOptions {
  /** Ends the iteration: the pending `next()` rejects with the signal's reason, and the connection closes. */
  readonly signal?: AbortSignal | undefined
  /** Start just after this event id (one a previous iteration yielded), rather than from now. */
  readonly lastEventId?: string | undefined
  /**
   * How many failed connections in a row (no answer, a 503, another 5xx) to try again before the
   * iteration rejects with the last error (default: no limit, as a browser's `EventSource`).
   */
  readonly retries?: number | undefined
  /** The first wait before connecting again, in ms (default 1000); it doubles while tries fail. A 503's `Retry-After` overrides it. */
  readonly reconnectDelay?: number | undefined
  /**
   * A connection that brings nothing, not even the keep-alive comment the gateway sends every
   * 15 s, for this many ms is taken for lost and replaced (default 45 000; 0 = never).
   */
  readonly idleTimeout?: number | undefined
  /** Told when a resumed stream missed events the gateway's capped log no longer holds. */
  readonly onGap?: ((gap: EventsGap) => void) | undefined
  /** Told before each new connection after the first. */
  readonly onReconnect?: ((info: ReconnectInfo) => void) | undefined
}

/** What {@link EventsOptions.onReconnect} is told. */
export interface ReconnectInfo {
  /** Failed connections in a row so far (0 when the last stream simply ended). */
  readonly failures: number
  /** The wait before this connection, in ms. */
  readonly delay: number
  /** The id it resumes from: the last event received. */
  readonly lastEventId: string | undefined
  /** Why the last connection failed; undefined when the stream ended. */
  readonly error: ShadowsError | undefined
}

/** Default first wait before connecting again, in ms. */
export const DEFAULT_RECONNECT_DELAY = 1000
/** Default limit of silence on a stream: three of the gateway's 15 s keep-alives. */
export const DEFAULT_IDLE_TIMEOUT = 45_000

/** Why a connection was closed by the iterator itself. */
const IDLE = Symbol('idle')

/** The query string of a filter. */
function eventsPath(filter: EventsFilter): string {
  const query = new URLSearchParams()
  if (filter.task !== undefined) query.set('task', filter.task)
  if (filter.key !== undefined) query.set('key', filter.key)
  if (filter.type !== undefined) query.set('type', typeof filter.type === 'string' ? filter.type : filter.type.join(','))
  const text = query.toString()
  return text === '' ? '/events' : `/events?${text}`
}

/** Resolves after `ms`, or rejects when `signal` fires. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The events of `filter` as an async iterator. Breaking out of a `for await` (or `return()`) closes
 * the connection and ends it quietly; the `signal` ends it with its reason, also while it waits.
 */
export function eventIterator(transport: Transport, filter: EventsFilter, options: EventsOptions): AsyncIterableIterator<ShadowsEvent> {
  const stop = new AbortController()
  const forward = () => stop.abort(options.signal?.reason)
  if (options.signal?.aborted) forward()
  else options.signal?.addEventListener('abort', forward, { once: true })
  const generator = readEvents(transport, filter, options, stop.signal)
  const release = () => options.signal?.removeEventListener('abort', forward)
  return {
    next: async () => {
      try {
        const result = await generator.next()
        if (result.done) release()
        return result
      } catch (err) {
        release()
        // the caller's own abort rejects with its reason; a return() meanwhile ends quietly
        if (stop.signal.aborted && !options.signal?.aborted) return { done: true, value: undefined }
        throw err
      }
    },
    return: async () => {
      release()
      // a pending read ends now, rather than at the next event or keep-alive
      stop.abort()
      await generator.return(undefined).catch(() => undefined)
      return { done: true, value: undefined }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

/** The connections one after another: each read until it ends or breaks, then the next, resuming after the last id. */
async function* readEvents(transport: Transport, filter: EventsFilter, options: EventsOptions, stop: AbortSignal): AsyncGenerator<ShadowsEvent, void> {
  const url = `${transport.baseUrl}${eventsPath(filter)}`
  const retries = options.retries ?? Number.POSITIVE_INFINITY
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT
  let reconnectDelay = options.reconnectDelay ?? DEFAULT_RECONNECT_DELAY
  let lastEventId = options.lastEventId
  /** Connections in a row that failed before the stream opened. */
  let failures = 0
  let lastError: ShadowsError | undefined
  for (let connection = 0; ; connection += 1) {
    if (connection > 0) {
      const delay = lastError?.retryAfter ?? (failures === 0 ? reconnectDelay : backoff(failures, reconnectDelay))
      options.onReconnect?.({ failures, delay, lastEventId, error: lastError })
      await pause(delay, stop)
    }
    if (stop.aborted) throw stop.reason
    const abort = new AbortController()
    const onStop = () => abort.abort(stop.reason)
    stop.addEventListener('abort', onStop, { once: true })
    let idle: ReturnType<typeof setTimeout> | undefined
    let opened = false
    try {
      const headers: Record<string, string> = { ...transport.headers, accept: 'text/event-stream', 'cache-control': 'no-cache' }
      if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
      const response = await transport.fetch(url, { headers, signal: abort.signal })
      if (!response.ok) throw errorOfAnswer(response, await response.text())
      const type = response.headers.get('content-type') ?? ''
      if (!type.startsWith('text/event-stream') || !response.body) {
        throw new ShadowsError('SHADOWS_ERR_UNEXPECTED_RESPONSE', response.status, `GET /events answered ${type || 'no content type'}, not text/event-stream`)
      }
      opened = true
      failures = 0
      lastError = undefined
      const reader = response.body.getReader()
      const decoder = new TextDecoder()
      const parser = new SseParser()
      for (;;) {
        // only while waiting on the server: a consumer slow to ask for the next event is not a lost connection
        if (idleTimeout > 0) idle = setTimeout(() => abort.abort(IDLE), idleTimeout)
        const { done, value } = await reader.read()
        clearTimeout(idle)
        if (done) break
        for (const message of parser.push(decoder.decode(value, { stream: true }))) {
          if (message.id === undefined) {
            if (message.event === 'gap') options.onGap?.(JSON.parse(message.data) as EventsGap)
            continue
          }
          let data: unknown
          try {
            data = JSON.parse(message.data)
          } catch {
            throw new ShadowsError('SHADOWS_ERR_UNEXPECTED_RESPONSE', response.status, `event ${message.id} has data that is not JSON`)
          }
          yield { id: message.id, ...(data as object) } as ShadowsEvent
        }
        // the parser's last id: that of the last event, or of an id without an event (where the stream started)
        lastEventId = parser.lastEventId ?? lastEventId
        if (parser.retry !== undefined) reconnectDelay = parser.retry
      }
    } catch (err) {
      if (stop.aborted) throw stop.reason
      const error =
        abort.signal.reason === IDLE ? new ShadowsError('SHADOWS_ERR_NETWORK', 0, `nothing from ${url} for ${idleTimeout} ms`) : networkError(err, url)
      // a refusal (a bad filter, token or scope) stays a refusal: only a lost connection and the gateway's troubles are tried again
      if (!(error instanceof ShadowsError) || (error.code !== 'SHADOWS_ERR_NETWORK' && error.status < 500)) throw error
      lastError = error
      if (!opened) failures += 1
      if (failures > retries) throw error
    } finally {
      clearTimeout(idle)
      stop.removeEventListener('abort', onStop)
      // closes the connection when the consumer stopped early or a read failed
      abort.abort()
    }
  }
}
