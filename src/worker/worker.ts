/**
 * The worker: its consumer reads the stream through the consumer group and runs tasks within a
 * concurrency bound (consumer.ts); it records outcomes in batches, renews its claim on long tasks,
 * reclaims the tasks of dead workers, beats its heart, runs the scheduler that moves due tasks onto
 * the stream, hears pushed events, and closes all of it in order.
 */
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ShadowsError, isShadowsError } from '../core/errors.js'
import { Consumer } from './consumer.js'
import { Outcomes } from './outcomes.js'
import { CONSUMER_GROUP } from '../redis/keys.js'
import { closeNow, duplicate } from '../redis/connection.js'
import { describeRedisFailure } from '../redis/failure.js'
import { redactingSerializers } from '../redis/redact.js'
import { decodeStrikeChange, type StrikeChange } from '../redis/strike-changes.js'
import type { RedisClient } from '../redis/scripts.js'
import { Scheduler } from './scheduler.js'
import type { Shadow } from '../client/shadow.js'
import { isAutomatic, nextCronTime, type AnyTask } from '../core/task.js'
import { assertValidTaskName } from '../core/validation.js'
import { Heartbeat } from './heartbeat.js'
import { Claims } from './claims.js'

/** Options of {@link Worker}. */
export interface WorkerOptions {
  /** The tasks this worker runs; a message naming any other is put back for another worker. */
  readonly tasks: readonly AnyTask[]
  /** Most tasks running at once (default 10). */
  readonly concurrency?: number
  /** A task whose worker has not renewed its claim for this long (ms) is redelivered (default 300 000). */
  readonly redeliveryTimeout?: number
  /** Consumer name (default `host#pid`). */
  readonly name?: string
  /** How long `close()` lets running tasks finish before aborting them, in ms (default 30 000). */
  readonly gracePeriod?: number
  /** Heartbeat period in ms (default 2000); a worker is listed until 2.5 periods after its last beat. */
  readonly heartbeatInterval?: number
  /** Delay before a task this worker does not know is offered again, in ms (default 5000). */
  readonly unknownTaskDelay?: number
  /** A task delivered this many times without finishing (its worker died each time) fails (default 5). */
  readonly maxDeliveries?: number
  readonly logger?: Logger
  /** Told about every start and end, e.g. to keep metrics. */
  readonly observer?: WorkerObserver
}

/** Hooks a worker calls as tasks start and end (metrics live here, outside the engine). */
export interface WorkerObserver {
  /** A task started; `lateness` is start − when, in ms. */
  taskStarted?(task: string, lateness: number): void
  /** An attempt ended: completed, failed, retry, cancelled, struck, again (a perpetual run), defer. */
  taskEnded?(task: string, outcome: string, durationMs: number): void
}

const DEFAULTS = Object.freeze({
  concurrency: 10,
  redeliveryTimeout: 300_000,
  gracePeriod: 30_000,
  heartbeatInterval: 2_000,
  unknownTaskDelay: 5_000,
  maxDeliveries: 5,
  /** Longest blocking read; close() interrupts it. */
  readBlock: 5_000,
  /** Blocking read while running until finished: how often "is anything left?" is asked. */
  drainCheck: 100,
  schedulerBatch: 1_000,
  schedulerMaxSleep: 15_000,
  startBatch: 500,
  /**
   * After the grace period, how long close() still waits for what is left to tell Redis (outcomes,
   * the heartbeat, the consumer group) before giving up on it.
   */
  closeMargin: 2_000,
})


/** Runs registered tasks from one shadow. */
export class Worker {
  readonly shadow: Shadow
  readonly name: string
  readonly concurrency: number
  readonly redeliveryTimeout: number
  readonly logger: Logger
  private readonly options: Required<Omit<WorkerOptions, 'tasks' | 'name' | 'logger' | 'observer'>>
  private readonly registry: ReadonlyMap<string, AnyTask>
  private subscriber: RedisClient | undefined
  private readonly outcomes: Outcomes
  private readonly consumer: Consumer
  private readonly scheduler: Scheduler
  private readonly heartbeat: Heartbeat
  private loop: Promise<void> | undefined
  /** Set by close(): from then on nothing new starts. */
  private closing: Promise<void> | undefined
  /** Resolves when close() is called: a wait on Redis races it, so that close() never waits for Redis. */
  private readonly closeCalled: Promise<void>
  private resolveCloseCalled!: () => void
  private readonly claims: Claims

  constructor(shadow: Shadow, options: WorkerOptions) {
    const tasks = options?.tasks
    if (!Array.isArray(tasks)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'Worker needs { tasks: [...] }')
    this.shadow = shadow
    this.name = options.name ?? `${hostname()}#${process.pid}`
    const merged = {
      concurrency: options.concurrency ?? DEFAULTS.concurrency,
      redeliveryTimeout: options.redeliveryTimeout ?? DEFAULTS.redeliveryTimeout,
      gracePeriod: options.gracePeriod ?? DEFAULTS.gracePeriod,
      heartbeatInterval: options.heartbeatInterval ?? DEFAULTS.heartbeatInterval,
      unknownTaskDelay: options.unknownTaskDelay ?? DEFAULTS.unknownTaskDelay,
      maxDeliveries: options.maxDeliveries ?? DEFAULTS.maxDeliveries,
    }
    for (const [field, value] of Object.entries(merged)) {
      const min = field === 'gracePeriod' || field === 'unknownTaskDelay' ? 0 : 1
      if (!Number.isInteger(value) || value < min) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `worker ${field} must be an integer >= ${min}`)
    }
    this.options = Object.freeze(merged)
    this.concurrency = merged.concurrency
    this.redeliveryTimeout = merged.redeliveryTimeout
    const registry = new Map<string, AnyTask>()
    for (const task of tasks) {
      assertValidTaskName(task?.name)
      if (registry.has(task.name)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `task ${task.name} is registered twice`)
      registry.set(task.name, task)
    }
    this.registry = registry
    const logger = options.logger ?? shadow.logger
    this.logger = logger.child({ worker: this.name }, { serializers: redactingSerializers(logger) })
    this.closeCalled = new Promise((resolve) => {
      this.resolveCloseCalled = resolve
    })
    this.outcomes = new Outcomes(shadow, this.name, this.logger)
    this.consumer = new Consumer(shadow, {
      ...merged,
      worker: this,
      name: this.name,
      registry,
      readBlock: DEFAULTS.readBlock,
      drainCheck: DEFAULTS.drainCheck,
      startBatch: DEFAULTS.startBatch,
      logger: this.logger,
      observer: options.observer,
      outcomes: this.outcomes,
    })
    this.scheduler = new Scheduler(shadow.redis, shadow.keys, this.logger, {
      batch: DEFAULTS.schedulerBatch,
      maxSleep: DEFAULTS.schedulerMaxSleep,
    })
    this.claims = new Claims(shadow, {
      name: this.name,
      redeliveryTimeout: merged.redeliveryTimeout,
      logger: this.logger,
      running: () => this.consumer.running.keys(),
      freeSlots: () => this.consumer.freeSlots(),
      start: (entries) => this.consumer.dispatch(entries, true),
    })
    this.heartbeat = new Heartbeat(shadow, {
      name: this.name,
      interval: merged.heartbeatInterval,
      tasks: [...registry.keys()],
      concurrency: merged.concurrency,
      running: () => this.consumer.running.size,
      logger: this.logger,
    })
  }

  /** Names of the tasks this worker runs. */
  get taskNames(): string[] {
    return [...this.registry.keys()]
  }

  /** Number of tasks running now. */
  get running(): number {
    return this.consumer.running.size
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
    this.logger.info({ tasks: this.taskNames, concurrency: this.concurrency, shadow: this.shadow.name }, 'worker started')
    try {
      await this.consumer.readLoop(untilFinished)
    } finally {
      await this.claims.stop()
    }
  }

  /** Connects, waiting for Redis as long as it takes (or until close()); false when closed first. */
  private async connectPatiently(): Promise<boolean> {
    for (let failures = 1; ; failures++) {
      // the attempt's commands wait for their retries to run out (minutes, against a port that
      // never answers): close() does not wait for them, and what they end with is of no interest
      const attempt = this.connect()
      attempt.catch(() => undefined)
      try {
        return await Promise.race([attempt.then(() => true), this.closeCalled.then(() => false)])
      } catch (err) {
        if (this.closing) return false
        if (failures === 1 || failures % 10 === 0) {
          const failure = describeRedisFailure(err)
          this.logger.warn({ err, failures }, failure ? `${failure} (at start-up; trying again)` : 'cannot reach redis at start-up; waiting for it')
        }
        const until = Date.now() + Math.min(500 * failures, 5000)
        while (!this.closing && Date.now() < until) await sleep(100)
        if (this.closing) return false
      }
    }
  }

  private async connect(): Promise<void> {
    const shadow = this.shadow
    // opened before anything is awaited, so that a close() meanwhile finds it to close
    this.consumer.openReader()
    if (!this.subscriber) {
      const subscriber = duplicate(shadow.redis)
      this.subscriber = subscriber
      subscriber.on('error', (err: Error) => this.logger.debug({ err }, 'subscriber connection error'))
      subscriber.on('message', (_channel: string, message: string) => this.onEvent(message))
      // after a reconnection, pushes may have been missed: look at the schedule, the strikes and
      // the running tasks' records again
      let connectedBefore = false
      subscriber.on('ready', () => {
        if (!connectedBefore) {
          connectedBefore = true
          return
        }
        this.logger.info('reconnected to redis')
        this.scheduler.wake()
        void this.refreshStrikes()
        void this.consumer.recoverOwnPending()
        void this.consumer.recheckRunning()
      })
      await subscriber.subscribe(shadow.keys.events)
    }
    await this.consumer.connect()
    await this.shadow.currentStrikes(true)
  }

  private onEvent(message: string): void {
    const space = message.indexOf(' ')
    const kind = message.slice(0, space)
    const rest = message.slice(space + 1)
    if (kind === 'due') {
      this.scheduler.notifyDue(Number(rest))
    } else if (kind === 'cancel') {
      const [gen = '', key = ''] = rest.split(' ')
      this.consumer.cancel(key, gen)
    } else if (kind === 'strikes') {
      void this.refreshStrikes(decodeStrikeChange(rest))
    }
  }

  /** Follows a pushed strike change, or (none given, e.g. after a reconnection) reads what changed. */
  private async refreshStrikes(change?: StrikeChange): Promise<void> {
    try {
      await this.shadow.strikesChanged(change)
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
    this.consumer.stop()
    // Running tasks get the grace period, counted from now; what is left to tell Redis gets
    // closeMargin more. No wait on Redis outlasts that: while Redis is away, a command waits for its
    // retries to run out, over a minute.
    const graceEnds = Date.now() + this.options.gracePeriod
    const closeEnds = graceEnds + DEFAULTS.closeMargin
    const left = (until: number) => Math.max(0, until - Date.now())
    // the bound's timer must not keep the process alive once everything else is closed
    const bounded = (work: Promise<unknown> | undefined) => Promise.race([work, sleep(left(closeEnds), undefined, { ref: false })])
    const steps: [string, () => Promise<unknown> | unknown][] = [
      // no renewal or reclaim starts from now on; one in progress starts nothing more (dispatch)
      ['stop claiming', () => bounded(this.claims.stop())],
      ['stop scheduler', () => bounded(this.scheduler.stop())],
      ['stop reading', () => this.consumer.disconnect()],
      // nothing may start once the running tasks are being drained
      ['wait for the loop', () => bounded(this.loop)],
      ['finish running tasks', () => this.consumer.drainRunning(left(graceEnds))],
      ['record outcomes', () => bounded(this.outcomes.close(left(closeEnds)))],
      ['stop heartbeat', () => bounded(this.heartbeat.stop())],
      ['leave the consumer group', () => bounded(this.leaveGroup())],
      ['close subscriber', () => this.subscriber && closeNow(this.subscriber)],
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

  /** Removes this worker from the consumer group when it holds no message, so the group does not grow forever. */
  private async leaveGroup(): Promise<void> {
    const { redis, keys } = this.shadow
    // while Redis is away this would only wait for its retries to run out; the entry is harmless
    if (redis.status !== 'ready') return
    const pending = (await redis.xpending(keys.stream, CONSUMER_GROUP, '-', '+', 1, this.name)) as unknown[]
    if (pending.length === 0) await redis.xgroup('DELCONSUMER', keys.stream, CONSUMER_GROUP, this.name)
  }
}
