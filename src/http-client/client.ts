/**
 * {@link ShadowsClient}: the gateway's HTTP API as typed methods, one per route, over `fetch`.
 */
import { eventIterator, type EventsOptions } from './events.js'
import { send, type CallOptions, type RequestSpec, type RetryInfo, type Transport } from './request.js'
import type {
  AddInput,
  AddResult,
  BatchResult,
  CancelResult,
  EventsFilter,
  ListInput,
  ReplaceInput,
  ReplaceResult,
  RetryAllInput,
  RetryAllResult,
  RetryResult,
  ShadowsEvent,
  SnapshotResult,
  StrikeInput,
  StrikeListBody,
  StrikeRule,
  TaskPageBody,
  TaskRecordBody,
  WorkerListBody,
} from './types.js'

/** Options of {@link ShadowsClient}. */
export interface ClientOptions {
  /** The gateway's address, e.g. `http://127.0.0.1:8080` (a path prefix is kept: `https://host/shadows`). */
  readonly baseUrl: string
  /** A bearer token of `SHADOWS_TOKENS`, sent as `Authorization: Bearer …`. */
  readonly token?: string | undefined
  /** Default most ms one call may take, retries and their waits included (default 30 000; 0 = no limit). */
  readonly timeout?: number | undefined
  /**
   * Default retries after a 503 (waiting its `Retry-After`) or a lost connection, for the calls that
   * are safe to repeat (default 3). A write without a key (`add` without `key`, `addBatch` with an
   * item without one, `retryAll`) is not retried unless the call itself passes `retries`: a lost
   * answer could mean it was stored, and a second try would store it again.
   */
  readonly retries?: number | undefined
  /** Told before each retry (to log it, or to count them). */
  readonly onRetry?: ((info: RetryInfo) => void) | undefined
  /** The `fetch` to use (default: the global one). */
  readonly fetch?: typeof fetch | undefined
}

/** Options of {@link ShadowsClient.get}. */
export interface GetOptions extends CallOptions {
  /**
   * Wait up to this many ms (at most 60 000) for the task to finish: the record comes as soon as it
   * is finished, or as it is when the wait ends. The call's timeout is extended by as much.
   */
  readonly wait?: number | undefined
}

/** Default timeout of a call, in ms. */
export const DEFAULT_TIMEOUT = 30_000
/** Default retries of a call that is safe to repeat. */
export const DEFAULT_RETRIES = 3

/** `value` as a path segment. */
const segment = (value: string) => encodeURIComponent(value)

/** An RFC 3339 string for a `Date`; anything else as it is. */
function withTime<T extends object, K extends string>(body: T, field: K): T {
  const value = (body as Record<string, unknown>)[field]
  return value instanceof Date ? { ...body, [field]: value.toISOString() } : body
}

/** The gateway's address, checked, without trailing slashes; relative to the page in a browser. */
function normalizeBaseUrl(baseUrl: string): string {
  const page = (globalThis as { location?: { href?: string } }).location?.href
  const url = new URL(baseUrl, page)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`baseUrl must be an http or https URL, not ${baseUrl}`)
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '')
}

/** A count option: a non-negative integer (or Infinity for `timeout`), or a TypeError. */
function count(value: number | undefined, fallback: number, name: string): number {
  const n = value ?? fallback
  if (!(n >= 0) || (!Number.isInteger(n) && n !== Number.POSITIVE_INFINITY)) throw new TypeError(`${name} must be a non-negative integer, not ${String(value)}`)
  return n
}

/**
 * A typed client of the shadows gateway, for Node.js ≥ 20 and browsers: no dependencies, only
 * `fetch`. Each method is one route and takes the route's body as one object, typed from the
 * route's own schema. A failed call rejects with a {@link ShadowsError} carrying the gateway's
 * `code`, its `status` and its message.
 *
 * Every call takes `{ signal?, timeout?, retries? }` last. A 503 (Redis away, the gateway shutting
 * down) and a lost connection are retried after the answer's `Retry-After` (or a backoff), by
 * default for reads and for writes with a key; a write without a key is not retried by default.
 */
export class ShadowsClient {
  private readonly transport: Transport

  constructor(options: ClientOptions) {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    // a token that cannot be a header value fails here, not as if the network had
    new Headers(headers)
    const fetchImpl = options.fetch ?? globalThis.fetch
    if (typeof fetchImpl !== 'function') throw new TypeError('no fetch: pass one as the fetch option')
    this.transport = {
      baseUrl: normalizeBaseUrl(options.baseUrl),
      headers,
      // bound: a browser's fetch throws "Illegal invocation" when called as a method of another object
      fetch: (input, init) => fetchImpl(input, init),
      timeout: count(options.timeout, DEFAULT_TIMEOUT, 'timeout'),
      retries: count(options.retries, DEFAULT_RETRIES, 'retries'),
      onRetry: options.onRetry,
    }
  }

  /** The gateway's address, as the client uses it. */
  get baseUrl(): string {
    return this.transport.baseUrl
  }

  private call<T>(spec: RequestSpec, options: CallOptions | undefined): Promise<T> {
    return send<T>(this.transport, spec, options)
  }

  /**
   * `POST /tasks`: adds a task, now, at `when` or after `delay` ms. Resolves with `{ key, task,
   * when, state }`, or the existing task with `duplicate: true` when its key is scheduled, queued
   * or running. Retried by default only when `body.key` is given.
   */
  add(body: AddInput, options?: CallOptions): Promise<AddResult> {
    return this.call({ method: 'POST', path: '/tasks', body: withTime(body, 'when'), repeatable: body.key !== undefined }, options)
  }

  /**
   * `POST /tasks/batch`: adds up to 1000 tasks, each judged as if added alone; one result per item,
   * in order, with the status it would have had. Retried by default only when every item has a key.
   */
  addBatch(tasks: readonly AddInput[], options?: CallOptions): Promise<BatchResult> {
    const body = { tasks: tasks.map((task) => withTime(task, 'when')) }
    return this.call({ method: 'POST', path: '/tasks/batch', body, repeatable: tasks.every((task) => task.key !== undefined) }, options)
  }

  /** `GET /tasks/{key}`: the task's record; with `wait`, as soon as it is finished (or when the wait ends). */
  get(key: string, options: GetOptions = {}): Promise<TaskRecordBody> {
    const { wait, ...rest } = options
    const path = `/tasks/${segment(key)}${wait !== undefined ? `?wait=${count(wait, 0, 'wait')}` : ''}`
    return this.call({ method: 'GET', path, repeatable: true, extraTime: wait ?? 0 }, rest)
  }

  /** `PUT /tasks/{key}`: replaces the task atomically, or creates it (`replaced: false`). */
  replace(key: string, body: ReplaceInput, options?: CallOptions): Promise<ReplaceResult> {
    return this.call({ method: 'PUT', path: `/tasks/${segment(key)}`, body: withTime(body, 'when'), repeatable: true }, options)
  }

  /** `DELETE /tasks/{key}`: cancels the task (a running one has its signal aborted); again is fine. */
  cancel(key: string, options?: CallOptions): Promise<CancelResult> {
    return this.call({ method: 'DELETE', path: `/tasks/${segment(key)}`, repeatable: true }, options)
  }

  /** `GET /tasks`: one page of the tasks in a state; pass the answer's `next` as `cursor` for the next page. */
  list(query: ListInput, options?: CallOptions): Promise<TaskPageBody> {
    const search = new URLSearchParams({ state: query.state })
    if (query.task !== undefined) search.set('task', query.task)
    if (query.limit !== undefined) search.set('limit', String(query.limit))
    if (query.cursor !== undefined) search.set('cursor', query.cursor)
    return this.call({ method: 'GET', path: `/tasks?${search.toString()}`, repeatable: true }, options)
  }

  /** `POST /tasks/{key}/retry`: runs a finished task again, same key and params, attempts afresh. */
  retry(key: string, options?: CallOptions): Promise<RetryResult> {
    return this.call({ method: 'POST', path: `/tasks/${segment(key)}/retry`, repeatable: true }, options)
  }

  /** `POST /tasks/retry` (scope `ops`): runs again every task in a finished state that matches. Not retried by default. */
  retryAll(filter: RetryAllInput, options?: CallOptions): Promise<RetryAllResult> {
    return this.call({ method: 'POST', path: '/tasks/retry', body: withTime(filter, 'finishedAfter'), repeatable: false }, options)
  }

  /** `POST /strikes` (scope `ops`): adds a strike rule, or answers the same one when it exists. */
  strike(rule: StrikeInput, options?: CallOptions): Promise<StrikeRule> {
    return this.call({ method: 'POST', path: '/strikes', body: rule, repeatable: true }, options)
  }

  /** `DELETE /strikes/{id}` (scope `ops`): removes a strike rule; resolves with the rule removed. */
  restore(id: string, options?: CallOptions): Promise<StrikeRule> {
    return this.call({ method: 'DELETE', path: `/strikes/${segment(id)}`, repeatable: true }, options)
  }

  /** `GET /strikes`: the strike rules in force, oldest first. */
  strikes(options?: CallOptions): Promise<StrikeListBody> {
    return this.call({ method: 'GET', path: '/strikes', repeatable: true }, options)
  }

  /** `GET /snapshot`: counts and lists of what is scheduled, queued and running. */
  snapshot(options?: CallOptions): Promise<SnapshotResult> {
    return this.call({ method: 'GET', path: '/snapshot', repeatable: true }, options)
  }

  /** `GET /workers`: the live workers, from their heartbeats. */
  workers(options?: CallOptions): Promise<WorkerListBody> {
    return this.call({ method: 'GET', path: '/workers', repeatable: true }, options)
  }

  /**
   * `GET /events`: the events of tasks and strike rules as they happen, as an async iterator. After
   * a dropped connection it connects again with `Last-Event-ID`, so no event is missed or repeated
   * (as long as the gateway's capped log still holds the last one). Break out of the loop, or abort
   * `signal`, to stop; a refusal (400, 401, 403) rejects with its {@link ShadowsError}.
   */
  events(filter: EventsFilter = {}, options: EventsOptions = {}): AsyncIterableIterator<ShadowsEvent> {
    return eventIterator(this.transport, filter, options)
  }
}
