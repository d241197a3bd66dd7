/**
 * One attempt of one task: its context, its abort signal (cancel, timeout, shutdown) and its
 * outcome. Pure of Redis except for progress, which goes through the `progress` callback.
 */
import { context, type Context } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { CancelledError, RetryRequestedError, ShutdownError, TimeoutError } from '../core/errors.js'
import { userKey } from '../redis/keys.js'
import type { AbortCause, AttemptResult, ChainNext } from '../core/outcome-policy.js'
import type { AnyTask, PerpetualControl, TaskContext } from '../core/task.js'

export type { AbortCause, AttemptResult } from '../core/outcome-policy.js'

/** What a task gets as `ctx.shadow` and `ctx.worker`: handed on as they are, never looked into here. */
export interface TaskHandles {
  readonly shadow: TaskContext['shadow']
  readonly worker: TaskContext['worker']
}

/** Stores a progress report (JSON) of a running attempt. */
export type ProgressReport = (attempt: Attempt, body: string) => Promise<void>

/** What an attempt needs to know about the message it runs. */
export interface AttemptInput {
  readonly id: string
  /** The key as stored in Redis (see `storedKey`). */
  readonly key: string
  readonly gen: string
  readonly task: AnyTask
  readonly params: Record<string, unknown>
  readonly when: number
  readonly attempt: number
  /** The concurrency group whose slot the attempt holds ("" for none). */
  readonly slot: string
  /** The trace context the add stored, as the start script answers it ("" for none; see tracing.ts). */
  readonly trace: string
}

/** A running attempt. */
export class Attempt {
  readonly startedAt = Date.now()
  /** Set when `ctx.perpetual.cancel()` was called. */
  chainCancelled = false
  /** Set by `ctx.perpetual.after()` or `.at()`: when the next run of the chain is due. */
  chainNext: ChainNext | undefined
  /** Set by `ctx.retryIn()` or `ctx.retryAt()`: when the next attempt is due, epoch ms. */
  retryDue: number | undefined
  // the logger and the abort controller are made on first use: most tasks never touch them
  private childLogger: Logger | undefined
  private controller: AbortController | undefined
  private cause: AbortCause | undefined
  private reason: Error | undefined
  private abortFired: ((result: AttemptResult) => void) | undefined
  private timer: NodeJS.Timeout | undefined
  /** When the timeout fires, epoch ms; undefined for a task without a timeout. */
  private deadline: number | undefined

  constructor(
    readonly input: AttemptInput,
    private readonly workerLogger: Logger,
  ) {}

  /** pino child carrying task, key and attempt. */
  get logger(): Logger {
    this.childLogger ??= this.workerLogger.child({ task: this.input.task.name, key: userKey(this.input.key), attempt: this.input.attempt })
    return this.childLogger
  }

  /** The signal handed to the task. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController()
      if (this.reason) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  /** Fires the signal; the attempt ends with `cause` even if the task ignores the signal. */
  abort(cause: AbortCause): void {
    if (this.cause) return
    this.cause = cause
    const error = cause === 'timeout' ? new TimeoutError(this.input.task.timeout ?? 0) : cause === 'cancelled' ? new CancelledError() : new ShutdownError()
    this.reason = error
    this.controller?.abort(error)
    this.abortFired?.({ kind: 'aborted', cause, error })
  }

  /** Pushes the timeout out to `ms` from now, unless it already fires later (or there is none). */
  extendTimeout(ms: number): void {
    if (this.deadline === undefined || this.cause) return
    const deadline = Date.now() + ms
    if (deadline <= this.deadline) return
    this.deadline = deadline
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.abort('timeout'), ms)
  }

  /**
   * Runs the task once. Never throws. `progress` stores a progress report of this attempt; `within`
   * is the OpenTelemetry context the task runs in (its attempt's span), when tracing.
   */
  run(handles: TaskHandles, progress: ProgressReport, within?: Context): Promise<AttemptResult> {
    const { task, params } = this.input
    const ctx = new AttemptContext(this, handles, progress)
    if (task.timeout !== undefined) {
      this.deadline = Date.now() + task.timeout
      this.timer = setTimeout(() => this.abort('timeout'), task.timeout)
    }
    // one promise, settled by whichever comes first: the task's end or the abort signal
    return new Promise<AttemptResult>((resolve) => {
      let settled = false
      const settle = (result: AttemptResult) => {
        if (settled) return
        settled = true
        this.abortFired = undefined
        clearTimeout(this.timer)
        resolve(result)
      }
      this.abortFired = settle
      let running: unknown
      try {
        running = within ? context.with(within, task.run, task, params, ctx) : task.run(params, ctx)
      } catch (error) {
        settle(this.threw(error))
        return
      }
      Promise.resolve(running).then(
        (value) => settle({ kind: 'returned', value }),
        (error: unknown) => settle(this.threw(error)),
      )
    })
  }

  /** A task that noticed the abort and threw ends as aborted, not as failed. */
  private threw(error: unknown): AttemptResult {
    if (this.cause) return { kind: 'aborted', cause: this.cause, error: this.reason as Error }
    return { kind: 'threw', error }
  }
}

/**
 * The context a task runs with. Made for every attempt, so what most tasks never touch (the
 * signal, the logger, the progress function, the due time as a Date) is made on first use.
 * Every member reads well destructured: `run(params, { signal, progress })`.
 */
class AttemptContext implements TaskContext {
  readonly task: string
  readonly attempt: number
  private whenDate: Date | undefined
  private shownKey: string | undefined
  private progressFn: TaskContext['progress'] | undefined

  readonly shadow: TaskContext['shadow']
  readonly worker: TaskContext['worker']

  constructor(
    private readonly owner: Attempt,
    handles: TaskHandles,
    private readonly report: ProgressReport,
  ) {
    this.task = owner.input.task.name
    this.attempt = owner.input.attempt
    this.shadow = handles.shadow
    this.worker = handles.worker
  }

  /** The task's key as the user knows it (decoded once, on first use). */
  get key(): string {
    this.shownKey ??= userKey(this.owner.input.key)
    return this.shownKey
  }

  get when(): Date {
    this.whenDate ??= new Date(this.owner.input.when)
    return this.whenDate
  }

  get signal(): AbortSignal {
    return this.owner.signal
  }

  get logger(): Logger {
    return this.owner.logger
  }

  get progress(): TaskContext['progress'] {
    this.progressFn ??= async (current: number, total?: number, message?: string) => {
      if (typeof current !== 'number' || !Number.isFinite(current)) throw new TypeError('progress: current must be a finite number')
      await this.report(this.owner, JSON.stringify({ current, ...(total !== undefined ? { total } : {}), ...(message !== undefined ? { message } : {}) }))
    }
    return this.progressFn
  }

  readonly retryIn = (ms: number): never => {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError('retryIn: ms must be a non-negative number')
    return this.retryAt(Date.now() + ms)
  }

  readonly retryAt = (when: Date | number): never => {
    const due = epochMs(when, 'retryAt')
    this.owner.retryDue = due
    throw new RetryRequestedError(due)
  }

  readonly extendTimeout = (ms: number): void => {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError('extendTimeout: ms must be a non-negative number')
    this.owner.extendTimeout(ms)
  }

  get perpetual(): PerpetualControl | undefined {
    const { task } = this.owner.input
    if (task.perpetual === undefined && task.cron === undefined) return undefined
    const owner = this.owner
    return {
      cancel() {
        owner.chainCancelled = true
      },
      after(ms: number) {
        if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new TypeError('perpetual.after: ms must be a non-negative number')
        owner.chainNext = { after: ms }
      },
      at(when: Date | number) {
        owner.chainNext = { at: epochMs(when, 'perpetual.at') }
      },
    }
  }
}

/** A Date or epoch ms as epoch ms; a TypeError naming `what` for anything else. */
function epochMs(when: Date | number, what: string): number {
  const ms = when instanceof Date ? when.getTime() : when
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TypeError(`${what}: give a valid Date or epoch ms`)
  return ms
}
