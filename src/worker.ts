/**
 * The worker: reads the stream through the consumer group, runs tasks within a concurrency bound,
 * records outcomes in batches, renews its claim on long tasks, reclaims the tasks of dead workers,
 * beats its heart, and runs the scheduler that moves due tasks onto the stream.
 */
import { hostname } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { ShadowsError, isShadowsError } from './errors.js'
import { Attempt, type AttemptResult } from './execution.js'
import { decideOutcome, nextRunAt } from './decide.js'
import { Outcomes } from './outcomes.js'
import { CONSUMER_GROUP, userKey } from './keys.js'
import { describeError } from './records.js'
import { duplicate } from './redis/connection.js'
import { runScript, type RedisClient } from './redis/scripts.js'
import { entryFields, type StreamEntry } from './redis/stream.js'
import { Scheduler } from './scheduler.js'
import type { Shadow } from './shadow.js'
import { describeStrike, type StrikeSet } from './strikes.js'
import { isAutomatic, nextCronTime, type AnyTask } from './task.js'
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
})


/** A reclaimed task delivered this many times (its worker died with it at least twice) runs alone. */
const SUSPECT_DELIVERIES = 3
/**
 * The start script's reply: `['stale']`, or one string per message whose fields are separated by
 * the unit separator, params (JSON) last: `run id key gen task when attempt deliveries params`,
 * `unknown id key gen task`, or `drop id`.
 */
type StartReply = string[]
const SEP = '\x1f'

/** The first `count - 1` fields of a start reply entry, then the whole rest (params may hold anything). */
function splitEntry(entry: string, count: number): string[] {
  const fields: string[] = []
  let from = 0
  for (let i = 1; i < count; i++) {
    const at = entry.indexOf(SEP, from)
    if (at < 0) break
    fields.push(entry.slice(from, at))
    from = at + 1
  }
  fields.push(entry.slice(from))
  return fields
}

/** Runs registered tasks from one shadow. */
export class Worker {
  readonly shadow: Shadow
  readonly name: string
  readonly concurrency: number
  readonly redeliveryTimeout: number
  readonly logger: Logger
  private readonly options: Required<Omit<WorkerOptions, 'tasks' | 'name' | 'logger' | 'observer'>>
  private readonly observer: WorkerObserver | undefined
  private readonly registry: ReadonlyMap<string, AnyTask>
  private readonly inFlight = new Map<string, Attempt>()
  private reserved = 0
  /** Start calls of mode read in flight, and whether the last read found nothing. */
  private readsInFlight = 0
  private idle = true
  private readError: Error | undefined
  private slotFreed: (() => void) | undefined
  private reader: RedisClient | undefined
  private subscriber: RedisClient | undefined
  private readonly outcomes: Outcomes
  private readonly scheduler: Scheduler
  private readonly heartbeat: Heartbeat
  private loop: Promise<void> | undefined
  private stopRequested = false
  private closing: Promise<void> | undefined
  private readFailures = 0
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
      if (registry.has(task.name)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `task ${task.name} is registered twice`)
      registry.set(task.name, task)
    }
    this.registry = registry
    this.logger = (options.logger ?? shadow.logger).child({ worker: this.name })
    this.observer = options.observer
    this.outcomes = new Outcomes(shadow, this.name, this.logger)
    this.scheduler = new Scheduler(shadow.redis, shadow.keys, this.logger, {
      batch: DEFAULTS.schedulerBatch,
      maxSleep: DEFAULTS.schedulerMaxSleep,
    })
    this.claims = new Claims(shadow, {
      name: this.name,
      redeliveryTimeout: merged.redeliveryTimeout,
      logger: this.logger,
      running: () => this.inFlight.keys(),
      freeSlots: () => this.freeSlots(),
      start: (entries) => this.dispatch(entries, true),
    })
    this.heartbeat = new Heartbeat(shadow, {
      name: this.name,
      interval: merged.heartbeatInterval,
      tasks: [...registry.keys()],
      concurrency: merged.concurrency,
      running: () => this.inFlight.size,
      logger: this.logger,
    })
  }

  /** Names of the tasks this worker runs. */
  get taskNames(): string[] {
    return [...this.registry.keys()]
  }

  /** Number of tasks running now. */
  get running(): number {
    return this.inFlight.size
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
   * them back on the queue; releases connections. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private start(untilFinished: boolean): Promise<void> {
    if (this.closing) return Promise.reject(new ShadowsError('SHADOWS_ERR_CLOSED', `worker ${this.name} is closed`))
    this.loop ??= this.activate(untilFinished).finally(() => {
      this.loop = undefined
    })
    // after close(), run() resolves once the shutdown is complete, not when reading stopped
    return this.loop.then(() => this.closing)
  }

  private async activate(untilFinished: boolean): Promise<void> {
    this.stopRequested = false
    try {
      // close() may come while any of these waits: stop at once, starting nothing more
      if (!(await this.connectPatiently()) || this.stopRequested) return
      this.scheduler.start()
      await this.heartbeat.start()
      if (this.stopRequested) return
      await this.scheduleAutomaticTasks()
      if (this.stopRequested) return
      await this.work(untilFinished)
    } finally {
      if (this.stopRequested || (untilFinished && !this.closing)) {
        await this.scheduler.stop()
        await this.heartbeat.stop()
      }
    }
  }

  private async work(untilFinished: boolean): Promise<void> {
    this.claims.start()
    this.logger.info({ tasks: this.taskNames, concurrency: this.concurrency, shadow: this.shadow.name }, 'worker started')
    try {
      await this.readLoop(untilFinished)
    } finally {
      await this.claims.stop()
    }
  }

  /** Connects, waiting for Redis as long as it takes (or until close()); false when closed first. */
  private async connectPatiently(): Promise<boolean> {
    for (let failures = 1; ; failures++) {
      try {
        await this.connect()
        return true
      } catch (err) {
        if (this.stopRequested) return false
        if (failures === 1 || failures % 10 === 0) this.logger.warn({ err, failures }, 'cannot reach redis at start-up; waiting for it')
        const until = Date.now() + Math.min(500 * failures, 5000)
        while (!this.stopRequested && Date.now() < until) await sleep(100)
        if (this.stopRequested) return false
      }
    }
  }

  private async connect(): Promise<void> {
    const shadow = this.shadow
    if (!this.reader) {
      this.reader = duplicate(shadow.redis)
      this.reader.on('error', (err: Error) => this.logger.debug({ err }, 'reader connection error'))
    }
    if (!this.subscriber) {
      const subscriber = duplicate(shadow.redis)
      this.subscriber = subscriber
      subscriber.on('error', (err: Error) => this.logger.debug({ err }, 'subscriber connection error'))
      subscriber.on('message', (_channel: string, message: string) => this.onEvent(message))
      // after a reconnection, pushes may have been missed: look at the schedule and strikes again
      let connectedBefore = false
      subscriber.on('ready', () => {
        if (!connectedBefore) {
          connectedBefore = true
          return
        }
        this.logger.info('reconnected to redis')
        this.scheduler.wake()
        void this.refreshStrikes()
        void this.recoverOwnPending()
      })
      await subscriber.subscribe(shadow.keys.events)
    }
    await this.ensureGroup()
    await this.shadow.currentStrikes(true)
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.shadow.redis.xgroup('CREATE', this.shadow.keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err
    }
  }

  private onEvent(message: string): void {
    const space = message.indexOf(' ')
    const kind = message.slice(0, space)
    const rest = message.slice(space + 1)
    if (kind === 'due') {
      this.scheduler.notifyDue(Number(rest))
    } else if (kind === 'cancel') {
      const [gen, key] = rest.split(' ')
      for (const attempt of this.inFlight.values()) {
        if (attempt.input.key === key && attempt.input.gen === gen) {
          attempt.logger.info('cancel received; aborting the running task')
          attempt.abort('cancelled')
        }
      }
    } else if (kind === 'strikes') {
      void this.refreshStrikes()
    }
  }

  private async refreshStrikes(): Promise<StrikeSet | undefined> {
    try {
      return await this.shadow.currentStrikes(true)
    } catch (err) {
      this.logger.warn({ err }, 'could not reload strikes')
      return undefined
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

  private freeSlots(): number {
    return this.concurrency - this.inFlight.size - this.reserved
  }

  private waitForSlot(): Promise<void> {
    return new Promise((resolve) => {
      this.slotFreed = resolve
    })
  }

  private releaseSlot(): void {
    const wake = this.slotFreed
    this.slotFreed = undefined
    wake?.()
  }

  private async readLoop(untilFinished: boolean): Promise<void> {
    const { stream } = this.shadow.keys
    const block = untilFinished ? DEFAULTS.drainCheck : DEFAULTS.readBlock
    while (!this.stopRequested) {
      if (this.readError) {
        const err = this.readError
        this.readError = undefined
        await this.recoverFromReadError(err)
        continue
      }
      if (!this.idle || this.readsInFlight > 0 || this.freeSlots() <= 0) {
        // work is waiting: reads and starts go out as slots free up (see pump)
        this.pump()
        await this.waitForSlot()
        // let every task that ends in this turn of the event loop free its slot: one read for all
        await new Promise((resolve) => setImmediate(resolve))
        continue
      }
      try {
        if (untilFinished && (await this.isDrained())) return
        const free = this.freeSlots()
        const reply = (await this.reader?.xreadgroup('GROUP', CONSUMER_GROUP, this.name, 'COUNT', free, 'BLOCK', block, 'STREAMS', stream, '>')) as
          | [string, StreamEntry[]][]
          | null
        this.readFailures = 0
        const entries = reply?.[0]?.[1] ?? []
        // fewer than asked for: the stream is empty now, so the next read blocks again; a full
        // reply means more is waiting, and reading turns to start calls that read for themselves
        this.idle = entries.length < free
        if (entries.length > 0) await this.dispatch(entries, false)
      } catch (err) {
        if (this.stopRequested) return
        await this.recoverFromReadError(err as Error)
      }
    }
    // nothing may start once the loop is over: let the start calls in flight land first
    while (this.readsInFlight > 0) await this.waitForSlot()
  }

  /**
   * While work is waiting, reads new messages and starts them in one script call (mode read), up
   * to two calls of half the concurrency in flight: the next call goes out as soon as a reply
   * arrives, before its tasks run, so Redis works on one batch while this process runs another.
   */
  private pump(): void {
    const chunk = Math.ceil(this.concurrency / 2)
    while (!this.stopRequested && !this.idle && !this.readError && this.readsInFlight < 2) {
      const free = this.freeSlots()
      if (free <= 0) return
      this.readsInFlight += 1
      const landed = (read: number | undefined) => {
        this.readsInFlight -= 1
        // undefined: the call failed, and the read loop hears of it through readError
        if (read === undefined) return
        this.readFailures = 0
        if (read === 0) this.idle = true
        else this.pump()
      }
      this.startTasks('read', [], Math.min(free, chunk), landed)
        .catch((err: Error) => {
          this.readError = err
        })
        .finally(() => this.releaseSlot())
    }
  }

  private async recoverFromReadError(err: Error): Promise<void> {
    this.readFailures += 1
    if (/NOGROUP/.test(err.message)) {
      // Redis lost the stream (restarted without persistence): make the group again
      this.logger.warn('consumer group missing; creating it again')
      await this.ensureGroup().catch(() => undefined)
      return
    }
    if (this.readFailures === 1 || this.readFailures % 20 === 0) {
      this.logger.warn({ err, failures: this.readFailures }, 'cannot read from redis; retrying')
    }
    await sleep(Math.min(50 * this.readFailures, 2000))
  }

  /** Nothing queued, scheduled or running anywhere, and nothing of ours waiting to be recorded. */
  private async isDrained(): Promise<boolean> {
    if (this.inFlight.size > 0 || this.reserved > 0) return false
    await this.outcomes.idle()
    const { stream, schedule } = this.shadow.keys
    const [length, scheduled] = (await this.shadow.redis.pipeline().xlen(stream).zcard(schedule).exec()) ?? []
    return length?.[1] === 0 && scheduled?.[1] === 0
  }

  /** Starts the tasks of freshly read (or reclaimed) stream entries. */
  private async dispatch(entries: readonly StreamEntry[], reclaimed: boolean): Promise<void> {
    const toStart: { id: string; key: string; gen: string; task: AnyTask }[] = []
    const gone: string[] = []
    for (const [id, fields] of entries) {
      const f = entryFields(fields)
      if (f.key === undefined || f.gen === undefined) {
        gone.push(id)
        continue
      }
      const task = f.task === undefined ? undefined : this.registry.get(f.task)
      if (!task) {
        this.deferUnknown(id, f.key, f.gen, f.task)
        continue
      }
      // already running here (reclaimed from ourselves after a long disconnection): do not run it twice
      if (!this.inFlight.has(id)) toStart.push({ id, key: f.key, gen: f.gen, task })
    }
    if (gone.length > 0) {
      // entries deleted after delivery (a cancelled task): nothing to run, only to acknowledge
      const { stream } = this.shadow.keys
      await this.shadow.redis.pipeline().xack(stream, CONSUMER_GROUP, ...gone).xdel(stream, ...gone).exec()
    }
    if (!reclaimed) {
      for (let i = 0; i < toStart.length; i += DEFAULTS.startBatch) await this.startTasks('ids', toStart.slice(i, i + DEFAULTS.startBatch))
      return
    }
    // Reclaimed tasks start one by one, and a task whose worker already died with it more than
    // once runs alone before the next starts: if it is the one killing workers, only its own
    // delivery count grows, and the tasks that merely shared a worker with it are not failed as
    // poison along with it.
    const claimedAt = Date.now()
    for (const message of toStart) {
      if (this.stopRequested || this.freeSlots() <= 0 || Date.now() - claimedAt > this.redeliveryTimeout / 2) break
      const [started] = (await this.startTasks('reclaimed', [message])).started
      if (started && started.deliveries >= SUSPECT_DELIVERIES) await started.done
    }
  }

  /** Puts back a message naming a task this worker does not run, for a worker that does. */
  private deferUnknown(id: string, key: string, gen: string, task: string | undefined): void {
    this.logger.warn({ task, key: userKey(key), retryIn: this.options.unknownTaskDelay }, 'this worker does not know the task; putting it back for a worker that does')
    this.outcomes.push({ id, key, gen, outcome: 'defer', data: '', due: Date.now() + this.options.unknownTaskDelay })
  }

  /**
   * Starts tasks with the start script: messages already read (`ids`), reclaimed from a dead
   * worker (`reclaimed`), or up to `count` new ones read by the script itself (`read`). Returns
   * how many messages the script handled and the attempts started, with their delivery counts.
   */
  private async startTasks(
    mode: 'ids' | 'reclaimed' | 'read',
    batch: readonly { id: string; key: string; gen: string; task: AnyTask }[],
    count = batch.length,
    landed?: (read: number | undefined) => void,
  ): Promise<{ read: number; started: { deliveries: number; done: Promise<void> }[] }> {
    const { keys, redis } = this.shadow
    const recordKeys = mode === 'read' ? [] : batch.map((m) => keys.task(m.key))
    this.reserved += count
    let replies: StartReply | undefined
    let strikes: StrikeSet
    try {
      for (let tries = 0; ; tries++) {
        strikes = await this.shadow.currentStrikes(tries > 0)
        const args: (string | number)[] = [CONSUMER_GROUP, this.name, Date.now(), strikes.version, mode]
        if (mode === 'read') args.push(count, keys.taskPrefix, ...this.registry.keys())
        else for (const m of batch) args.push(m.id, m.gen)
        const reply = (await runScript(redis, 'start', [keys.stream, keys.strikesVersion, ...recordKeys], args)) as StartReply
        if (reply[0] !== 'stale') {
          replies = reply
          break
        }
      }
    } finally {
      // told before the reservation is released, so that a read the hook starts leaves room for
      // these tasks; undefined when the call failed
      landed?.(replies?.length)
      this.reserved -= count
      // the reservation may have kept the read loop waiting for a slot
      this.releaseSlot()
    }
    const started: { deliveries: number; done: Promise<void> }[] = []
    const entries = replies as StartReply
    entries.forEach((entry, i) => {
      if (entry.startsWith('drop')) return
      if (entry.startsWith('unknown')) {
        const [, id = '', key = '', gen = '', name = ''] = splitEntry(entry, 5)
        this.deferUnknown(id, key, gen, name)
        return
      }
      const [, id = '', replyKey, gen = '', taskName = '', when, attempt, deliveries, paramsJson = '{}'] = splitEntry(entry, 9)
      const key = replyKey || (batch[i]?.key as string)
      const task = this.registry.get(taskName)
      if (!task) {
        this.deferUnknown(id, key, gen, taskName)
        return
      }
      const delivered = Number(deliveries)
      const done = this.launch(strikes, { id, key, gen, task }, paramsJson, Number(when), Number(attempt), delivered)
      if (done) started.push({ deliveries: delivered, done })
    })
    return { read: entries.length, started }
  }

  /** Stores a progress report of a running attempt (the record ignores it once the attempt is over). */
  private readonly reportProgress = async (attempt: Attempt, body: string): Promise<void> => {
    const { key, gen } = attempt.input
    await runScript(this.shadow.redis, 'progress', [this.shadow.keys.task(key)], [gen, this.name, body])
  }

  /** Runs one started task, unless it is poison, struck or has invalid params. */
  private launch(
    strikes: StrikeSet,
    message: { id: string; key: string; gen: string; task: AnyTask },
    paramsJson: string,
    when: number,
    attempt: number,
    deliveries: number,
  ): Promise<void> | undefined {
    const task: AnyTask = message.task
    // two start calls for one message (a resend, a recovery) must not run it twice here
    if (this.inFlight.has(message.id)) return undefined
    const { id, key, gen } = message
    const params = (paramsJson === '{}' ? {} : JSON.parse(paramsJson)) as Record<string, unknown>
    const log = () => this.logger.child({ task: task.name, key: userKey(key), attempt })
    if (deliveries > this.options.maxDeliveries) {
      const error = {
        type: 'PoisonTaskError',
        message: `delivered ${deliveries - 1} times without finishing (its worker died each time); failed after maxDeliveries=${this.options.maxDeliveries}`,
      }
      log().error({ deliveries: deliveries - 1 }, 'poison task: giving up')
      this.outcomes.push({ id, key, gen, outcome: 'failed', data: JSON.stringify(error), due: 0 })
      return undefined
    }
    const strike = strikes.match(task.name, params)
    if (strike) {
      log().info({ strike: strike.id }, 'task is struck; skipping it')
      const error = { type: 'StruckError', message: `struck by ${describeStrike(strike)} (strike ${strike.id})` }
      // a struck run of a perpetual or cron task is skipped and its chain goes on
      const next = nextRunAt(task, when)
      this.outcomes.push({ id, key, gen, outcome: next === undefined ? 'struck' : 'again-failed', data: JSON.stringify(error), due: next ?? 0 })
      this.observer?.taskEnded?.(task.name, 'struck', 0)
      return undefined
    }
    try {
      task.validate(params)
    } catch (err) {
      log().error({ err }, 'params do not match the schema; failing without retry')
      this.outcomes.push({ id, key, gen, outcome: 'failed', data: JSON.stringify(describeError(err)), due: 0 })
      return undefined
    }
    const running = new Attempt({ id, key, gen, task, params, when, attempt }, this.logger)
    this.inFlight.set(id, running)
    this.observer?.taskStarted?.(task.name, running.startedAt - when)
    return this.execute(running)
  }

  private async execute(attempt: Attempt): Promise<void> {
    const { id, key, gen } = attempt.input
    if (this.logger.isLevelEnabled('debug')) attempt.logger.debug('task started')
    let result: AttemptResult
    try {
      result = await attempt.run(this.shadow, this, this.reportProgress)
    } finally {
      this.inFlight.delete(id)
      this.releaseSlot()
    }
    const { outcome, data, due } = decideOutcome(attempt, result, this.logger.isLevelEnabled('debug'))
    this.outcomes.push({ id, key, gen, outcome, data, due })
    this.observer?.taskEnded?.(attempt.input.task.name, outcome === 'again-failed' ? 'failed' : outcome, Date.now() - attempt.startedAt)
  }

  /**
   * After a reconnection: messages delivered to this worker whose start reply was lost with the
   * connection, or that it reclaimed and had not started, sit in its pending list, running
   * nowhere. Start them now rather than after the redelivery timeout.
   */
  private async recoverOwnPending(): Promise<void> {
    if (this.stopRequested) return
    try {
      const reply = (await this.shadow.redis.xreadgroup('GROUP', CONSUMER_GROUP, this.name, 'COUNT', 1000, 'STREAMS', this.shadow.keys.stream, '0')) as
        | [string, StreamEntry[]][]
        | null
      const entries = (reply?.[0]?.[1] ?? []).filter(([id]) => !this.inFlight.has(id))
      if (entries.length === 0) return
      this.logger.info({ count: entries.length }, 'starting tasks whose start was cut off by the disconnection')
      // as reclaimed: some may be messages this worker took over from a dead one and had not
      // started yet, whose record still names the dead worker
      await this.dispatch(entries, true)
    } catch (err) {
      this.logger.debug({ err }, 'could not look at pending tasks after reconnecting; they will be redelivered')
    }
  }

  private async shutdown(): Promise<void> {
    this.stopRequested = true
    this.releaseSlot()
    // the bound's timer must not keep the process alive once everything else is closed
    const bounded = (work: Promise<unknown> | undefined) => Promise.race([work, sleep(this.options.gracePeriod + 1000, undefined, { ref: false })])
    const steps: [string, () => Promise<unknown> | unknown][] = [
      // no renewal or reclaim starts from now on; one in progress starts nothing more (dispatch)
      ['stop claiming', () => bounded(this.claims.stop())],
      ['stop scheduler', () => this.scheduler.stop()],
      ['stop reading', () => this.reader?.disconnect()],
      // nothing may start once the running tasks are being drained
      ['wait for the loop', () => bounded(this.loop)],
      ['finish running tasks', () => this.drainRunning()],
      ['record outcomes', () => this.outcomes.close(this.options.gracePeriod)],
      ['stop heartbeat', () => this.heartbeat.stop()],
      ['leave the consumer group', () => this.leaveGroup()],
      ['close subscriber', () => this.subscriber?.disconnect()],
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
    const pending = (await redis.xpending(keys.stream, CONSUMER_GROUP, '-', '+', 1, this.name)) as unknown[]
    if (pending.length === 0) await redis.xgroup('DELCONSUMER', keys.stream, CONSUMER_GROUP, this.name)
  }

  /** Lets running tasks finish within the grace period, then aborts them (they go back on the queue). */
  private async drainRunning(): Promise<void> {
    const deadline = Date.now() + this.options.gracePeriod
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([this.waitForSlot(), sleep(Math.min(100, Math.max(1, deadline - Date.now())))])
    }
    if (this.inFlight.size === 0) return
    this.logger.warn({ running: this.inFlight.size }, 'grace period over; aborting running tasks')
    for (const attempt of this.inFlight.values()) attempt.abort('shutdown')
    // an aborted attempt settles at once (its outcome is recorded even if the task ignores the signal)
    await sleep(0)
  }
}
