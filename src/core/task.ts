/**
 * Tasks: `defineTask` and the types around it. A task's params type is inferred from its TypeBox
 * schema, so `shadow.add(greet)({ nam: 'x' })` does not compile.
 */
import { Type, type Static, type TObject } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Cron } from 'croner'
import type { Logger } from 'pino'
import { ShadowsError } from './errors.js'
import { assertValidTaskName } from './validation.js'
import type { Shadow } from '../client/shadow.js'
import type { Worker } from '../worker/worker.js'

/**
 * How a failed attempt is tried again. `attempts` counts every try, the first included;
 * `Infinity` retries for ever (exponential backoff then needs `maxDelay`). A task that throws
 * `NonRetryableError` is not retried.
 */
export interface RetryOptions {
  readonly attempts: number
  /** Delay before the second try, in ms (default 1000). */
  readonly delay?: number
  /** `fixed` waits `delay` each time; `exponential` doubles it after each failure (default `fixed`). */
  readonly backoff?: 'fixed' | 'exponential'
  /** Upper bound of the delay, in ms (default: none). */
  readonly maxDelay?: number
}

/** A task that schedules its next run, under the same key, after each run. */
export interface PerpetualOptions {
  /** Target interval between starts, in ms. */
  readonly every: number
  /** Workers that know the task schedule it at start-up when it is absent and not struck. */
  readonly automatic?: boolean
}

/** A task that runs at each wall-clock time a cron expression matches (croner syntax). */
export interface CronOptions {
  readonly expression: string
  /** IANA time zone, e.g. `Europe/Paris` (default `UTC`, whatever the host's time zone). */
  readonly tz?: string
}

/**
 * At most `limit` attempts of the task run at once across every worker; with `by` (a parameter
 * name), at most `limit` per value of that parameter. A task over its limit waits, without using an
 * attempt, and starts as soon as a slot frees, oldest first.
 */
export interface ConcurrencyOptions<P extends string = string> {
  readonly limit: number
  readonly by?: P
}

/**
 * At most `limit` starts of the task in any `per` ms (a sliding window) across every worker; with
 * `by`, per value of that parameter. The rest are scheduled for when the window allows them.
 */
export interface RateLimitOptions<P extends string = string> {
  readonly limit: number
  /** The window, in ms. */
  readonly per: number
  readonly by?: P
}

/** What a running task can see and do besides its params. */
export interface TaskContext {
  readonly key: string
  readonly task: string
  /** 1-based; redelivery after a worker died does not count as a new attempt. */
  readonly attempt: number
  readonly when: Date
  /** Fires on cancel, on timeout and when the worker shuts down. */
  readonly signal: AbortSignal
  /** pino child logger carrying worker, task, key and attempt. */
  readonly logger: Logger
  readonly shadow: Shadow
  readonly worker: Worker
  /** Stores progress with the task; `get()` shows it. */
  progress(current: number, total?: number, message?: string): Promise<void>
  /**
   * Ends this attempt and runs the task again in `ms` ms, as its next attempt (an attempt is used,
   * whatever `retry` says). It throws: `return ctx.retryIn(5000)` or `throw` both read well.
   */
  retryIn(ms: number): never
  /** As {@link retryIn}, at `when` (a past time: at once). */
  retryAt(when: Date | number): never
  /**
   * Pushes this attempt's timeout out: it now fires no sooner than `ms` ms from now. For long work
   * that is making progress. Without a task `timeout` there is nothing to push.
   */
  extendTimeout(ms: number): void
  /** For perpetual and cron tasks; undefined for the others. */
  readonly perpetual: PerpetualControl | undefined
}

/** What a run of a perpetual or cron task can say of the chain. */
export interface PerpetualControl {
  /** Ends the chain after this run. */
  cancel(): void
  /** The next run is `ms` ms after this run ends, instead of what `every` or the cron says. */
  after(ms: number): void
  /** The next run is at `when`, instead of what `every` or the cron says (a past time: at once). */
  at(when: Date | number): void
}

/** The options `defineTask` takes. */
export interface TaskOptions<S extends TObject, R> {
  /** 1–100 chars of `[A-Za-z0-9._:-]`, not `__proto__`, `constructor` or `prototype`. */
  readonly name: string
  /** TypeBox object schema of the params (default: an empty object). */
  readonly params?: S
  readonly run: (params: Static<S>, ctx: TaskContext) => Promise<R> | R
  readonly retry?: RetryOptions
  /** Per-attempt time limit in ms: past it `ctx.signal` fires and the attempt fails. */
  readonly timeout?: number
  readonly perpetual?: PerpetualOptions
  readonly cron?: CronOptions
  /** A limit on the attempts running at once, across every worker. */
  readonly concurrency?: ConcurrencyOptions<keyof Static<S> & string>
  /** A limit on the starts per window, across every worker. */
  readonly rateLimit?: RateLimitOptions<keyof Static<S> & string>
}

/** A registered task, as returned by {@link defineTask}. */
export interface Task<S extends TObject = TObject, R = unknown> {
  readonly name: string
  readonly params: S
  readonly run: (params: Static<S>, ctx: TaskContext) => Promise<R> | R
  readonly retry: Required<RetryOptions> | undefined
  readonly timeout: number | undefined
  readonly perpetual: PerpetualOptions | undefined
  readonly cron: CronOptions | undefined
  readonly concurrency: ConcurrencyOptions | undefined
  readonly rateLimit: RateLimitOptions | undefined
  /** Throws `SHADOWS_ERR_INVALID_PARAMS` naming the first wrong field. */
  validate(params: unknown): asserts params is Static<S>
}

/** Any task, whatever its params. Used where tasks are collected in a registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTask = Task<any, any>

/** The params type of a task. */
export type ParamsOf<T> = T extends Task<infer S, unknown> ? Static<S> : never

function fail(message: string): never {
  throw new ShadowsError('SHADOWS_ERR_VALIDATION', message)
}

function positiveInteger(value: unknown, what: string, allowZero = false): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    fail(`${what} must be ${allowZero ? 'a non-negative' : 'a positive'} integer`)
  }
}

/** Checks `params` against a compiled schema; the error names the first wrong field. */
export function checkParams(check: TypeCheck<TObject>, task: string, params: unknown): void {
  if (check.Check(params)) return
  const first = check.Errors(params).First()
  const field = first?.path ? first.path.slice(1).replaceAll('/', '.') : ''
  const where = field ? `params.${field}` : 'params'
  throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${task}: ${where}: ${first?.message ?? 'does not match the schema'}`, {
    task,
    field: where,
  })
}

/** Defines a task. The returned object is frozen and can be shared by clients and workers. */
export function defineTask<S extends TObject = TObject, R = unknown>(options: TaskOptions<S, R>): Task<S, R> {
  const { name, run, retry, timeout, perpetual, cron, concurrency, rateLimit } = options
  assertValidTaskName(name, 'name')
  if (typeof run !== 'function') fail(`task ${name}: run must be a function`)
  const params = (options.params ?? Type.Object({})) as S
  if (params.type !== 'object') fail(`task ${name}: params must be a TypeBox object schema`)
  let fullRetry: Required<RetryOptions> | undefined
  if (retry !== undefined) {
    if (retry.attempts !== Infinity) positiveInteger(retry.attempts, `task ${name}: retry.attempts`)
    positiveInteger(retry.delay ?? 1000, `task ${name}: retry.delay`, true)
    if (retry.maxDelay !== undefined) positiveInteger(retry.maxDelay, `task ${name}: retry.maxDelay`, true)
    const backoff = retry.backoff ?? 'fixed'
    if (backoff !== 'fixed' && backoff !== 'exponential') fail(`task ${name}: retry.backoff must be fixed or exponential`)
    if (retry.attempts === Infinity && backoff === 'exponential' && retry.maxDelay === undefined) {
      fail(`task ${name}: retry.attempts Infinity with exponential backoff needs retry.maxDelay`)
    }
    fullRetry = Object.freeze({
      attempts: retry.attempts,
      delay: retry.delay ?? 1000,
      backoff,
      maxDelay: retry.maxDelay ?? Number.MAX_SAFE_INTEGER,
    })
  }
  if (timeout !== undefined) positiveInteger(timeout, `task ${name}: timeout`)
  if (perpetual !== undefined) positiveInteger(perpetual.every, `task ${name}: perpetual.every`)
  if (perpetual !== undefined && cron !== undefined) fail(`task ${name}: give perpetual or cron, not both`)
  if (cron !== undefined) {
    try {
      // croner checks the time zone only when it computes a date: compute one
      const job = new Cron(cron.expression, { paused: true, timezone: cron.tz ?? 'UTC' })
      const next = job.nextRun()
      job.stop()
      if (!next) throw new Error('it never matches')
    } catch (err) {
      fail(`task ${name}: invalid cron expression ${JSON.stringify(cron.expression)}: ${(err as Error).message}`)
    }
  }
  const limitedBy = (by: unknown, what: string): void => {
    if (by === undefined) return
    if (typeof by !== 'string' || !Object.hasOwn(params.properties, by)) fail(`task ${name}: ${what}.by must name a parameter of the task`)
  }
  if (concurrency !== undefined) {
    positiveInteger(concurrency.limit, `task ${name}: concurrency.limit`)
    limitedBy(concurrency.by, 'concurrency')
  }
  if (rateLimit !== undefined) {
    positiveInteger(rateLimit.limit, `task ${name}: rateLimit.limit`)
    positiveInteger(rateLimit.per, `task ${name}: rateLimit.per`)
    limitedBy(rateLimit.by, 'rateLimit')
  }
  const check = TypeCompiler.Compile(params)
  return Object.freeze({
    name,
    params,
    run,
    retry: fullRetry,
    timeout,
    perpetual: perpetual ? Object.freeze({ ...perpetual }) : undefined,
    cron: cron ? Object.freeze({ ...cron }) : undefined,
    concurrency: concurrency ? Object.freeze({ ...concurrency }) : undefined,
    rateLimit: rateLimit ? Object.freeze({ ...rateLimit }) : undefined,
    validate(value: unknown): asserts value is Static<S> {
      checkParams(check as unknown as TypeCheck<TObject>, name, value)
    },
  })
}

/** Delay before the attempt after `failedAttempt` (1-based), per the task's retry policy. */
export function retryDelay(retry: Required<RetryOptions>, failedAttempt: number): number {
  // the power is bounded (2^60 is past any delay maxDelay allows): a finite number even for
  // attempt 10,000 of a task retried for ever, and 0 for a zero delay
  const base = retry.backoff === 'exponential' ? retry.delay * 2 ** Math.min(failedAttempt - 1, 60) : retry.delay
  return Math.min(base, retry.maxDelay)
}

/** Next due time of a cron task strictly after `after`, or undefined when the expression never matches again. */
export function nextCronTime(cron: CronOptions, after: Date): Date | undefined {
  const job = new Cron(cron.expression, { paused: true, timezone: cron.tz ?? 'UTC' })
  try {
    return job.nextRun(after) ?? undefined
  } finally {
    job.stop()
  }
}

/** Whether a task is scheduled again after each run (perpetual or cron). */
export function isRecurring(task: AnyTask): boolean {
  return task.perpetual !== undefined || task.cron !== undefined
}

/** Whether workers schedule the task by themselves at start-up. Cron tasks always are. */
export function isAutomatic(task: AnyTask): boolean {
  return task.cron !== undefined || task.perpetual?.automatic === true
}
