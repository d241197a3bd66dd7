/**
 * One call of the client: the HTTP request over `fetch`, its timeout and the caller's signal, the
 * answer decoded or turned into a {@link ShadowsError}, and retries of a 503 (after `Retry-After`)
 * or of a lost connection, for the calls that may be repeated safely.
 */
import { ShadowsError, errorOfAnswer } from './errors.js'

/** Options every call takes. */
export interface CallOptions {
  /** Aborts the call, retries and their waits included; the call then rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined
  /**
   * Most ms the whole call may take, retries and their waits included (default: the client's
   * `timeout`); 0 = no limit. Past it the call rejects with `SHADOWS_ERR_CLIENT_TIMEOUT`.
   */
  readonly timeout?: number | undefined
  /**
   * How many times to try again after a 503 or a lost connection (default: the client's `retries`
   * for calls that are safe to repeat, 0 for a write without a key, which could be stored twice).
   */
  readonly retries?: number | undefined
}

/** What {@link ClientOptions.onRetry} is told before each retry. */
export interface RetryInfo {
  readonly method: string
  /** The path and query, e.g. `/tasks/order-42?wait=1000`. */
  readonly path: string
  /** The try that failed, from 1. */
  readonly attempt: number
  /** How long the client waits before the next try, in ms: the answer's `Retry-After`, or a backoff. */
  readonly delay: number
  /** Why: a 503 (`SHADOWS_ERR_UNAVAILABLE`), or `SHADOWS_ERR_NETWORK`. */
  readonly error: ShadowsError
}

/** What every call shares: where the gateway is and how to talk to it. */
export interface Transport {
  /** The gateway's address, without a trailing slash. */
  readonly baseUrl: string
  /** Sent with every request: `accept`, and `authorization` with a token. */
  readonly headers: Readonly<Record<string, string>>
  readonly fetch: typeof fetch
  readonly timeout: number
  readonly retries: number
  readonly onRetry: ((info: RetryInfo) => void) | undefined
}

/** One request. */
export interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** Path with its query, e.g. `/tasks?state=failed`. */
  readonly path: string
  readonly body?: unknown
  /** Whether repeating the request cannot do something twice (reads, and writes with a key). */
  readonly repeatable: boolean
  /** Added to the timeout: a `GET /tasks/{key}?wait=` is meant to take that long. */
  readonly extraTime?: number
}

/** The first wait of the backoff when no `Retry-After` says how long, in ms; it doubles up to {@link MAX_BACKOFF}. */
export const FIRST_BACKOFF = 500
/** Longest wait of the backoff, in ms. */
export const MAX_BACKOFF = 10_000

/** The backoff before try `attempt + 1`, when the answer did not say. */
export function backoff(attempt: number, first = FIRST_BACKOFF): number {
  return Math.min(MAX_BACKOFF, first * 2 ** Math.max(0, attempt - 1))
}

/** Longest delay setTimeout takes (a larger one fires at once). */
const MAX_TIMER = 2 ** 31 - 1

/**
 * The signal of one call: the caller's signal and the call's deadline together, and waits that end
 * with it. `dispose()` releases the timer and the listener.
 */
export class CallSignal {
  private readonly controller = new AbortController()
  private readonly timer: ReturnType<typeof setTimeout> | undefined
  private readonly deadline: number
  private timedOut = false
  private readonly forward = () => this.controller.abort(this.caller?.reason)

  constructor(
    private readonly caller: AbortSignal | undefined,
    timeout: number,
  ) {
    const limited = timeout > 0 && timeout <= MAX_TIMER
    this.deadline = limited ? Date.now() + timeout : Number.POSITIVE_INFINITY
    if (limited) {
      this.timer = setTimeout(() => {
        this.timedOut = true
        this.controller.abort(new ShadowsError('SHADOWS_ERR_CLIENT_TIMEOUT', 0, `no answer within ${timeout} ms`))
      }, timeout)
    }
    if (caller?.aborted) this.forward()
    else caller?.addEventListener('abort', this.forward, { once: true })
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Ms left before the deadline. */
  remaining(): number {
    return this.deadline - Date.now()
  }

  /**
   * When the call was aborted or timed out: the error to reject with (the caller's reason, or
   * `SHADOWS_ERR_CLIENT_TIMEOUT`). Undefined otherwise.
   */
  abortReason(): unknown {
    if (!this.controller.signal.aborted) return undefined
    return this.timedOut ? this.controller.signal.reason : (this.caller?.reason ?? this.controller.signal.reason)
  }

  /** Resolves after `ms`, or rejects with {@link abortReason} when the call ends first. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = this.controller.signal
      if (signal.aborted) return reject(this.abortReason())
      const onAbort = () => {
        clearTimeout(timer)
        reject(this.abortReason())
      }
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }, ms)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  dispose(): void {
    clearTimeout(this.timer)
    this.caller?.removeEventListener('abort', this.forward)
  }
}

/** A failure of `fetch` itself (no answer) as a {@link ShadowsError}; anything else as it is. */
export function networkError(err: unknown, url: string): unknown {
  // fetch rejects with a TypeError when no answer came (refused, reset, DNS); the cause says which
  if (!(err instanceof TypeError)) return err
  const cause = (err as { cause?: unknown }).cause
  const why = cause instanceof Error ? cause.message : err.message
  return new ShadowsError('SHADOWS_ERR_NETWORK', 0, `no answer from ${url}: ${why}`, { cause: err })
}

/** Whether trying again may help: the gateway said 503, or no answer came. */
export function worthRetrying(err: unknown): err is ShadowsError {
  return err instanceof ShadowsError && (err.status === 503 || err.code === 'SHADOWS_ERR_NETWORK')
}

/** One try: the answer's JSON body, or a {@link ShadowsError}. */
async function attempt(transport: Transport, spec: RequestSpec, signal: AbortSignal): Promise<unknown> {
  const url = `${transport.baseUrl}${spec.path}`
  const init: RequestInit = { method: spec.method, headers: transport.headers, signal }
  if (spec.body !== undefined) {
    init.headers = { ...transport.headers, 'content-type': 'application/json' }
    init.body = JSON.stringify(spec.body)
  }
  let response: Response
  let text: string
  try {
    response = await transport.fetch(url, init)
    text = await response.text()
  } catch (err) {
    throw networkError(err, url)
  }
  if (!response.ok) throw errorOfAnswer(response, text)
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new ShadowsError('SHADOWS_ERR_UNEXPECTED_RESPONSE', response.status, `HTTP ${response.status}: the answer is not JSON: ${text.slice(0, 200)}`)
  }
}

/**
 * Sends `spec` and resolves with the answer's body. Retries a 503 (after its `Retry-After`) and a
 * lost connection (after a backoff), up to the call's `retries`, while the timeout leaves room for
 * the wait; then rejects with the last error.
 */
export async function send<T>(transport: Transport, spec: RequestSpec, options: CallOptions = {}): Promise<T> {
  const timeout = options.timeout ?? transport.timeout
  const retries = options.retries ?? (spec.repeatable ? transport.retries : 0)
  const call = new CallSignal(options.signal, timeout > 0 ? timeout + (spec.extraTime ?? 0) : 0)
  try {
    for (let tried = 1; ; tried += 1) {
      let error: ShadowsError
      try {
        return (await attempt(transport, spec, call.signal)) as T
      } catch (err) {
        const aborted = call.abortReason()
        if (aborted !== undefined) throw aborted
        if (!worthRetrying(err) || tried > retries) throw err
        error = err
      }
      const delay = error.retryAfter ?? backoff(tried)
      // a wait that would outlast the deadline only turns a clear 503 into a timeout
      if (delay >= call.remaining()) throw error
      transport.onRetry?.({ method: spec.method, path: spec.path, attempt: tried, delay, error })
      await call.sleep(delay)
    }
  } finally {
    call.dispose()
  }
}
