/**
 * The worker: wires its parts and closes them in order. Admission (slots.ts) bounds how many tasks
 * run at once; the read loop (read-loop.ts) takes new messages as slots allow; the starter
 * (starter.ts) starts them after its checks; the runner (runner.ts) runs each attempt and hands its
 * outcome to the outcome writer (outcomes.ts). Claims (claims.ts) renew this worker's messages and
 * take over those of dead workers, recovery (recovery.ts) repairs what a reconnection broke, the
 * heartbeat lists the worker, the scheduler moves due tasks onto the stream, and the subscriber
 * (subscriber.ts) hears pushed events. Only this file knows the Shadow and the Worker: each part
 * gets the narrow context it needs (context.ts).
 */
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { shadowContext, type Shadow, type ShadowContext } from '../client/shadow.js'
import { Backoff } from '../core/backoff.js'
import { ShadowsError, isShadowsError } from '../core/errors.js'
import { isAutomatic, nextCronTime, type AnyTask } from '../core/task.js'
import { describeRedisFailure } from '../redis/failure.js'
import { workerLimits } from '../redis/limits.js'
import { redactingSerializers } from '../redis/redact.js'
import type { StrikeChange } from '../redis/strike-changes.js'
import { Claims } from './claims.js'
import type { WorkerContext } from './context.js'
import { pingWithin, type WorkerHealth } from './health.js'
import { Heartbeat } from './heartbeat.js'
import { WORKER_DEFAULTS, taskRegistry, workerSettings, type WorkerObserver, type WorkerOptions, type WorkerSettings } from './options.js'
import { Outcomes } from './outcomes.js'
import { ReadLoop } from './read-loop.js'
import { RunQuota } from './run-quota.js'
import { Recovery } from './recovery.js'
import { AttemptRunner } from './runner.js'
import { Scheduler } from './scheduler.js'
import { Slots } from './slots.js'
import { Starter } from './starter.js'
import { EventSubscriber } from './subscriber.js'

export type { WorkerOptions, WorkerObserver } from './options.js'
export type { WorkerHealth } from './health.js'

/** Runs registered tasks from one shadow. */
export class Worker {
  readonly shadow: Shadow
  readonly name: string
  readonly concurrency: number
  readonly redeliveryTimeout: number
  readonly logger: Logger
  private readonly settings: WorkerSettings
  private readonly registry: ReadonlyMap<string, AnyTask>
  private readonly context: ShadowContext
  private readonly slots: Slots
  private readonly outcomes: Outcomes
  private readonly runner: AttemptRunner
  private readonly starter: Starter
  private readonly readLoop: ReadLoop
  private readonly recovery: Recovery
  private readonly claims: Claims
  private readonly scheduler: Scheduler
  private readonly heartbeat: Heartbeat
  private readonly subscriber: EventSubscriber
  private loop: Promise<void> | undefined
  /** The runs runAtMost() allows, while it runs. */
  private quota: RunQuota | undefined
  /** Set by close(): from then on nothing new starts. */
  private closing: Promise<void> | undefined
  /** Resolves when close() is called: a wait on Redis races it, so that close() never waits for Redis. */
  private readonly closeCalled: Promise<void>
  private resolveCloseCalled!: () => void

  constructor(shadow: Shadow, options: WorkerOptions) {
    if (!Array.isArray(options?.tasks)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'Worker needs { tasks: [...] }')
    const settings = workerSettings(options)
    this.registry = taskRegistry(options.tasks)
    this.shadow = shadow
    this.context = shadowContext(shadow)
    this.name = options.name ?? `${hostname()}#${process.pid}`
    this.settings = settings
    this.concurrency = settings.concurrency
    this.redeliveryTimeout = settings.redeliveryTimeout
    const logger = options.logger ?? this.context.logger
    this.logger = logger.child({ worker: this.name }, { serializers: redactingSerializers(logger) })
    this.closeCalled = new Promise((resolve) => {
      this.resolveCloseCalled = resolve
    })

    const { redis, keys, strikes, executionTtl, historyLimit, eventsLimit } = this.context
    const limits = workerLimits(this.registry.values(), settings.redeliveryTimeout)
    const ctx: WorkerContext = { redis, keys, strikes, executionTtl, historyLimit, eventsLimit, limits, name: this.name, logger: this.logger }
    const { observer } = options
    this.slots = new Slots(settings.concurrency)
    this.outcomes = new Outcomes(ctx)
    // the runner's starts and ends also count the runs runAtMost() allows
    const counted: WorkerObserver = {
      taskStarted: (task, lateness) => {
        this.quota?.started(task)
        observer?.taskStarted?.(task, lateness)
      },
      taskEnded: (task, outcome, durationMs) => {
        this.quota?.ended(task, outcome)
        observer?.taskEnded?.(task, outcome, durationMs)
      },
    }
    this.runner = new AttemptRunner({ ...ctx, slots: this.slots, outcomes: this.outcomes, observer: counted, handles: { shadow, worker: this } })
    this.starter = new Starter({
      ...ctx,
      registry: this.registry,
      unknownTasks: {
        firstDelay: settings.unknownTaskDelay,
        maxDelay: Math.max(settings.unknownTaskDelay, WORKER_DEFAULTS.unknownTaskMaxDelay),
        timeout: settings.unknownTaskTimeout,
      },
      maxDeliveries: settings.maxDeliveries,
      startBatch: WORKER_DEFAULTS.startBatch,
      slots: this.slots,
      runner: this.runner,
      outcomes: this.outcomes,
      observer,
    })
    this.readLoop = new ReadLoop({
      ...ctx,
      slots: this.slots,
      starter: this.starter,
      outcomes: this.outcomes,
      readBlock: WORKER_DEFAULTS.readBlock,
      drainCheck: WORKER_DEFAULTS.drainCheck,
    })
    this.recovery = new Recovery({ ...ctx, runner: this.runner, outcomes: this.outcomes, starter: this.starter })
    this.claims = new Claims({
      ...ctx,
      redeliveryTimeout: settings.redeliveryTimeout,
      running: () => this.runner.claims(),
      freeSlots: () => this.slots.free,
      start: (entries) => this.recovery.startTakenOver(entries),
    })
    this.scheduler = new Scheduler({ ...ctx, batch: WORKER_DEFAULTS.schedulerBatch, maxSleep: WORKER_DEFAULTS.schedulerMaxSleep })
    this.heartbeat = new Heartbeat({
      ...ctx,
      interval: settings.heartbeatInterval,
      tasks: [...this.registry.keys()],
      concurrency: settings.concurrency,
      running: () => this.runner.size,
    })
    this.subscriber = new EventSubscriber(ctx, {
      due: (at) => this.scheduler.notifyDue(at),
      cancel: (key, gen) => this.runner.cancel(key, gen),
      strikes: (change) => void this.refreshStrikes(change),
      // pushes may have been missed: look at the schedule, the strikes and the running tasks' records again
      reconnected: () => {
        this.scheduler.wake()
        void this.refreshStrikes()
        void this.recovery.recoverOwnPending()
        void this.recovery.recheckRunning()
      },
    })
  }

  /** Names of the tasks this worker runs. */
  get taskNames(): string[] {
    return [...this.registry.keys()]
  }

  /** Number of tasks running now. */
  get running(): number {
    return this.runner.size
  }

  /**
   * Whether this worker can take work, for readiness probes: Redis answers a PING within `timeout`
   * ms (default 1000), and the read loop runs and is not stuck (it made progress within twice its
   * longest blocking read plus 5 s, or it waits for running tasks to free a slot). Before `run()`,
   * while it waits for Redis at start-up, and from `close()` on, the read loop is not alive.
   * Resolves within `timeout`.
   */
  async health({ timeout = 1_000 }: { readonly timeout?: number } = {}): Promise<WorkerHealth> {
    const redis = await pingWithin(this.context.redis, timeout)
    // after the ping: what the loop did meanwhile counts
    const { alive, lastStepAt } = this.readLoop.progress.progress()
    return {
      redis,
      readLoop: alive && this.loop !== undefined && this.closing === undefined,
      lastLoopAt: lastStepAt === undefined ? null : new Date(lastStepAt),
    }
  }

  /** Runs until `close()`. */
  run(): Promise<void> {
    return this.start(false)
  }

  /** Runs until nothing is queued, scheduled or running in the shadow, then returns (the worker stays open). */
  runUntilFinished(): Promise<void> {
    return this.start(true)
  }

  /**
   * For tests of perpetual and cron tasks, whose chains never end by themselves: runs until each
   * task named in `runs` has ended that many runs on this worker (completed or failed; an attempt
   * that is retried has not ended its run, nor has one cancelled or interrupted), then closes the
   * worker, gracefully, and resolves once it is closed. Meanwhile a named task never has more runs
   * started here than its number: past it, its tasks wait, queued, and go back on the queue when
   * the worker closes, or as soon as a run that did not end (cancelled, retried) leaves room. Other tasks run as under `run()`. Rejects with `SHADOWS_ERR_VALIDATION` when
   * no task is named, a name is not one of this worker's tasks, or a number is not an integer ≥ 1.
   *
   * @example
   * await worker.runAtMost({ 'refresh-cache': 3 }) // three runs of the chain, then the worker is closed
   */
  async runAtMost(runs: Readonly<Record<string, number>>): Promise<void> {
    const quota = new RunQuota(
      this.registry,
      runs,
      () => void this.close(),
      () => this.starter.releaseHeld(),
    )
    if (this.quota) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `worker ${this.name} is already running runAtMost()`)
    if (!this.closing) {
      this.quota = quota
      this.starter.limitRuns((task) => quota.admits(task))
    }
    return this.start(false)
  }

  /**
   * Stops taking work, lets running tasks finish within the grace period, then aborts them and puts
   * them back on the queue; releases connections. Idempotent. Resolves within the grace period plus
   * 2 s whatever state Redis is in; while the worker still waits for Redis to come up, at once.
   */
  close(): Promise<void> {
    this.resolveCloseCalled()
    this.closing ??= this.shutdown()
    return this.closing
  }

  private start(untilFinished: boolean): Promise<void> {
    if (this.closing) return Promise.reject(new ShadowsError('SHADOWS_ERR_CLOSED', `worker ${this.name} is closed`))
    this.loop ??= this.activate(untilFinished).finally(() => {
      this.loop = undefined
    })
    // after close(), run() resolves once the shutdown is complete, not when reading stopped, nor
    // when a Redis command the loop still waits on gives up
    return Promise.race([this.loop, this.closeCalled]).then(() => this.closing)
  }

  private async activate(untilFinished: boolean): Promise<void> {
    try {
      // close() may come while any of these waits: stop at once, starting nothing more
      if (!(await this.connectPatiently()) || this.closing) return
      this.scheduler.start()
      await this.heartbeat.start()
      if (this.closing) return
      await this.scheduleAutomaticTasks()
      if (this.closing) return
      await this.work(untilFinished)
    } finally {
      // after close(), the shutdown stops them, within its bounds: here they would wait for Redis
      if (untilFinished && !this.closing) {
        await this.scheduler.stop()
        await this.heartbeat.stop()
      }
    }
  }

  private async work(untilFinished: boolean): Promise<void> {
    this.claims.start()
    this.logger.info({ tasks: this.taskNames, concurrency: this.concurrency, shadow: this.context.name }, 'worker started')
    try {
      await this.readLoop.run(untilFinished)
    } finally {
      await this.claims.stop()
    }
  }

  /** Connects, waiting for Redis as long as it takes (or until close()); false when closed first. */
  private async connectPatiently(): Promise<boolean> {
    const backoff = new Backoff({
      step: 500,
      max: 5_000,
      logEvery: 10,
      logger: this.logger,
      message: (err) => {
        const failure = describeRedisFailure(err)
        return failure ? `${failure} (at start-up; trying again)` : 'cannot reach redis at start-up; waiting for it'
      },
    })
    for (;;) {
      // the attempt's commands wait for their retries to run out (minutes, against a port that
      // never answers): close() does not wait for them, and what they end with is of no interest
      const attempt = this.connect()
      attempt.catch(() => undefined)
      try {
        return await Promise.race([attempt.then(() => true), this.closeCalled.then(() => false)])
      } catch (err) {
        if (this.closing) return false
        const until = Date.now() + backoff.failed(err)
        // in short sleeps, so that close() is heard at once
        while (!this.closing && Date.now() < until) await sleep(100)
        if (this.closing) return false
      }
    }
  }

  private async connect(): Promise<void> {
    // opened before anything is awaited, so that a close() meanwhile finds them to close
    this.readLoop.openReader()
    await this.subscriber.subscribe()
    await this.readLoop.connect()
    await this.context.strikes.current(true)
  }

  /** Follows a pushed strike change, or (none given, e.g. after a reconnection) reads what changed. */
  private async refreshStrikes(change?: StrikeChange): Promise<void> {
    try {
      await this.context.strikes.changed(change)
    } catch (err) {
      this.logger.warn({ err }, 'could not reload strikes')
    }
  }

  private async scheduleAutomaticTasks(): Promise<void> {
    for (const task of this.registry.values()) {
      if (!isAutomatic(task)) continue
      try {
        const when = task.cron ? nextCronTime(task.cron, new Date()) : new Date()
        if (!when) continue
        const execution = await this.shadow.add(task, { key: task.name, when })({})
        if (!execution.duplicate) this.logger.info({ task: task.name, when }, 'scheduled automatic task')
      } catch (err) {
        if (isShadowsError(err, 'SHADOWS_ERR_STRUCK')) this.logger.info({ task: task.name }, 'automatic task is struck; not scheduled')
        else this.logger.error({ err, task: task.name }, 'could not schedule automatic task')
      }
    }
  }

  private async shutdown(): Promise<void> {
    // nothing new starts from now on; the read loop, wherever it waits, ends
    this.slots.close()
    this.starter.stop()
    this.recovery.stop()
    this.readLoop.stop()
    // Running tasks get the grace period, counted from now; what is left to tell Redis gets
    // closeMargin more. No wait on Redis outlasts that: while Redis is away, a command waits for its
    // retries to run out, over a minute.
    const graceEnds = Date.now() + this.settings.gracePeriod
    const closeEnds = graceEnds + WORKER_DEFAULTS.closeMargin
    const left = (until: number) => Math.max(0, until - Date.now())
    // the bound's timer must not keep the process alive once everything else is closed
    const bounded = (work: Promise<unknown> | undefined) => Promise.race([work, sleep(left(closeEnds), undefined, { ref: false })])
    const steps: [string, () => Promise<unknown> | unknown][] = [
      // no renewal or reclaim starts from now on; one in progress starts nothing more
      ['stop claiming', () => bounded(this.claims.stop())],
      ['stop scheduler', () => bounded(this.scheduler.stop())],
      ['stop reading', () => this.readLoop.disconnect()],
      // nothing may start once the running tasks are being drained
      ['wait for the loop', () => bounded(this.loop)],
      ['finish running tasks', () => this.runner.drain(left(graceEnds))],
      ['record outcomes', () => bounded(this.outcomes.close(left(closeEnds)))],
      ['stop heartbeat', () => bounded(this.heartbeat.stop())],
      ['leave the consumer group', () => bounded(this.readLoop.leaveGroup())],
      ['close subscriber', () => this.subscriber.close()],
    ]
    for (const [step, run] of steps) {
      try {
        await run()
      } catch (err) {
        this.logger.warn({ err, step }, 'worker close step failed')
      }
    }
    this.logger.info('worker closed')
  }
}
