/**
 * The client: adds, schedules, replaces, cancels and inspects tasks, keeps strikes, lists tasks by
 * state and retries finished ones, waits for results, and reads the events log.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { pino, type Logger } from 'pino'
import { AddCalls, type Prepared } from './adds.js'
import { ShadowsError } from '../core/errors.js'
import { shadowKeys, storedKey, type ShadowKeys } from '../redis/keys.js'
import { isFinished, parseRecord, type TaskInfo } from '../core/records.js'
import { DEFAULT_REDIS_URL, closeNow, connect } from '../redis/connection.js'
import { describeRedisFailure } from '../redis/failure.js'
import { redactingSerializers } from '../redis/redact.js'
import { addStrike, cancelTask, removeStrike, type AddResult } from '../redis/commands.js'
import type { RedisClient } from '../redis/scripts.js'
import { StrikeCopy } from '../redis/strike-copy.js'
import { EventLog, followEvents, type EventsOptions } from './events.js'
import { shadowSettings, type ShadowOptions } from './options.js'
import { listPage, notFoundError, retryKey, retryMatching, type ListQuery, type Retried, type RetryCounts, type RetryFilter, type TaskPage } from './history.js'
import { takeSnapshot, listWorkers, type Snapshot, type WorkerInfo } from './inspect.js'
import { prepareAdd, toExecution } from './prepare.js'
import { traceAdd, traceBatch, traceCall } from './tracing.js'
import { ATTR } from '../core/tracing.js'
import { storeBatch, storeOne, type StoreContext } from './store.js'
import type { AddOptions, BatchItem, BatchResult, Cancellation, Execution, GetOptions, Replacement, ReplaceOptions, ResultOptions } from './types.js'
import { FinishWaiters, MAX_WAIT } from './waiters.js'
import { assertEventFilter, isEventId, type ShadowEvent } from '../core/events.js'
import { describeStrike, normalizeStrike, strikeId, type Strike, type StrikeInput } from '../core/strikes.js'
import type { AnyTask, ParamsOf } from '../core/task.js'
import { assertValidKey } from '../core/validation.js'

export { DEFAULT_EVENTS_LIMIT, DEFAULT_EXECUTION_TTL, DEFAULT_HISTORY_LIMIT, DEFAULT_MAX_STRIKES, type ShadowOptions } from './options.js'

/** How long close() waits for the adds already made while Redis does not answer. */
const ADDS_WAIT_WHILE_AWAY = 5_000

/**
 * What the worker needs of a shadow: its connection, keys, logger and strike copy. Reached with
 * {@link shadowContext}; not part of the public API.
 */
export interface ShadowContext {
  readonly name: string
  readonly url: string
  readonly redis: RedisClient
  readonly keys: ShadowKeys
  readonly logger: Logger
  readonly executionTtl: number
  readonly historyLimit: number
  readonly eventsLimit: number
  /** The strike rules as this client last read them, shared with the workers on this shadow. */
  readonly strikes: StrikeCopy
}

const contexts = new WeakMap<Shadow, ShadowContext>()

/** The internals of `shadow` that a worker uses (see {@link ShadowContext}). */
export function shadowContext(shadow: Shadow): ShadowContext {
  const context = contexts.get(shadow)
  if (context === undefined) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'expected a Shadow')
  return context
}

/**
 * A connection to one shadow: a named queue in one Redis.
 *
 * ```ts
 * const shadow = new Shadow({ name: 'emails' })
 * await shadow.add(sendEmail, { delay: 60_000 })({ to: 'jane@example.com' })
 * ```
 */
export class Shadow {
  readonly name: string
  readonly url: string
  readonly executionTtl: number
  readonly historyLimit: number
  readonly eventsLimit: number
  readonly logger: Logger
  readonly maxStrikes: number
  private readonly keys: ShadowKeys
  private readonly redis: RedisClient
  private readonly registry: ReadonlyMap<string, AnyTask> | undefined
  private readonly ownsRedis: boolean
  private readonly strikeCopy: StrikeCopy
  private readonly context: ShadowContext
  private closing: Promise<void> | undefined
  private readonly storeContext: StoreContext
  private readonly storing = new Set<Promise<unknown>>()
  private readonly waiters: FinishWaiters
  private readonly eventLogs = new Set<EventLog>()

  constructor(options: ShadowOptions = {}) {
    const { name, executionTtl: ttl, historyLimit, eventsLimit, maxStrikes } = shadowSettings(options)
    this.name = name
    this.keys = shadowKeys(name)
    this.executionTtl = ttl
    this.historyLimit = historyLimit
    this.eventsLimit = eventsLimit
    this.maxStrikes = maxStrikes
    // an ioredis error may carry the password (a refused AUTH's arguments): never logged as it is
    const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })
    this.logger = logger.child({}, { serializers: redactingSerializers(logger) })
    this.url = options.url ?? DEFAULT_REDIS_URL
    this.registry = options.tasks ? new Map(options.tasks.map((t) => [t.name, t])) : undefined
    this.ownsRedis = options.redis === undefined
    this.redis = options.redis ?? connect(this.url, { connectionName: `shadows:${name}`, ...options.connection })
    this.strikeCopy = new StrikeCopy(this.redis, this.keys)
    this.storeContext = { adds: new AddCalls(this.redis, this.keys, this.eventsLimit), strikes: this.strikeCopy, registry: this.registry }
    this.waiters = new FinishWaiters({ redis: this.redis, keys: this.keys, logger: this.logger, read: (key) => this.read(key) })
    this.context = {
      name,
      url: this.url,
      redis: this.redis,
      keys: this.keys,
      logger: this.logger,
      executionTtl: ttl,
      historyLimit: this.historyLimit,
      eventsLimit: this.eventsLimit,
      strikes: this.strikeCopy,
    }
    contexts.set(this, this.context)
    if (this.ownsRedis) {
      this.redis.on('error', (err: Error) => this.logger.warn({ err, shadow: name }, describeRedisFailure(err) ?? 'redis connection error'))
    }
  }

  /**
   * Adds a task. Returns a function taking the params, so that their type follows the task:
   * `await shadow.add(greet, { delay: 1000 })({ name: 'Jane' })`. With `debounce` a burst of adds of
   * one key runs once, after the last, with its params; with `throttle` the key is taken for that
   * long after the add that stored it (see {@link AddOptions}).
   */
  add<T extends AnyTask>(task: T, options?: AddOptions): (params: ParamsOf<T>) => Promise<Execution>
  add(task: string, options?: AddOptions): (params?: Record<string, unknown>) => Promise<Execution>
  add(task: string | AnyTask, options: AddOptions = {}): (params?: unknown) => Promise<Execution> {
    return async (params: unknown = {}) => {
      this.assertOpen()
      return traceAdd(this.name, 'add', task, async (trace) => {
        const prepared = prepareAdd(this.registry, task, params, options, 'add', trace)
        return toExecution(prepared, await this.store(prepared))
      })
    }
  }

  /**
   * Replaces the task under `options.key` atomically (the old version never runs), or creates it.
   * With `debounce` it is due at now + `debounce` (`debounced: true` when the key's task was still
   * scheduled); with `throttle` it opens the key's throttle window, or restarts an open one.
   */
  replace<T extends AnyTask>(task: T, options: ReplaceOptions): (params: ParamsOf<T>) => Promise<Replacement>
  replace(task: string, options: ReplaceOptions): (params?: Record<string, unknown>) => Promise<Replacement>
  replace(task: string | AnyTask, options: ReplaceOptions): (params?: unknown) => Promise<Replacement> {
    return async (params: unknown = {}) => {
      this.assertOpen()
      if (options?.key === undefined) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'replace needs a key', { field: 'key' })
      return traceAdd(this.name, 'replace', task, async (trace) => {
        const prepared = prepareAdd(this.registry, task, params, options, 'replace', trace)
        const result = await this.store(prepared)
        // a replace stores whatever the key holds: never a duplicate (and a throttle window does not stop it)
        if (result.duplicate) throw new ShadowsError('SHADOWS_ERR_INTERNAL', `replace of ${prepared.key} was answered as a duplicate`)
        const replacement = { key: prepared.key, task: prepared.task, when: new Date(prepared.due), state: result.state, replaced: result.replaced }
        return result.debounced ? { ...replacement, debounced: true } : replacement
      })
    }
  }

  /** Adds many tasks, up to 500 per script call; each is judged as if added alone, results in order. */
  addBatch(items: readonly BatchItem[]): Promise<BatchResult[]> {
    this.assertOpen()
    return this.track(traceBatch(this.name, Array.isArray(items) ? items.length : 0, (trace) => storeBatch(this.storeContext, items, trace)))
  }

  /** Cancels a task: scheduled and queued ones never run; a running one has its signal aborted. */
  async cancel(key: string): Promise<Cancellation> {
    this.assertOpen()
    assertValidKey(key)
    const cancel = () => cancelTask(this.redis, this.keys, storedKey(key), this)
    const result = await traceCall(this.name, 'cancel', () => ({ [ATTR.key]: key }), cancel)
    if (result.kind === 'missing') throw new ShadowsError('SHADOWS_ERR_NOT_FOUND', `no task with key ${key}`, { key })
    if (result.kind === 'finished') {
      const { state } = result
      throw new ShadowsError('SHADOWS_ERR_ALREADY_FINISHED', `task ${key} already finished (${state}); too late to cancel`, { key, state })
    }
    return { key, task: result.task, state: 'cancelled', previous: result.previous }
  }

  /**
   * The task's record, or undefined when unknown or expired. With `wait` (ms), a task not finished
   * yet is waited for: the record comes as soon as it is completed, failed, cancelled or struck
   * (pushed, not polled), or as it is when the wait ends or `signal` fires.
   */
  async get(key: string, options: GetOptions = {}): Promise<TaskInfo | undefined> {
    this.assertOpen()
    assertValidKey(key)
    const wait = waitOption(options?.wait, 'wait')
    const signal = options?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'signal must be an AbortSignal', { field: 'signal' })
    return wait === undefined || wait === 0 ? this.read(key) : this.waiters.untilFinished(key, wait, signal)
  }

  /**
   * The result of the task of `key`: resolves with what it returned, once completed (at once when
   * it already is). Rejects with `SHADOWS_ERR_TASK_FAILED` when it ended failed, cancelled or struck
   * (`details.state` and `details.error` say how), `SHADOWS_ERR_WAIT_TIMEOUT` when `timeout` ms end
   * first, `SHADOWS_ERR_NOT_FOUND` for an unknown or expired key (also a record that went while
   * waiting: with `executionTtl: 0` nothing is kept to read the result from).
   *
   * Waiting costs no Redis connection of its own: every wait of a shadow shares one subscription,
   * woken when a task finishes.
   */
  async result(key: string, options: ResultOptions = {}): Promise<unknown> {
    this.assertOpen()
    assertValidKey(key)
    const timeout = waitOption(options?.timeout, 'timeout')
    const info = await this.waiters.untilFinished(key, timeout)
    if (info === undefined) throw notFoundError(key)
    const { state } = info
    if (state === 'completed') return info.result
    if (isFinished(state)) {
      const why = info.error ? `: ${info.error.type}: ${info.error.message}` : ''
      throw new ShadowsError('SHADOWS_ERR_TASK_FAILED', `task ${key} ended ${state}${why}`, { key, state, ...(info.error ? { error: info.error } : {}) })
    }
    throw new ShadowsError('SHADOWS_ERR_WAIT_TIMEOUT', `task ${key} did not finish within ${timeout ?? 0} ms; it is ${state}`, { key, state, timeout })
  }

  /**
   * One page of the tasks in one state: `{ tasks, next? }`, finished states newest first,
   * `scheduled` by due time, `queued` and `running` oldest first; pass `next` as `cursor` for the
   * following page. `limit` is 1–1000 (default 100). A page costs one script call. Finished tasks
   * are listed while their records live (`executionTtl`), at most `historyLimit` per state.
   * Filtered by task name, a page of a live state looks at up to ten entries per task asked for
   * (the schedule and the stream are not indexed by name), so it may hold fewer than `limit` tasks
   * and still have a `next`. A bad state, limit or cursor is `SHADOWS_ERR_VALIDATION`.
   */
  async list(query: ListQuery): Promise<TaskPage> {
    this.assertOpen()
    return listPage(this.context, query)
  }

  /**
   * Runs a finished task (completed, failed, cancelled or struck) again under the same key, with the
   * same params, as attempt 1, now. Throws `SHADOWS_ERR_NOT_FOUND` for an unknown or expired key,
   * `SHADOWS_ERR_NOT_FINISHED` while it is scheduled, queued or running, and `SHADOWS_ERR_STRUCK`
   * (nothing changed) when a strike matches it.
   */
  async retry(key: string): Promise<Retried> {
    this.assertOpen()
    const retried = await retryKey(this.context, key)
    this.logger.info({ shadow: this.name, key, task: retried.task }, 'task retried')
    return retried
  }

  /**
   * Runs again, as {@link retry} does, the finished tasks of one state (failed, cancelled or struck)
   * that match the filter, newest first, up to `limit` (at most and by default 10,000), atomically
   * a batch of 500 at a time. `skipped` counts those a strike matches and those whose key was
   * taken meanwhile (never overwritten).
   */
  async retryAll(filter: RetryFilter): Promise<RetryCounts> {
    this.assertOpen()
    const counts = await retryMatching(this.context, filter)
    this.logger.info({ shadow: this.name, state: filter.state, task: filter.task, ...counts }, 'tasks retried')
    return counts
  }

  /**
   * The shadow's events as they happen, as an async iterator: every transition of a task (added,
   * started, progress, completed, failed, retrying, cancelled, struck) and of the strike rules
   * (strike, restore), filtered by task name, key and types. From now when `since` is absent; from
   * just after the event `since` otherwise, with no gap as long as the log still holds it.
   *
   * Its reads block on a connection of their own, opened at the first read; the iterator ends, and
   * the connection closes, when the loop over it breaks or the shadow closes. One process serving
   * many readers had better share one {@link eventLog} among them.
   *
   * ```ts
   * for await (const event of shadow.events({ task: 'resize', types: ['failed'] })) console.log(event.key)
   * ```
   */
  events(options: EventsOptions = {}): AsyncGenerator<ShadowEvent, void, undefined> {
    this.assertOpen()
    assertEventFilter(options)
    if (options.since !== undefined && !isEventId(options.since)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'since must be an event id, <ms>-<sequence>', { field: 'since' })
    }
    const log = this.eventLog()
    // "now" is when events() is called, not when the loop first asks for an event: an add made in
    // between is seen. The read goes out at once, ahead of any command sent after this call.
    const from = options.since !== undefined ? Promise.resolve(options.since) : log.latest()
    from.catch(() => undefined)
    return followEvents(log, options, from)
  }

  /**
   * A reader of the events log on a connection of its own (opened at its first read), for one
   * process to share among many consumers; closed with `close()` or with the shadow.
   */
  eventLog(): EventLog {
    this.assertOpen()
    const log = new EventLog({ redis: this.redis, keys: this.keys, logger: this.logger }, (closed) => this.eventLogs.delete(closed))
    this.eventLogs.add(log)
    return log
  }

  /** Adds a strike rule; `created` is false when the same rule already existed. */
  async strike(input: StrikeInput): Promise<{ strike: Strike; created: boolean }> {
    this.assertOpen()
    const rule = normalizeStrike(input)
    const id = strikeId(rule)
    const strike: Strike = { id, ...rule, createdAt: new Date().toISOString() }
    const store = () => addStrike(this.redis, this.keys, strike, this.maxStrikes, this.eventsLimit)
    const result = await traceCall(this.name, 'strike', () => ({ [ATTR.strike]: id, ...(rule.task !== undefined ? { [ATTR.task]: rule.task } : {}) }), store)
    if (result.kind === 'full') {
      throw new ShadowsError('SHADOWS_ERR_TOO_MANY_STRIKES', `shadow ${this.name} already holds ${this.maxStrikes} strikes; restore some first`)
    }
    const created = result.kind === 'created'
    if (created) await this.strikeCopy.changed(result.change)
    this.logger.info({ shadow: this.name, strike: id, rule: describeStrike(rule) }, created ? 'strike added' : 'strike already present')
    return { strike: result.strike, created }
  }

  /** Removes a strike rule, by id or by the rule itself. Tasks skipped meanwhile stay skipped. */
  async restore(idOrRule: string | StrikeInput): Promise<Strike> {
    this.assertOpen()
    const id = typeof idOrRule === 'string' ? idOrRule : strikeId(normalizeStrike(idOrRule))
    const remove = () => removeStrike(this.redis, this.keys, id, this.eventsLimit)
    const removed = await traceCall(this.name, 'restore', () => ({ [ATTR.strike]: id }), remove)
    if (removed === undefined) throw new ShadowsError('SHADOWS_ERR_NOT_FOUND', `no strike with id ${id}`, { id })
    await this.strikeCopy.changed(removed.change)
    this.logger.info({ shadow: this.name, strike: id }, 'strike restored')
    return removed.strike
  }

  /** The strike rules in force, oldest first. */
  async strikes(): Promise<Strike[]> {
    this.assertOpen()
    return [...(await this.strikeCopy.current(true)).rules]
  }

  /** Counts and lists of what is scheduled, queued and running. */
  async snapshot(): Promise<Snapshot> {
    this.assertOpen()
    return takeSnapshot(this.redis, this.keys)
  }

  /** Live workers, from their heartbeats. */
  async workers(): Promise<WorkerInfo[]> {
    this.assertOpen()
    return listWorkers(this.redis, this.keys)
  }

  /**
   * Ends the waits and the events readers (`SHADOWS_ERR_CLOSED`), lets the adds already made be
   * stored, then releases the connection (when this client opened it). Idempotent. While Redis does
   * not answer, the adds get 5 s, then fail with the connection.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.waiters.close()
      for (const log of [...this.eventLogs]) log.close()
      // while Redis is away an add would wait for its retries to run out, over a minute
      let awaySince: number | undefined
      while (this.storing.size > 0) {
        if (this.redis.status === 'ready') awaySince = undefined
        else if (Date.now() - (awaySince ??= Date.now()) >= ADDS_WAIT_WHILE_AWAY) break
        await Promise.race([Promise.allSettled([...this.storing]), sleep(100, undefined, { ref: false })])
      }
      if (!this.ownsRedis) return
      // QUIT would queue behind the commands waiting for Redis: they fail at once instead
      if (this.redis.status !== 'ready') return closeNow(this.redis)
      try {
        await this.redis.quit()
      } catch {
        closeNow(this.redis)
      }
    })()
    return this.closing
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.closing !== undefined
  }

  /** The task's record, read in one transaction with its due time (a scheduled task's lives in the schedule). */
  private async read(key: string): Promise<TaskInfo | undefined> {
    const stored = storedKey(key)
    const replies = await this.redis.multi().hgetall(this.keys.task(stored)).zscore(this.keys.schedule, stored).exec()
    const [[hashErr, hash], [scoreErr, score]] = (replies ?? []) as [[Error | null, Record<string, string>], [Error | null, string | null]]
    if (hashErr ?? scoreErr) throw hashErr ?? scoreErr
    return parseRecord(key, hash, score ?? undefined)
  }

  /** Stores one task; close() waits for it. */
  private store(prepared: Prepared): Promise<AddResult> {
    return this.track(storeOne(this.storeContext, prepared))
  }

  /** Remembers an add until it settles, so that close() lets every add already made finish first. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.storing.add(work)
    const settled = () => this.storing.delete(work)
    work.then(settled, settled)
    return work
  }

  private assertOpen(): void {
    if (this.closing) throw new ShadowsError('SHADOWS_ERR_CLOSED', `shadow ${this.name} is closed`)
  }
}

/** A wait in ms (`wait`, `timeout`): absent, or an integer from 0 to what a timer can measure. */
function waitOption(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_WAIT) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${name} must be an integer number of ms from 0 to ${MAX_WAIT}`, { field: name })
  }
  return value
}
