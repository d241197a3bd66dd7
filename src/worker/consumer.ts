/**
 * The worker's consumer in the stream's consumer group: reads messages, starts their tasks with the
 * start script within the concurrency bound, runs them, and hands their outcomes to the outcomes
 * writer. While work is waiting it reads with start calls (two in flight); when the stream is
 * empty, with one blocking read on a connection of its own.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { Attempt, type AttemptResult } from './attempt.js'
import { decideOutcome, nextRunAt } from '../core/outcome-policy.js'
import type { Outcomes } from './outcomes.js'
import { CONSUMER_GROUP, userKey } from '../redis/keys.js'
import { describeError } from '../core/records.js'
import { closeNow, duplicate } from '../redis/connection.js'
import { runScript, type RedisClient } from '../redis/scripts.js'
import { type StreamEntry, entryFields } from '../redis/stream.js'
import type { Shadow } from '../client/shadow.js'
import { describeStrike, type StrikeSet } from '../core/strikes.js'
import type { AnyTask } from '../core/task.js'
import type { Worker, WorkerObserver } from './worker.js'

/** What a {@link Consumer} needs from its worker; the numbers are checked by the worker. */
export interface ConsumerOptions {
  /** The worker, handed to tasks as `ctx.worker`. */
  readonly worker: Worker
  /** Consumer name in the group. */
  readonly name: string
  readonly registry: ReadonlyMap<string, AnyTask>
  readonly concurrency: number
  readonly redeliveryTimeout: number
  readonly unknownTaskDelay: number
  readonly maxDeliveries: number
  /** Longest blocking read, in ms. */
  readonly readBlock: number
  /** Blocking read while running until finished: how often "is anything left?" is asked, in ms. */
  readonly drainCheck: number
  /** Most messages of one blocking read started by one script call. */
  readonly startBatch: number
  readonly logger: Logger
  readonly observer: WorkerObserver | undefined
  readonly outcomes: Outcomes
}

/** A reclaimed task delivered this many times (its worker died with it at least twice) runs alone. */
const SUSPECT_DELIVERIES = 3
/**
 * The start script's reply: `['stale']`, or one string per message whose fields are separated by
 * the unit separator, params (JSON) last: `run id key gen task when attempt deliveries params`,
 * `unknown id key gen task`, `drop id`, or `skip id` (a reclaimed message another worker holds now).
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

/** Reads, starts and runs the tasks of one worker. */
export class Consumer {
  private readonly inFlight = new Map<string, Attempt>()
  private reserved = 0
  /** Start calls of mode read in flight, and whether the last read found nothing. */
  private readsInFlight = 0
  private idle = true
  private readError: Error | undefined
  private slotFreed: (() => void) | undefined
  private readFailures = 0
  private stopped = false
  private reader: RedisClient | undefined

  constructor(
    private readonly shadow: Shadow,
    private readonly options: ConsumerOptions,
  ) {}

  /**
   * Opens the connection for blocking reads (the shared one must stay free), unless stopped: a
   * connection opened after stop() would never be closed.
   */
  openReader(): void {
    if (this.reader || this.stopped) return
    this.reader = duplicate(this.shadow.redis)
    this.reader.on('error', (err: Error) => this.options.logger.debug({ err }, 'reader connection error'))
  }

  /** Opens the reader (see openReader) and makes sure the consumer group exists. */
  async connect(): Promise<void> {
    this.openReader()
    await this.ensureGroup()
  }

  /** Tasks running now, by message id. */
  get running(): ReadonlyMap<string, Attempt> {
    return this.inFlight
  }

  /** Starts nothing more; wakes a read loop waiting for a slot so that it ends. */
  stop(): void {
    this.stopped = true
    this.releaseSlot()
  }

  /** Ends a blocking read in progress by closing its connection (also while it waits to reconnect). */
  disconnect(): void {
    if (this.reader) closeNow(this.reader)
  }

  /** Aborts the running attempt of `key` (stored form) whose generation is `gen`, if it runs here. */
  cancel(key: string, gen: string): void {
    for (const attempt of this.inFlight.values()) {
      if (attempt.input.key === key && attempt.input.gen === gen) {
        attempt.logger.info('cancel received; aborting the running task')
        attempt.abort('cancelled')
      }
    }
  }

  /**
   * After a reconnection: a cancellation published while the subscriber was away never arrived.
   * Aborts the attempts whose record no longer runs them: cancelled, replaced or gone.
   */
  async recheckRunning(): Promise<void> {
    const attempts = [...this.inFlight.values()]
    if (this.stopped || attempts.length === 0) return
    const { redis, keys } = this.shadow
    try {
      const pipeline = redis.pipeline()
      for (const attempt of attempts) pipeline.hmget(keys.task(attempt.input.key), 'gen', 'state')
      const replies = (await pipeline.exec()) ?? []
      attempts.forEach((attempt, i) => {
        const [err, fields] = replies[i] ?? []
        if (err || !Array.isArray(fields)) return
        const [gen, state] = fields as (string | null)[]
        if (gen === attempt.input.gen && state !== 'cancelled') return
        attempt.logger.info('cancelled or replaced while disconnected; aborting the running task')
        attempt.abort('cancelled')
      })
    } catch (err) {
      this.options.logger.debug({ err }, 'could not check running tasks after reconnecting')
    }
  }

  /** Slots neither running a task nor held for a start call in flight. */
  freeSlots(): number {
    return this.options.concurrency - this.inFlight.size - this.reserved
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

  /**
   * Reads and starts tasks until stopped; with `untilFinished`, also returns once nothing is
   * queued, scheduled or running in the shadow. Errors are logged and retried, never thrown.
   */
  async readLoop(untilFinished: boolean): Promise<void> {
    const { stream } = this.shadow.keys
    const block = untilFinished ? this.options.drainCheck : this.options.readBlock
    while (!this.stopped) {
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
        const reply = (await this.reader?.xreadgroup('GROUP', CONSUMER_GROUP, this.options.name, 'COUNT', free, 'BLOCK', block, 'STREAMS', stream, '>')) as
          | [string, StreamEntry[]][]
          | null
        this.readFailures = 0
        const entries = reply?.[0]?.[1] ?? []
        // fewer than asked for: the stream is empty now, so the next read blocks again; a full
        // reply means more is waiting, and reading turns to start calls that read for themselves
        this.idle = entries.length < free
        if (entries.length > 0) await this.dispatch(entries, false)
      } catch (err) {
        if (this.stopped) return
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
    const chunk = Math.ceil(this.options.concurrency / 2)
    while (!this.stopped && !this.idle && !this.readError && this.readsInFlight < 2) {
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
      this.options.logger.warn('consumer group missing; creating it again')
      await this.ensureGroup().catch(() => undefined)
      return
    }
    if (this.readFailures === 1 || this.readFailures % 20 === 0) {
      this.options.logger.warn({ err, failures: this.readFailures }, 'cannot read from redis; retrying')
    }
    await sleep(Math.min(50 * this.readFailures, 2000))
  }

  /** Nothing queued, scheduled or running anywhere, and nothing of ours waiting to be recorded. */
  private async isDrained(): Promise<boolean> {
    if (this.inFlight.size > 0 || this.reserved > 0) return false
    await this.options.outcomes.idle()
    const { stream, schedule } = this.shadow.keys
    const [length, scheduled] = (await this.shadow.redis.pipeline().xlen(stream).zcard(schedule).exec()) ?? []
    return length?.[1] === 0 && scheduled?.[1] === 0
  }

  /** Starts the tasks of freshly read (or reclaimed) stream entries. */
  async dispatch(entries: readonly StreamEntry[], reclaimed: boolean): Promise<void> {
    const toStart: { id: string; key: string; gen: string; task: AnyTask }[] = []
    const gone: string[] = []
    for (const [id, fields] of reclaimed ? this.notRunHere(entries) : entries) {
      const f = entryFields(fields)
      if (f.key === undefined || f.gen === undefined) {
        gone.push(id)
        continue
      }
      const task = f.task === undefined ? undefined : this.options.registry.get(f.task)
      if (!task) {
        this.deferUnknown(id, f.key, f.gen, f.task)
        continue
      }
      // already running here (read twice by a resent call): do not run it twice
      if (!this.inFlight.has(id)) toStart.push({ id, key: f.key, gen: f.gen, task })
    }
    if (gone.length > 0) {
      // entries deleted after delivery (a cancelled task): nothing to run, only to acknowledge
      const { stream } = this.shadow.keys
      await this.shadow.redis.pipeline().xack(stream, CONSUMER_GROUP, ...gone).xdel(stream, ...gone).exec()
    }
    if (!reclaimed) {
      for (let i = 0; i < toStart.length; i += this.options.startBatch) await this.startTasks('ids', toStart.slice(i, i + this.options.startBatch))
      return
    }
    // Reclaimed tasks start one by one, and a task whose worker already died with it more than
    // once runs alone before the next starts: if it is the one killing workers, only its own
    // delivery count grows, and the tasks that merely shared a worker with it are not failed as
    // poison along with it.
    const claimedAt = Date.now()
    for (const message of toStart) {
      if (this.stopped || this.freeSlots() <= 0 || Date.now() - claimedAt > this.options.redeliveryTimeout / 2) break
      const [started] = (await this.startTasks('reclaimed', [message])).started
      if (started && started.deliveries >= SUSPECT_DELIVERIES) await started.done
    }
  }

  /** Puts back a message naming a task this worker does not run, for a worker that does. */
  private deferUnknown(id: string, key: string, gen: string, task: string | undefined): void {
    this.options.logger.warn({ task, key: userKey(key), retryIn: this.options.unknownTaskDelay }, 'this worker does not know the task; putting it back for a worker that does')
    this.options.outcomes.push({ id, key, gen, outcome: 'defer', data: '', due: Date.now() + this.options.unknownTaskDelay })
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
        const args: (string | number)[] = [CONSUMER_GROUP, this.options.name, Date.now(), strikes.version, mode]
        if (mode === 'read') args.push(count, keys.taskPrefix, ...this.options.registry.keys())
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
      if (entry.startsWith('drop') || entry.startsWith('skip')) return
      if (entry.startsWith('unknown')) {
        const [, id = '', key = '', gen = '', name = ''] = splitEntry(entry, 5)
        this.deferUnknown(id, key, gen, name)
        return
      }
      const [, id = '', replyKey, gen = '', taskName = '', when, attempt, deliveries, paramsJson = '{}'] = splitEntry(entry, 9)
      const key = replyKey || (batch[i]?.key as string)
      const task = this.options.registry.get(taskName)
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
    await runScript(this.shadow.redis, 'progress', [this.shadow.keys.task(key)], [gen, this.options.name, body])
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
    const log = () => this.options.logger.child({ task: task.name, key: userKey(key), attempt })
    if (deliveries > this.options.maxDeliveries) {
      const error = {
        type: 'PoisonTaskError',
        message: `delivered ${deliveries - 1} times without finishing (its worker died each time); failed after maxDeliveries=${this.options.maxDeliveries}`,
      }
      log().error({ deliveries: deliveries - 1 }, 'poison task: giving up')
      this.options.outcomes.push({ id, key, gen, outcome: 'failed', data: JSON.stringify(error), due: 0 })
      return undefined
    }
    const strike = strikes.match(task.name, params)
    if (strike) {
      log().info({ strike: strike.id }, 'task is struck; skipping it')
      const error = { type: 'StruckError', message: `struck by ${describeStrike(strike)} (strike ${strike.id})` }
      // a struck run of a perpetual or cron task is skipped and its chain goes on
      const next = nextRunAt(task, when)
      this.options.outcomes.push({ id, key, gen, outcome: next === undefined ? 'struck' : 'again-failed', data: JSON.stringify(error), due: next ?? 0 })
      this.options.observer?.taskEnded?.(task.name, 'struck', 0)
      return undefined
    }
    try {
      task.validate(params)
    } catch (err) {
      log().error({ err }, 'params do not match the schema; failing without retry')
      this.options.outcomes.push({ id, key, gen, outcome: 'failed', data: JSON.stringify(describeError(err)), due: 0 })
      return undefined
    }
    const running = new Attempt({ id, key, gen, task, params, when, attempt }, this.options.logger)
    this.inFlight.set(id, running)
    this.options.observer?.taskStarted?.(task.name, running.startedAt - when)
    return this.execute(running)
  }

  private async execute(attempt: Attempt): Promise<void> {
    const { id, key, gen } = attempt.input
    if (this.options.logger.isLevelEnabled('debug')) attempt.logger.debug('task started')
    let result: AttemptResult
    try {
      result = await attempt.run(this.shadow, this.options.worker, this.reportProgress)
    } finally {
      this.inFlight.delete(id)
      this.releaseSlot()
    }
    const { outcome, data, due } = decideOutcome(attempt, result, this.options.logger.isLevelEnabled('debug'))
    this.options.outcomes.push({ id, key, gen, outcome, data, due })
    this.options.observer?.taskEnded?.(attempt.input.task.name, outcome === 'again-failed' ? 'failed' : outcome, Date.now() - attempt.startedAt)
  }

  /**
   * After a reconnection: messages delivered to this worker whose start reply was lost with the
   * connection, or that it reclaimed and had not started, sit in its pending list, running
   * nowhere. Start them now rather than after the redelivery timeout.
   */
  async recoverOwnPending(): Promise<void> {
    if (this.stopped) return
    try {
      const reply = (await this.shadow.redis.xreadgroup('GROUP', CONSUMER_GROUP, this.options.name, 'COUNT', 1000, 'STREAMS', this.shadow.keys.stream, '0')) as
        | [string, StreamEntry[]][]
        | null
      const entries = this.notRunHere(reply?.[0]?.[1] ?? [])
      if (entries.length === 0) return
      this.options.logger.info({ count: entries.length }, 'starting tasks whose start was cut off by the disconnection')
      // as reclaimed: some may be messages this worker took over from a dead one and had not
      // started yet, whose record still names the dead worker
      await this.dispatch(entries, true)
    } catch (err) {
      this.options.logger.debug({ err }, 'could not look at pending tasks after reconnecting; they will be redelivered')
    }
  }

  /**
   * The messages pending for this worker that it is not running and has not run: a task that ran
   * here stays pending until its outcome is written (perhaps only once Redis is back), and its
   * record still says running on this worker, so a start of it, recovered or reclaimed from
   * ourselves, would run it twice.
   */
  private notRunHere(entries: readonly StreamEntry[]): StreamEntry[] {
    const ended = this.options.outcomes.messageIds()
    return entries.filter(([id]) => !this.inFlight.has(id) && !ended.has(id))
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.shadow.redis.xgroup('CREATE', this.shadow.keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err
    }
  }

  /** Lets running tasks finish within the grace period, then aborts them (they go back on the queue). */
  async drainRunning(gracePeriod: number): Promise<void> {
    const deadline = Date.now() + gracePeriod
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([this.waitForSlot(), sleep(Math.min(100, Math.max(1, deadline - Date.now())))])
    }
    if (this.inFlight.size === 0) return
    this.options.logger.warn({ running: this.inFlight.size }, 'grace period over; aborting running tasks')
    for (const attempt of this.inFlight.values()) attempt.abort('shutdown')
    // an aborted attempt settles at once (its outcome is recorded even if the task ignores the signal)
    await sleep(0)
  }
}
