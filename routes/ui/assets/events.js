/**
 * GET /events read with fetch() and a streaming reader rather than EventSource: EventSource
 * cannot send an Authorization header, and the token must never be put in a URL (URLs end up in
 * logs and histories). The stream is parsed as the SSE standard says, and a dropped connection
 * resumes from the last event id with Last-Event-ID, as EventSource would.
 */
import { API_ROOT, authHeaders } from './api.js'

/** First pause before reconnecting, and the longest one (doubling in between). */
const FIRST_RETRY = 1000
const LONGEST_RETRY = 30_000

/**
 * Follows `/events?{query}`. `onEvent({ id, type, data })` gets each event, `data` parsed when it
 * is JSON. `onState(state, detail)` hears of the connection: `open` (after each connect:
 * read what may have been missed), `retrying` (detail: ms until the next try), `refused` (detail:
 * the status, 401 or 403; not retried), `missing` (the gateway does not serve /events; not
 * retried). `since` is the Last-Event-ID of the first connection (absent: from now on);
 * `onEvent` sees each event's id, to resume from later. Returns `close()`.
 */
export function follow({ query = '', since, onEvent, onState }) {
  const stop = new AbortController()
  let lastEventId = since
  let retry = FIRST_RETRY

  const run = async () => {
    while (!stop.signal.aborted) {
      try {
        const headers = authHeaders({ accept: 'text/event-stream' })
        if (lastEventId !== undefined) headers['last-event-id'] = lastEventId
        const response = await fetch(new URL(`events${query ? `?${query}` : ''}`, API_ROOT), { headers, cache: 'no-store', signal: stop.signal })
        if (response.status === 404) return onState('missing', 404)
        if (response.status === 401 || response.status === 403) return onState('refused', response.status)
        // an id the gateway refuses: start over from now
        if (response.status === 400 && lastEventId !== undefined) {
          lastEventId = undefined
          continue
        }
        if (!response.ok || !response.body) throw new Error(`GET /events answered ${response.status}`)
        retry = FIRST_RETRY
        onState('open')
        await read(response.body, onEvent, (id) => {
          lastEventId = id
        })
      } catch {
        // a dropped connection or a refused one: try again below
      }
      if (stop.signal.aborted) return undefined
      onState('retrying', retry)
      await pause(retry, stop.signal)
      retry = Math.min(retry * 2, LONGEST_RETRY)
    }
    return undefined
  }
  void run()
  return () => stop.abort()
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/**
 * Reads an SSE body to its end, calling `dispatch` per event (comments skipped), and `moved` with
 * the last id seen at each message's end, event or not: where to resume from (the gateway opens
 * each stream with an id and no data).
 */
async function read(body, dispatch, moved) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  let event = { data: [], type: undefined, id: undefined }
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    buffer += value
    // a \r at the very end may be the first half of a \r\n: keep it for the next chunk
    const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length
    const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/)
    buffer = (lines.pop() ?? '') + buffer.slice(cut)
    for (const line of lines) {
      if (line === '') {
        if (event.id !== undefined) moved(event.id)
        if (event.data.length > 0) dispatch(decode(event))
        event = { data: [], type: undefined, id: event.id }
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const raw = colon < 0 ? '' : line.slice(colon + 1)
      const text = raw.startsWith(' ') ? raw.slice(1) : raw
      if (field === 'data') event.data.push(text)
      else if (field === 'event') event.type = text
      else if (field === 'id' && !text.includes('\0')) event.id = text
    }
  }
}

function decode(event) {
  const text = event.data.join('\n')
  let data
  try {
    data = JSON.parse(text)
  } catch {
    data = text
  }
  return { id: event.id, type: event.type ?? 'message', data }
}
