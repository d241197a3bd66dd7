/**
 * A Server-Sent Events parser, as the HTML standard reads the `text/event-stream` format: lines
 * ended by CRLF, LF or CR (also when a chunk ends between the CR and the LF), `field: value` lines,
 * comments (`:`), `data:` lines joined by newlines, and an event dispatched by a blank line.
 */

/** One event of the stream. */
export interface SseMessage {
  /** The event's own `id:` field; undefined when it had none (then the last id stays as it was). */
  readonly id: string | undefined
  /** The `event:` field; `message` when absent, as the standard says. */
  readonly event: string
  /** The `data:` lines, joined by `\n`. */
  readonly data: string
}

/** Feeds on text chunks, gives whole events. */
export class SseParser {
  private pending = ''
  private data: string[] = []
  private event = ''
  private id: string | undefined
  private sawData = false
  private afterCr = false
  /** The last `retry:` field: the reconnection time the server asks for, in ms. */
  retry: number | undefined
  /**
   * The id of the last message dispatched with an `id:` field, data or not: where a reconnection
   * resumes from. A message with an id and no data is no event, but it moves this (the HTML
   * standard's last event ID); the gateway opens each stream with one.
   */
  lastEventId: string | undefined

  /** The events completed by `chunk` (decoded text). */
  push(chunk: string): SseMessage[] {
    // the chunk before ended with a CR: a LF now is the second half of that CRLF
    if (this.afterCr && chunk.startsWith('\n')) chunk = chunk.slice(1)
    this.afterCr = false
    this.pending += chunk
    const out: SseMessage[] = []
    let start = 0
    for (;;) {
      const lf = this.pending.indexOf('\n', start)
      const cr = this.pending.indexOf('\r', start)
      if (lf === -1 && cr === -1) break
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr
      const line = this.pending.slice(start, end)
      if (end === cr && cr === this.pending.length - 1) this.afterCr = true
      start = end + (end === cr && this.pending[cr + 1] === '\n' ? 2 : 1)
      const message = this.line(line)
      if (message) out.push(message)
    }
    this.pending = this.pending.slice(start)
    return out
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch()
    if (line.startsWith(':')) return undefined
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') {
      this.data.push(value)
      this.sawData = true
    } else if (field === 'event') this.event = value
    else if (field === 'id' && !value.includes('\0')) this.id = value
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value)
    return undefined
  }

  private dispatch(): SseMessage | undefined {
    if (this.id !== undefined) this.lastEventId = this.id
    const message = this.sawData ? { id: this.id, event: this.event || 'message', data: this.data.join('\n') } : undefined
    this.data = []
    this.event = ''
    this.id = undefined
    this.sawData = false
    return message
  }
}
