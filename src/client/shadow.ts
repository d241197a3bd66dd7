/**
 * The client: adds, schedules, replaces, cancels and inspects tasks, and keeps strikes.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { pino, type Logger } from 'pino'
import { AddCalls, BATCH_CHUNK, type AddReply, type Prepared } from './adds.js'
import { ShadowsError, isShadowsError } from '../core/errors.js'
import { isValidShadowName, shadowKeys, storedKey, type ShadowKeys } from '../redis/keys.js'
import { parseRecord, type TaskInfo } from '../core/records.js'
import { DEFAULT_REDIS_URL, closeNow, connect, type ConnectionOptions } from '../redis/connection.js'
import { describeRedisFailure } from '../redis/failure.js'
import { redactingSerializers } from '../redis/redact.js'
import { STALE, addStrike, cancelTask, removeStrike, type AddResult } from '../redis/commands.js'
import type { RedisClient } from '../redis/scripts.js'
import { StrikeCopy } from '../redis/strike-copy.js'
import { takeSnapshot, listWorkers, type Snapshot, type WorkerInfo } from './inspect.js'
import { prepareAdd, struckError, toExecution } from './prepare.js'
import type { AddOptions, BatchItem, BatchResult, Cancellation, Execution, Replacement, ReplaceOptions } from './types.js'
import { describeStrike, normalizeStrike, strikeId, type Strike, type StrikeInput } from '../core/strikes.js'
import type { AnyTask, ParamsOf } from '../core/task.js'
import { assertValidKey } from '../core/validation.js'

/** Default time a finished task's record is kept: 15 minutes. */
export const DEFAULT_EXECUTION_TTL = 15 * 60_000

/** Most strike rules one shadow holds; the store stays bounded. */
export const DEFAULT_MAX_STRIKES = 1000

/** Options of {@link Shadow}. */
export interface ShadowOptions {
  /** Name of the queue; many shadows can share a Redis (default `shadows`). */
  readonly name?: string
  /** Redis URL (default `redis://127.0.0.1:6379/0`); `redis+cluster://h:p,h:p` for a cluster. */
  readonly url?: string
  /** An existing connection to use instead of `url`; `close()` leaves it open. */
  readonly redis?: RedisClient
  /** How long a finished task's record is kept, in ms (default 15 min; 0 keeps nothing). */
  readonly executionTtl?: number
  /** Tasks that `add(name)` may name: their params are validated on add, and other names refused. */
  readonly tasks?: readonly AnyTask[]
  readonly logger?: Logger
  readonly maxStrikes?: number
  /** Settings of the connection opened from `url`. */
  readonly connection?: ConnectionOptions
}

const MAX_STALE_RETRIES = 10

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

/** One item of a batch add, prepared. */
interface BatchEntry {
  readonly index: number
  readonly prepared: Prepared
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
  readonly logger: Logger
  readonly maxStrikes: number
  private readonly keys: ShadowKeys
  private readonly redis: RedisClient
  private readonly registry: ReadonlyMap<string, AnyTask> | undefined
  private readonly ownsRedis: boolean
  private readonly strikeCopy: StrikeCopy
  private closing: Promise<void> | undefined
  private readonly adds: AddCalls
  private readonly storing = new Set<Promise<unknown>>()

  constructor(options: ShadowOptions = {}) {
    const name = options.name ?? 'shadows'
    if (!isValidShadowName(name)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `shadow name must be 1-100 chars of [A-Za-z0-9._:@-], got ${JSON.stringify(name)}`)
    }
    const ttl = options.executionTtl ?? DEFAULT_EXECUTION_TTL
    if (!Number.isInteger(ttl) || ttl < 0) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'executionTtl must be a non-negative integer (ms)')
    this.name = name
    this.keys = shadowKeys(name)
    this.executionTtl = ttl
    this.maxStrikes = options.maxStrikes ?? DEFAULT_MAX_STRIKES
    // an ioredis error may carry the password (a refused AUTH's arguments): never logged as it is
    const logger = options.logger ?? pino({ level: process.env.LOG_LEVEL ?? 'info' })
    this.logger = logger.child({}, { serializers: redactingSerializers(logger) })
    this.url = options.url ?? DEFAULT_REDIS_URL
    this.registry = options.tasks ? new Map(options.tasks.map((t) => [t.name, t])) : undefined
    this.ownsRedis = options.redis === undefined
    this.redis = options.redis ?? connect(this.url, { connectionName: `shadows:${name}`, ...options.connection })
    this.adds = new AddCalls(this.redis, this.keys)
    this.strikeCopy = new StrikeCopy(this.redis, this.keys)
    contexts.set(this, { name, url: this.url, redis: this.redis, keys: this.keys, logger: this.logger, executionTtl: ttl, strikes: this.strikeCopy })
    if (this.ownsRedis) {
      this.redis.on('error', (err: Error) => this.logger.warn({ err, shadow: name }, describeRedisFailure(err) ?? 'redis connection error'))
    }
  }

  /**
   * Adds a task. Returns a function taking the params, so that their type follows the task:
   * `await shadow.add(greet, { delay: 1000 })({ name: 'Jane' })`.
   */
  add<T extends AnyTask>(task: T, options?: AddOptions): (params: ParamsOf<T>) => Promise<Execution>
  add(task: string, options?: AddOptions): (params?: Record<string, unknown>) => Promise<Execution>
  add(task: string | AnyTask, options: AddOptions = {}): (params?: unknown) => Promise<Execution> {
    return async (params: unknown = {}) => {
      this.assertOpen()
      const prepared = prepareAdd(this.registry, task, params, options, 'add')
      return toExecution(prepared, await this.store(prepared))
    }
  }

  /** Replaces the task under `options.key` atomically (the old version never runs), or creates it. */
  replace<T extends AnyTask>(task: T, options: ReplaceOptions): (params: ParamsOf<T>) => Promise<Replacement>
  replace(task: string, options: ReplaceOptions): (params?: Record<string, unknown>) => Promise<Replacement>
  replace(task: string | AnyTask, options: ReplaceOptions): (params?: unknown) => Promise<Replacement> {
    return async (params: unknown = {}) => {
      this.assertOpen()
      if (options?.key === undefined) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'replace needs a key', { field: 'key' })
      const prepared = prepareAdd(this.registry, task, params, options, 'replace')
      const result = await this.store(prepared)
      // a replace stores whatever the key holds: never a duplicate
      return { key: prepared.key, task: prepared.task, when: new Date(prepared.due), state: result.state, replaced: !result.duplicate && result.replaced }
    }
  }

  /** Adds many tasks, up to 500 per script call; each is judged as if added alone, results in order. */
  addBatch(items: readonly BatchItem[]): Promise<BatchResult[]> {
    this.assertOpen()
    return this.track(this.storeBatch(items))
  }

  /**
   * Prepares and sends a batch a chunk at a time: each chunk goes out as soon as it is ready, so
   * Redis stores one while the next is validated. Items whose strikes check went stale (the
   * strikes changed meanwhile) are judged again, in order, against the new strikes.
   */
  private async storeBatch(items: readonly BatchItem[]): Promise<BatchResult[]> {
    if (items.length === 0) return []
    const results: (BatchResult | undefined)[] = new Array(items.length)
    let retry: BatchEntry[] = []
    let prepared = 0
    for (let tries = 0; tries === 0 || retry.length > 0; tries++) {
      if (tries > MAX_STALE_RETRIES) throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'strikes kept changing while adding')
      const strikes = await this.strikeCopy.current(tries > 0)
      const again = retry
      retry = []
      const calls: Promise<void>[] = []
      let failure: { err: unknown } | undefined
      const send = (entries: readonly BatchEntry[]) => {
        const sendable: BatchEntry[] = []
        for (const entry of entries) {
          const strike = strikes.match(entry.prepared.task, entry.prepared.params)
          if (strike) results[entry.index] = { ok: false, error: struckError(entry.prepared, strike) }
          else sendable.push(entry)
        }
        const sent = this.adds.send(
          sendable.map((entry) => entry.prepared),
          strikes.version,
        )
        calls.push(
          sent.then(
            (replies) =>
              sendable.forEach((entry, i) => {
                const reply = replies[i] as AddReply
                if (reply === STALE) retry.push(entry)
                else results[entry.index] = { ok: true, execution: toExecution(entry.prepared, reply) }
              }),
            (err: unknown) => {
              failure ??= { err }
            },
          ),
        )
      }
      for (let i = 0; i < again.length; i += BATCH_CHUNK) send(again.slice(i, i + BATCH_CHUNK))
      // a call that failed stops the rest: the batch rejects, as it would have sent as one
      while (prepared < items.length && !failure) {
        const chunk: BatchEntry[] = []
        for (; prepared < items.length && chunk.length < BATCH_CHUNK; prepared++) {
          const item = items[prepared] as BatchItem | null | undefined
          try {
            if (typeof item !== 'object' || item === null) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'a batch item must be an object', { field: 'item' })
            chunk.push({ index: prepared, prepared: prepareAdd(this.registry, item.task, item.params ?? {}, item, 'add') })
          } catch (err) {
            results[prepared] = { ok: false, error: asShadowsError(err) }
          }
        }
        send(chunk)
        // let this chunk go out (see AddCalls.send) while the next one is prepared
        if (prepared < items.length) await new Promise((resolve) => setImmediate(resolve))
      }
      await Promise.all(calls)
      if (failure) throw failure.err
      retry.sort((a, b) => a.index - b.index)
    }
    return results as BatchResult[]
  }

  /** Cancels a task: scheduled and queued ones never run; a running one has its signal aborted. */
  async cancel(key: string): Promise<Cancellation> {
    this.assertOpen()
    assertValidKey(key)
    const result = await cancelTask(this.redis, this.keys, storedKey(key), this.executionTtl)
    if (result.kind === 'missing') throw new ShadowsError('SHADOWS_ERR_NOT_FOUND', `no task with key ${key}`, { key })
    if (result.kind === 'finished') {
      const { state } = result
      throw new ShadowsError('SHADOWS_ERR_ALREADY_FINISHED', `task ${key} already finished (${state}); too late to cancel`, { key, state })
    }
    return { key, task: result.task, state: 'cancelled', previous: result.previous }
  }

  /** The task's record, or undefined when unknown or expired. */
  async get(key: string): Promise<TaskInfo | undefined> {
    this.assertOpen()
    assertValidKey(key)
    // read together: a scheduled task's due time lives in the schedule, not in its record
    const stored = storedKey(key)
    const replies = await this.redis.multi().hgetall(this.keys.task(stored)).zscore(this.keys.schedule, stored).exec()
    const [[hashErr, hash], [scoreErr, score]] = (replies ?? []) as [[Error | null, Record<string, string>], [Error | null, string | null]]
    if (hashErr ?? scoreErr) throw hashErr ?? scoreErr
    return parseRecord(key, hash, score ?? undefined)
  }

  /** Adds a strike rule; `created` is false when the same rule already existed. */
  async strike(input: StrikeInput): Promise<{ strike: Strike; created: boolean }> {
    this.assertOpen()
    const rule = normalizeStrike(input)
    const id = strikeId(rule)
    const strike: Strike = { id, ...rule, createdAt: new Date().toISOString() }
    const result = await addStrike(this.redis, this.keys, strike, this.maxStrikes)
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
    const removed = await removeStrike(this.redis, this.keys, id)
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
   * Lets the adds already made be stored, then releases the connection (when this client opened
   * it). Idempotent. While Redis does not answer, the adds get 5 s, then fail with the connection.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
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

  /** Stores one task; close() waits for it. */
  private store(prepared: Prepared): Promise<AddResult> {
    return this.track(this.storeOne(prepared))
  }

  /** Remembers an add until it settles, so that close() lets every add already made finish first. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.storing.add(work)
    const settled = () => this.storing.delete(work)
    work.then(settled, settled)
    return work
  }

  private async storeOne(prepared: Prepared): Promise<AddResult> {
    for (let tries = 0; tries <= MAX_STALE_RETRIES; tries++) {
      const strikes = await this.strikeCopy.current(tries > 0)
      const strike = strikes.match(prepared.task, prepared.params)
      if (strike) throw struckError(prepared, strike)
      const [reply] = await this.adds.send([prepared], strikes.version)
      if (reply !== undefined && reply !== STALE) return reply
    }
    throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'strikes kept changing while adding')
  }

  private assertOpen(): void {
    if (this.closing) throw new ShadowsError('SHADOWS_ERR_CLOSED', `shadow ${this.name} is closed`)
  }
}

function asShadowsError(err: unknown): ShadowsError {
  if (isShadowsError(err)) return err
  throw err
}
