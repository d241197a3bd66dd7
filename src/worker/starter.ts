/**
 * Starting tasks: the start-script calls that turn messages into running records, and the checks
 * before a run. A message naming a task this worker does not know is put back for a worker that
 * does, later each time, until it fails for want of one (unknown-tasks.ts); a poison task (its
 * worker died with it too often), a struck one and one whose params do not match the schema end
 * without running. What passes is handed to the runner, in the slot that was taken for it before
 * the call. While `runAtMost()` limits the runs of some tasks, a task past its limit is not
 * started: its messages stay pending here until the worker closes and puts them back.
 */
import { PoisonTaskError, StruckError } from '../core/errors.js'
import { describeError } from '../core/records.js'
import { nextRunAt } from '../core/outcome-policy.js'
import { describeStrike, type StrikeSet } from '../core/strikes.js'
import type { AnyTask } from '../core/task.js'
import { decideUnknownTask, type UnknownTaskDeferrals, type UnknownTaskPolicy } from '../core/unknown-tasks.js'
import { STALE, startTasks, type StartEntry, type StartMessage, type StartRequest } from '../redis/commands.js'
import { readUnknownDeferrals } from '../redis/deferrals.js'
import { CONSUMER_GROUP, userKey } from '../redis/keys.js'
import { messageHead, type StreamEntry } from '../redis/stream.js'
import type { WorkerContext } from './context.js'
import type { WorkerObserver } from './options.js'
import type { Outcomes } from './outcomes.js'
import type { AttemptRunner } from './runner.js'
import type { Slots } from './slots.js'

/** What the starter needs from its worker. */
export interface StarterContext extends Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger' | 'strikes' | 'eventsLimit' | 'limits'> {
  readonly registry: ReadonlyMap<string, AnyTask>
  readonly unknownTasks: UnknownTaskPolicy
  readonly maxDeliveries: number
  /** Most messages of one blocking read started by one script call. */
  readonly startBatch: number
  readonly slots: Slots
  readonly runner: Pick<AttemptRunner, 'run' | 'has'>
  readonly outcomes: Pick<Outcomes, 'push' | 'messageIds'>
  readonly observer: WorkerObserver | undefined
}

/** An attempt a start call started: how often its message was delivered, and when the attempt is over. */
export interface Started {
  readonly deliveries: number
  readonly done: Promise<void>
}

/** A message whose task this worker runs, ready for a start call. */
interface Startable extends StartMessage {
  readonly task: AnyTask
}

/** A message naming a task this worker does not run, with the name. */
interface Unknown extends StartMessage {
  readonly task: string
}

/** A reclaimed task delivered this many times (its worker died with it at least twice) runs alone. */
const SUSPECT_DELIVERIES = 3

/** A task no worker has put back yet. */
const NEVER_DEFERRED: UnknownTaskDeferrals = { deferrals: 0, since: undefined }

/** Starts the tasks of one worker. */
export class Starter {
  private stopped = false
  /** The names of the tasks this worker runs, for the start calls that read. */
  private readonly taskNames: readonly string[]
  /** While runAtMost() limits runs: whether one more run of a task may start here. */
  private admits: ((task: string) => boolean) | undefined
  /** Messages of tasks past their limit, by id: pending here until stop() or releaseHeld() puts them back. */
  private readonly held = new Map<string, StartMessage>()

  constructor(private readonly ctx: StarterContext) {
    this.taskNames = [...ctx.registry.keys()]
  }

  /** Starts nothing more: messages met from now on stay pending or are put back (held ones too). */
  stop(): void {
    this.stopped = true
    this.releaseHeld()
  }

  /**
   * Puts the messages held past their runAtMost() limit back on the queue, to be read again: a run
   * that did not end (cancelled, retried) left room for one of them, which would otherwise wait here
   * until stop(). Those still past their limit when read again are held again.
   */
  releaseHeld(): void {
    this.putBack([...this.held.values()])
    this.held.clear()
  }

  /**
   * From now on starts a task only while `admits` says one more run of it may start; the messages
   * of the others are held until stop() or releaseHeld(). Undefined lifts the limit.
   */
  limitRuns(admits: ((task: string) => boolean) | undefined): void {
    this.admits = admits
  }

  /**
   * Reads up to `taken` new messages and starts them in one script call, in the `taken` slots the
   * caller holds. `replied` hears how many messages the call handled as soon as its reply arrives,
   * before its tasks run, so that the next call can go out while they do.
   */
  startNew(taken: number, replied: (handled: number) => void): Promise<Started[]> {
    const tasks = this.admits ? this.taskNames.filter(this.admits) : this.taskNames
    return this.start({ mode: 'read', count: taken, tasks }, taken, replied)
  }

  /** Starts the messages a blocking read delivered, a script call per `startBatch` of them. */
  async startDelivered(entries: readonly StreamEntry[]): Promise<void> {
    const messages = await this.startable(entries)
    for (let i = 0; i < messages.length; i += this.ctx.startBatch) {
      const batch = messages.slice(i, i + this.ctx.startBatch)
      // the read asked for no more than were free; a reclaim may have taken some since
      if (!(await this.ctx.slots.acquire(batch.length))) {
        this.putBack(messages.slice(i))
        return
      }
      await this.start({ mode: 'ids', messages: batch }, batch.length)
    }
  }

  /**
   * Starts messages taken over from a dead worker, or found pending after a reconnection, one by
   * one, each in the next slot that frees: ahead of new messages, which the read loop takes only
   * while no one waits for a slot. Under a load that keeps every slot busy, a task whose worker
   * died would otherwise wait for the load to end. Should another worker claim a message meanwhile,
   * the start script leaves it to that worker.
   *
   * A task whose worker already died with it more than once runs before the next reclaimed one
   * starts; one whose next delivery is its last before `maxDeliveries` runs alone: the worker waits
   * until nothing else runs and starts nothing else until it ends. If it is the one killing
   * workers, it dies alone and fails as poison; a task that merely shared workers with one that
   * does (and died with it as often) runs to its end.
   */
  async startReclaimed(entries: readonly StreamEntry[]): Promise<void> {
    const messages = await this.startable(entries)
    const delivered = await this.deliveriesOf(messages)
    const { slots, maxDeliveries } = this.ctx
    for (const [i, message] of messages.entries()) {
      const alone = (delivered[i] ?? 0) + 1 >= maxDeliveries
      const taken = alone ? slots.capacity : 1
      if (this.stopped || !(await slots.acquire(taken))) break
      if (this.stopped) {
        slots.release(taken)
        break
      }
      // the attempt holds one slot; the others keep the worker empty until it ends
      try {
        const [started] = await this.start({ mode: 'reclaimed', messages: [message] }, 1)
        if (started && (alone || started.deliveries >= SUSPECT_DELIVERIES)) {
          const waiting = messages.length - i - 1
          this.ctx.logger.info(
            { key: userKey(message.key), deliveries: started.deliveries, alone, waiting },
            alone ? 'a task on its last delivery runs alone' : 'a task its workers died with runs before the next taken-over one starts',
          )
          await started.done
        }
      } finally {
        if (alone) slots.release(taken - 1)
      }
    }
  }

  /** How often each message's task was delivered so far, from its record (0 when unknown). */
  private async deliveriesOf(messages: readonly StartMessage[]): Promise<number[]> {
    if (messages.length === 0) return []
    const pipeline = this.ctx.redis.pipeline()
    for (const { key } of messages) pipeline.hget(this.ctx.keys.task(key), 'deliveries')
    try {
      const replies = (await pipeline.exec()) ?? []
      return replies.map(([err, value]) => (err ? 0 : Number(value ?? 0) || 0))
    } catch {
      // unknown: as if delivered once; the start script counts them right all the same
      return messages.map(() => 0)
    }
  }

  /**
   * The messages among `entries` to start: an entry deleted after delivery (a cancelled task) is
   * only acknowledged, one naming a task this worker does not run is put back (or failed) as the
   * start script's unknown entries are, one past its runAtMost() limit is held, and one running
   * here already (read twice by a resent call) is left alone.
   */
  private async startable(entries: readonly StreamEntry[]): Promise<Startable[]> {
    const messages: Startable[] = []
    const gone: string[] = []
    const unknown: Unknown[] = []
    for (const [id, fields] of entries) {
      const head = messageHead(fields)
      if (!head) {
        gone.push(id)
        continue
      }
      const { key, gen } = head
      const task = head.task === undefined ? undefined : this.ctx.registry.get(head.task)
      if (!task) unknown.push({ id, key, gen, task: head.task ?? '' })
      else if (this.admits && !this.admits(task.name)) this.held.set(id, { id, key, gen })
      else if (!this.ctx.runner.has(id)) messages.push({ id, key, gen, task })
    }
    if (unknown.length > 0) await this.deferUnknownRead(unknown)
    if (gone.length > 0) {
      const { stream } = this.ctx.keys
      await this.ctx.redis
        .pipeline()
        .xack(stream, CONSUMER_GROUP, ...gone)
        .xdel(stream, ...gone)
        .exec()
    }
    return messages
  }

  /**
   * One start-script call, in `taken` slots the caller holds: each started attempt keeps one, the
   * rest are released once the reply is handled (all of them when the call fails).
   */
  private async start(request: StartRequest, taken: number, replied?: (handled: number) => void): Promise<Started[]> {
    let used = 0
    try {
      let strikes: StrikeSet
      let entries: StartEntry[]
      for (let tries = 0; ; tries++) {
        // read at the first try only when never read (no wait on the hot path), afresh after a stale reply
        strikes = (tries === 0 ? this.ctx.strikes.loaded() : undefined) ?? (await this.ctx.strikes.current(tries > 0))
        const reply = await startTasks(this.ctx.redis, this.ctx.keys, this.ctx.name, strikes.version, this.ctx.eventsLimit, this.ctx.limits, request)
        if (reply !== STALE) {
          entries = reply
          break
        }
      }
      replied?.(entries.length)
      // the messages whose attempt ended here and whose outcome is on its way (see launch); new
      // messages (mode read) cannot be among them
      const ended = request.mode === 'read' ? undefined : this.ctx.outcomes.messageIds()
      const started: Started[] = []
      for (const entry of entries) {
        // a task held back by a limit waits in Redis: its slot here is free again
        if (entry.kind === 'drop' || entry.kind === 'skip' || entry.kind === 'wait') continue
        const task = this.ctx.registry.get(entry.task)
        if (entry.kind === 'unknown' && task) {
          // a task this worker runs, left out of the read: past its runAtMost() limit
          this.held.set(entry.id, { id: entry.id, key: entry.key, gen: entry.gen })
          continue
        }
        if (entry.kind === 'unknown' || !task) {
          this.deferUnknown(entry, entry.task, entry.kind === 'unknown' ? entry : NEVER_DEFERRED)
          continue
        }
        // the slot goes with the attempt, which releases it when it ends
        const done = this.launch(strikes, task, entry, ended)
        if (done) {
          used += 1
          started.push({ deliveries: entry.deliveries, done })
        }
      }
      return started
    } finally {
      this.ctx.slots.release(taken - used)
    }
  }

  /** Runs one started task unless it is poison, struck or has invalid params; returns when its attempt is over. */
  private launch(strikes: StrikeSet, task: AnyTask, entry: StartEntry & { kind: 'run' }, ended?: ReadonlySet<string>): Promise<void> | undefined {
    const { id, key, gen, when, attempt, deliveries, slot } = entry
    // two start calls for one message (a resend, a recovery and a reclaim) must not run it twice
    // here: not while it runs, nor once it ended and its outcome is on its way (`ended`), when
    // Redis ran the second start before that outcome, so the record still said running here
    if (this.ctx.runner.has(id) || ended?.has(id)) return undefined
    const { outcomes, maxDeliveries } = this.ctx
    if (this.admits && !this.admits(task.name)) {
      // started by a read that went out before the limit was reached: back on the queue, to be held
      outcomes.push({ id, key, gen, outcome: 'defer', data: '', due: Date.now(), slot })
      return undefined
    }
    const params = (entry.paramsJson === '{}' ? {} : JSON.parse(entry.paramsJson)) as Record<string, unknown>
    const log = () => this.ctx.logger.child({ task: task.name, key: userKey(key), attempt })
    if (deliveries > maxDeliveries) {
      const error = describeError(
        new PoisonTaskError(`delivered ${deliveries - 1} times without finishing (its worker died each time); failed after maxDeliveries=${maxDeliveries}`),
      )
      log().error({ deliveries: deliveries - 1 }, 'poison task: giving up')
      outcomes.push({ id, key, gen, outcome: 'failed', data: JSON.stringify(error), due: 0, slot })
      return undefined
    }
    const strike = strikes.match(task.name, params)
    if (strike) {
      log().info({ strike: strike.id }, 'task is struck; skipping it')
      const error = describeError(new StruckError(`struck by ${describeStrike(strike)} (strike ${strike.id})`))
      // a struck run of a perpetual or cron task is skipped and its chain goes on
      const next = nextRunAt(task, when)
      outcomes.push({ id, key, gen, outcome: next === undefined ? 'struck' : 'again-failed', data: JSON.stringify(error), due: next ?? 0, slot })
      this.ctx.observer?.taskEnded?.(task.name, 'struck', 0)
      return undefined
    }
    try {
      task.validate(params)
    } catch (err) {
      log().error({ err }, 'params do not match the schema; failing without retry')
      outcomes.push({ id, key, gen, outcome: 'failed', data: JSON.stringify(describeError(err)), due: 0, slot })
      return undefined
    }
    return this.ctx.runner.run({ id, key, gen, task, params, when, attempt, slot, trace: entry.trace })
  }

  /**
   * Puts back messages this worker read itself whose task it does not know (or fails them), with
   * the deferrals their records hold, as the start script hands them over for the messages it reads.
   */
  private async deferUnknownRead(unknown: readonly Unknown[]): Promise<void> {
    let records: readonly UnknownTaskDeferrals[]
    try {
      records = await readUnknownDeferrals(
        this.ctx.redis,
        this.ctx.keys,
        unknown.map((m) => m.key),
      )
    } catch (err) {
      // put back all the same, as if for the first time: the record keeps the true count and time
      this.ctx.logger.warn({ err }, 'could not read the deferrals of tasks this worker does not know')
      records = []
    }
    unknown.forEach((message, i) => this.deferUnknown(message, message.task, records[i] ?? NEVER_DEFERRED))
  }

  /**
   * Puts back a message naming a task this worker does not know, for a worker that does, a little
   * later after each deferral; or fails it once no worker knew it for the unknown-task timeout.
   */
  private deferUnknown({ id, key, gen }: StartMessage, task: string, record: UnknownTaskDeferrals): void {
    const now = Date.now()
    const decision = decideUnknownTask(task, record, this.ctx.unknownTasks, now)
    if (decision.kind === 'fail') {
      this.ctx.logger.error({ task, key: userKey(key), deferrals: record.deferrals }, 'no worker knew the task for unknownTaskTimeout; failing it')
      this.ctx.outcomes.push({ id, key, gen, outcome: 'unknown-failed', data: JSON.stringify(decision.error), due: 0 })
      this.ctx.observer?.taskEnded?.(task, 'failed', 0)
      return
    }
    this.ctx.logger.warn(
      { task, key: userKey(key), retryIn: decision.due - now, deferrals: record.deferrals + 1 },
      'this worker does not know the task; putting it back for a worker that does',
    )
    // the worker's time goes along: the record keeps it as the time of the first deferral
    this.ctx.outcomes.push({ id, key, gen, outcome: 'unknown-defer', data: String(now), due: decision.due })
  }

  /** Puts back messages delivered here that are not to run now (the worker closes, or holds them for runAtMost()): to run on another worker, or this one later. */
  private putBack(messages: readonly StartMessage[]): void {
    if (messages.length === 0) return
    this.ctx.logger.debug({ count: messages.length }, 'putting delivered tasks back on the queue')
    const now = Date.now()
    for (const { id, key, gen } of messages) this.ctx.outcomes.push({ id, key, gen, outcome: 'defer', data: '', due: now })
  }
}
