/**
 * One typed caller per Lua script. Each owns its script's KEYS and ARGV order (named in the header
 * of `lua/<script>.lua`) and decodes the script's reply into a typed value; nothing outside this
 * module builds a script's arguments or reads its raw reply.
 *
 * The callers sit on the hot paths (batch adds, starts, outcomes): they send one script call each
 * and decode in one pass, without copying what they can hand on as it is.
 */
import { randomUUID } from 'node:crypto'
import type { ListPosition } from '../core/cursor.js'
import type { OutcomeKind } from '../core/outcome-policy.js'
import { isFinished, type LiveState, type TaskState } from '../core/records.js'
import type { Strike } from '../core/strikes.js'
import type { UnknownTaskDeferrals } from '../core/unknown-tasks.js'
import { CONSUMER_GROUP, type ShadowKeys } from './keys.js'
import type { WorkerLimits } from './limits.js'
import { runScript, type RedisClient } from './scripts.js'
import { entryFields } from './stream.js'
import { decodeStrikeChange, strikeChangeBody, type StrikeChange } from './strike-changes.js'

/** A script's whole answer when the caller's strike rules are out of date: nothing was written. */
export const STALE = 'stale'

/**
 * What the scripts that write keep of what happened, from the shadow's options: the records of
 * finished tasks, the history indexes and the events log.
 */
export interface Retention {
  /** How long a finished task's record (and its history entries) is kept, in ms; 0 keeps nothing. */
  readonly executionTtl: number
  /** Most tasks each history index keeps; 0 keeps no history. */
  readonly historyLimit: number
  /** Most entries the events log keeps (approximately: whole nodes of the stream are trimmed); 0 writes no events. */
  readonly eventsLimit: number
}

// ---------------------------------------------------------------------------------------------
// add

/** One task for {@link addTasks}. */
export interface AddTask {
  /** The key's stored form (see `storedKey`). */
  readonly stored: string
  /** The task name. */
  readonly task: string
  /** The params as JSON. */
  readonly json: string
  /** Due time, epoch ms. */
  readonly due: number
  /** The key was made up for this add (a random UUID): no record of it can exist, so none is looked up. */
  readonly fresh: boolean
  /**
   * A debounced add: stored scheduled at `due` even should that have just passed, and, when the
   * key's task is still scheduled, moving it there with these params instead of being a duplicate.
   */
  readonly debounce: boolean
  /** The throttle window this add opens when it stores the key, in ms; 0 for none. */
  readonly throttle: number
  /**
   * The add's trace context, `traceparent[;tracestate]`, stored with the task for the worker's span;
   * absent or "" for none (then nothing is sent for it).
   */
  readonly trace?: string | undefined
}

/** How {@link addTasks} treats a key that is scheduled, queued or running. */
export type AddMode = 'add' | 'replace'

/** What the add script did with one task. */
export type AddResult =
  | {
      readonly duplicate: false
      /** The state it was stored in. */
      readonly state: LiveState
      /** A scheduled, queued or running task of that key was replaced (mode replace). */
      readonly replaced: boolean
      /** A debounced add moved the key's scheduled task to its due time, with its params. */
      readonly debounced: boolean
    }
  | {
      /**
       * Mode add, and the key is scheduled, queued or running, or within a throttle window: nothing
       * changed. What the key holds: its state and params are undefined when the task's record
       * expired while the window is open (the window's own copy gives the task and due time).
       */
      readonly duplicate: true
      readonly state: TaskState | undefined
      readonly when: number
      readonly task: string
      readonly params: Record<string, unknown> | undefined
    }

// the answers for a stored task, indexed by the script's number (1: scheduled, 2: replaced,
// 4: debounced): no allocation per task
const STORED: readonly AddResult[] = Array.from({ length: 8 }, (_, n) =>
  Object.freeze({ duplicate: false, state: n & 1 ? 'scheduled' : 'queued', replaced: (n & 2) !== 0, debounced: (n & 4) !== 0 } as const),
)

/** What the add script says of each task in ARGV[6] (see add.lua). */
const MADE_UP = '1'
const GIVEN = '0'
const DEBOUNCED = 'd'
const THROTTLED = 't'

/**
 * Adds or replaces `tasks` in one call (each judged alone, in order): one result per task, or
 * {@link STALE} when the strike rules changed since `strikesVersion` (nothing was written).
 */
export async function addTasks(
  redis: RedisClient,
  keys: ShadowKeys,
  mode: AddMode,
  strikesVersion: string,
  eventsLimit: number,
  tasks: readonly AddTask[],
): Promise<AddResult[] | typeof STALE> {
  // ARGV[6], what each task is, and ARGV[9], the throttle windows, are known once every task is in: filled in last
  const args: (string | number)[] = [Date.now(), mode, strikesVersion, keys.events, keys.taskPrefix, '', eventsLimit, keys.throttlePrefix, '']
  let kinds = ''
  let windows = ''
  // a sixth slot per task only in a call that carries a trace context (add.lua tells by the count)
  const traced = tasks.some((t) => t.trace)
  for (const t of tasks) {
    if (t.fresh) kinds += MADE_UP
    else if (t.debounce) kinds += DEBOUNCED
    else if (t.throttle > 0) {
      kinds += THROTTLED
      windows += windows === '' ? String(t.throttle) : ` ${t.throttle}`
    } else kinds += GIVEN
    // a generation to start from: it only needs to differ from the key's earlier incarnations
    args.push(t.stored, t.task, t.json, t.due, 1 + Math.floor(Math.random() * 0x7fffffff))
    if (traced) args.push(t.trace ?? '')
  }
  args[5] = kinds
  args[8] = windows
  const reply = (await runScript(redis, 'add', [keys.schedule, keys.stream, keys.strikesVersion, keys.eventLog], args)) as
    [typeof STALE] | (number | [TaskState | '', string, string, string])[]
  if (reply[0] === STALE) return STALE
  const results = reply as unknown[] as AddResult[]
  // decoded in place: the reply array is ours
  for (let i = 0; i < reply.length; i++) {
    const item = reply[i] as number | [TaskState | '', string, string, string]
    if (typeof item === 'number') {
      results[i] = STORED[item] as AddResult
    } else {
      const [state, when, task, params] = item
      results[i] = {
        duplicate: true,
        state: state === '' ? undefined : state,
        when: Number(when),
        task,
        params: params === '' ? undefined : (JSON.parse(params) as Record<string, unknown>),
      }
    }
  }
  return results
}

// ---------------------------------------------------------------------------------------------
// move-due

/** Moves up to `limit` due tasks onto the stream; `next` is the schedule's next due time, if any. */
export async function moveDueTasks(redis: RedisClient, keys: ShadowKeys, now: number, limit: number): Promise<{ moved: number; next: number | undefined }> {
  const [moved, next] = (await runScript(redis, 'move-due', [keys.schedule, keys.stream], [now, limit, keys.taskPrefix])) as [number, number]
  return { moved, next: next === -1 ? undefined : next }
}

// ---------------------------------------------------------------------------------------------
// start

/** A message to start that the worker already holds. */
export interface StartMessage {
  readonly id: string
  /** The key's stored form. */
  readonly key: string
  /** The generation the message names; "" for one that names none (its stream id decides). */
  readonly gen: string
}

/**
 * What {@link startTasks} starts: messages the worker read (`ids`), messages it took over from a
 * dead worker or found pending after a reconnection (`reclaimed`), or up to `count` new messages
 * that the script reads itself (`read`), naming one of `tasks`.
 */
export type StartRequest =
  | { readonly mode: 'ids' | 'reclaimed'; readonly messages: readonly StartMessage[] }
  | { readonly mode: 'read'; readonly count: number; readonly tasks: readonly string[] }

/** What the start script did with one message. */
export type StartEntry =
  | {
      /** Started: the record now says running on this worker. */
      readonly kind: 'run'
      readonly id: string
      readonly key: string
      readonly gen: string
      readonly task: string
      readonly when: number
      /** 1-based attempt number. */
      readonly attempt: number
      /** Deliveries so far, this one included. */
      readonly deliveries: number
      /** The concurrency group whose slot the attempt holds ("" for none); its outcome gives it back. */
      readonly slot: string
      /**
       * The trace context stored by the add (`traceparent[;tracestate]`), "" for none; with `~` in
       * front for a later run of a perpetual or cron task, whose span links to it instead.
       */
      readonly trace: string
      /** The params as stored (JSON). */
      readonly paramsJson: string
    }
  | ({
      /** Mode read: a task this worker does not run; nothing changed. With its record's deferrals so far. */
      readonly kind: 'unknown'
      readonly id: string
      readonly key: string
      readonly gen: string
      readonly task: string
    } & UnknownTaskDeferrals)
  | {
      /** Stale (cancelled, replaced, gone): acknowledged and deleted. */
      readonly kind: 'drop'
      readonly id: string
    }
  | {
      /** Mode reclaimed: the message is no longer this worker's; left alone. */
      readonly kind: 'skip'
      readonly id: string
    }
  | {
      /** Held back by a limit: waiting for a concurrency slot, or scheduled for its rate window. */
      readonly kind: 'wait'
      readonly id: string
    }

/** Field separator of the start script's reply entries (the unit separator). */
const SEP = '\x1f'

// Where the next field of the entry being decoded starts. Decoding is synchronous, one entry at a
// time: a position kept here spares an array (or a reader object) per entry on the hot path.
let fieldAt = 0

/** The next field of `entry` from `fieldAt` on (the rest of the entry for the last one), moving past it. */
function nextField(entry: string): string {
  const end = entry.indexOf(SEP, fieldAt)
  const field = end < 0 ? entry.slice(fieldAt) : entry.slice(fieldAt, end)
  fieldAt = end < 0 ? entry.length : end + 1
  return field
}

/** One entry of the start script's reply; `known` is the message it answers in modes ids and reclaimed. */
function decodeStartEntry(entry: string, known: StartMessage | undefined): StartEntry {
  // the kind and its separator, checked in place: no string is cut for it
  if (entry.startsWith('run\x1f')) {
    fieldAt = 4
    const id = nextField(entry)
    // modes ids and reclaimed leave the key out: the caller sent it
    const key = nextField(entry) || (known?.key ?? '')
    const gen = nextField(entry)
    const task = nextField(entry)
    const when = Number(nextField(entry))
    const attempt = Number(nextField(entry))
    const deliveries = Number(nextField(entry))
    const slot = nextField(entry)
    const trace = nextField(entry)
    // params come last and may hold anything, the separator included
    const paramsJson = fieldAt < entry.length ? entry.slice(fieldAt) : '{}'
    return { kind: 'run', id, key, gen, task, when, attempt, deliveries, slot, trace, paramsJson }
  }
  if (entry.startsWith('go\x1f')) {
    // started from its message: the id, the deliveries, the record's generation and due time, then
    // the message's run field as written (see queueMessage in lua/shared.lua): key, task, attempt,
    // trace, params
    fieldAt = 3
    const id = nextField(entry)
    const deliveries = Number(nextField(entry))
    const gen = nextField(entry)
    const when = Number(nextField(entry))
    const key = nextField(entry)
    const task = nextField(entry)
    // the short form ends here: a first attempt without params or trace context
    if (fieldAt >= entry.length) return { kind: 'run', id, key, gen, task, when, attempt: 1, deliveries, slot: '', trace: '', paramsJson: '{}' }
    const attempt = Number(nextField(entry) || 1)
    const trace = nextField(entry)
    const paramsJson = fieldAt < entry.length ? entry.slice(fieldAt) : '{}'
    return { kind: 'run', id, key, gen, task, when, attempt, deliveries, slot: '', trace, paramsJson }
  }
  if (entry.startsWith('drop\x1f')) return { kind: 'drop', id: entry.slice(5) }
  if (entry.startsWith('skip\x1f')) return { kind: 'skip', id: entry.slice(5) }
  if (entry.startsWith('wait\x1f')) return { kind: 'wait', id: entry.slice(5) }
  if (entry.startsWith('unknown\x1f')) {
    fieldAt = 8
    const id = nextField(entry)
    const key = nextField(entry)
    const gen = nextField(entry)
    const deferrals = Number(nextField(entry))
    const since = nextField(entry)
    // the task comes last: a message written by hand may name anything, the separator included
    const task = entry.slice(fieldAt)
    return { kind: 'unknown', id, key, gen, task, deferrals, since: since === '' ? undefined : Number(since) }
  }
  throw new Error(`start script: unexpected reply entry ${JSON.stringify(entry.slice(0, 40))}`)
}

/**
 * Starts tasks for `worker` with the start script: one entry per message handled, in order, or
 * {@link STALE} when the strike rules changed since `strikesVersion` (nothing read or changed).
 * Each task started appends a `started` event, unless `eventsLimit` is 0. `now` is the time the
 * limits are judged at (tests give one).
 */
export async function startTasks(
  redis: RedisClient,
  keys: ShadowKeys,
  worker: string,
  strikesVersion: string,
  eventsLimit: number,
  limits: WorkerLimits,
  request: StartRequest,
  now = Date.now(),
): Promise<StartEntry[] | typeof STALE> {
  const args: (string | number)[] = [
    CONSUMER_GROUP,
    worker,
    now,
    strikesVersion,
    request.mode,
    eventsLimit,
    keys.taskPrefix,
    limits.spec,
    limits.lease,
    keys.slotPrefix,
    keys.waitingPrefix,
    keys.ratePrefix,
    keys.events,
  ]
  const scriptKeys = [keys.stream, keys.strikesVersion, keys.eventLog, keys.schedule, keys.limits]
  if (request.mode === 'read') {
    args.push(request.count, ...request.tasks)
  } else {
    for (const m of request.messages) {
      scriptKeys.push(keys.task(m.key))
      args.push(m.id, m.gen)
    }
  }
  const reply = (await runScript(redis, 'start', scriptKeys, args)) as string[]
  if (reply[0] === STALE) return STALE
  const messages = request.mode === 'read' ? undefined : request.messages
  const entries = reply as unknown[] as StartEntry[]
  // decoded in place: the reply array is ours
  for (let i = 0; i < reply.length; i++) entries[i] = decodeStartEntry(reply[i] as string, messages?.[i])
  return entries
}

// ---------------------------------------------------------------------------------------------
// finish

/** The outcome of one attempt, for {@link finishAttempts} (see finish.lua for each kind). */
export interface FinishOutcome {
  /** Stream id of the attempt's message. */
  readonly id: string
  /** The key's stored form. */
  readonly key: string
  /** The attempt's generation; "" for a message never started that names none (its stream id decides). */
  readonly gen: string
  readonly outcome: OutcomeKind
  /** Result or error JSON; "" for none. */
  readonly data: string
  /** Due time for retry, again, again-failed and defer; 0 otherwise. */
  readonly due: number
  /** The concurrency group whose slot the attempt holds, to give back; absent or "" for none. */
  readonly slot?: string
}

/** The newest stream id among the outcomes' (`ms-seq`, both parts compared as numbers). */
function newestId(outcomes: readonly FinishOutcome[]): string {
  let newest = '0-0'
  let newestMs = 0
  let newestSeq = 0
  for (const { id } of outcomes) {
    const dash = id.indexOf('-')
    const ms = Number(id.slice(0, dash))
    const seq = Number(id.slice(dash + 1))
    if (ms > newestMs || (ms === newestMs && seq > newestSeq)) {
      newest = id
      newestMs = ms
      newestSeq = seq
    }
  }
  return newest
}

/**
 * Records the outcomes of `worker`'s attempts and acknowledges their messages, keeping what
 * `retention` says of the tasks that ended (history, events); resolves with how many applied. The
 * reply is a plain count, handed on as it arrives: no promise is added to the hot path of every
 * outcome batch.
 */
export function finishAttempts(
  redis: RedisClient,
  keys: ShadowKeys,
  worker: string,
  retention: Retention,
  lease: number,
  outcomes: readonly FinishOutcome[],
): Promise<number> {
  const args: (string | number)[] = [
    CONSUMER_GROUP,
    worker,
    Date.now(),
    retention.executionTtl,
    keys.events,
    keys.taskPrefix,
    keys.historyPrefix,
    retention.historyLimit,
    retention.eventsLimit,
    keys.finished,
    keys.slotPrefix,
    keys.waitingPrefix,
    lease,
    newestId(outcomes),
  ]
  // the plain completions go first, three slots each instead of seven, after their count (see
  // finish.lua); pushed straight into the arguments, with no array of their own
  const countAt = args.length
  args.push(0)
  const others: (string | number)[] = []
  for (const o of outcomes) {
    if (o.outcome === 'completed' && o.data === '' && !o.slot) args.push(o.id, o.key, o.gen)
    else others.push(o.id, o.key, o.gen, o.outcome, o.data, o.due, o.slot ?? '')
  }
  args[countAt] = (args.length - countAt - 1) / 3
  for (const value of others) args.push(value)
  return runScript(redis, 'finish', [keys.stream, keys.schedule, keys.eventLog, keys.limits], args) as Promise<number>
}

// ---------------------------------------------------------------------------------------------
// cancel

/** What {@link cancelTask} found. */
export type CancelResult =
  | { readonly kind: 'missing' }
  | {
      readonly kind: 'cancelled'
      /** The state it was in (`cancelled` when it already was). */
      readonly previous: string
      readonly task: string
    }
  | {
      /** Too late: completed, failed or struck. */
      readonly kind: 'finished'
      readonly state: string
      readonly task: string
    }

/**
 * Cancels the task of `stored` key: removed when scheduled or queued, its worker told when running;
 * it enters the history of cancelled tasks, and its event is written, as `retention` says.
 */
export async function cancelTask(redis: RedisClient, keys: ShadowKeys, stored: string, retention: Retention): Promise<CancelResult> {
  const [kind, state, task = ''] = (await runScript(
    redis,
    'cancel',
    [keys.task(stored), keys.schedule, keys.stream, keys.eventLog],
    [stored, Date.now(), retention.executionTtl, keys.events, keys.historyPrefix, retention.historyLimit, retention.eventsLimit, keys.finished],
  )) as [string, string?, string?]
  if (kind === 'missing') return { kind }
  if (kind === 'finished') return { kind, state: state ?? '', task }
  return { kind: 'cancelled', previous: state ?? 'cancelled', task }
}

// ---------------------------------------------------------------------------------------------
// progress

/**
 * Stores a running attempt's progress (JSON) and writes its event (unless `eventsLimit` is 0);
 * false when the task moved on (replaced, cancelled, expired).
 */
export async function storeProgress(
  redis: RedisClient,
  keys: ShadowKeys,
  stored: string,
  gen: string,
  worker: string,
  json: string,
  eventsLimit: number,
): Promise<boolean> {
  return (await runScript(redis, 'progress', [keys.task(stored), keys.eventLog], [gen, worker, json, stored, eventsLimit])) === 1
}

// ---------------------------------------------------------------------------------------------
// renew

/** A running attempt's claim: its message, and the concurrency group whose slot it holds ("" for none). */
export interface Claim {
  readonly id: string
  readonly slot: string
}

/**
 * Renews `worker`'s claim on the messages of `claims`, and the lease of their slots by `lease` ms;
 * resolves with the ids another worker holds now.
 */
export async function renewClaims(redis: RedisClient, keys: ShadowKeys, worker: string, lease: number, claims: Iterable<Claim>): Promise<string[]> {
  const args: (string | number)[] = [CONSUMER_GROUP, worker, Date.now(), lease, keys.slotPrefix]
  for (const { id, slot } of claims) args.push(slot === '' ? id : `${id}\x1f${slot}`)
  return (await runScript(redis, 'renew', [keys.stream], args)) as string[]
}

// ---------------------------------------------------------------------------------------------
// limits

/**
 * Frees the concurrency slots whose lease lapsed in the groups that have tasks waiting, and admits
 * the oldest waiting tasks into the room their limit leaves; resolves with how many were admitted.
 */
export async function sweepLimits(redis: RedisClient, keys: ShadowKeys, limits: WorkerLimits): Promise<number> {
  const args: (string | number)[] = [Date.now(), limits.lease, keys.taskPrefix, keys.slotPrefix, keys.waitingPrefix]
  for (const [task, limit] of limits.concurrency) args.push(task, limit)
  return (await runScript(redis, 'limits', [keys.limits, keys.stream], args)) as number
}

// ---------------------------------------------------------------------------------------------
// strike, restore, read-strikes

/** What {@link addStrike} did. */
export type StrikeResult =
  | { readonly kind: 'exists'; readonly strike: Strike }
  | { readonly kind: 'full' }
  | {
      readonly kind: 'created'
      readonly strike: Strike
      /** The change as stored and pushed; undefined when its text cannot be read (then the copy is read afresh). */
      readonly change: StrikeChange | undefined
    }

/**
 * Stores `strike` unless the same rule exists or the shadow already holds `maxStrikes` rules; a
 * rule stored writes its event (unless `eventsLimit` is 0).
 */
export async function addStrike(redis: RedisClient, keys: ShadowKeys, strike: Strike, maxStrikes: number, eventsLimit: number): Promise<StrikeResult> {
  const args = [strike.id, JSON.stringify(strike), randomUUID(), maxStrikes, keys.events, strikeChangeBody({ added: strike }), eventsLimit]
  const scriptKeys = [keys.strikes, keys.strikesVersion, keys.strikesChange, keys.eventLog]
  const [kind, json = '', change = ''] = (await runScript(redis, 'strike', scriptKeys, args)) as [string, string?, string?]
  if (kind === 'full') return { kind }
  if (kind === 'exists') return { kind, strike: JSON.parse(json) as Strike }
  return { kind: 'created', strike: JSON.parse(json) as Strike, change: decodeStrikeChange(change) }
}

/**
 * Removes the strike `id`: the removed rule and the change, or undefined when there was none. A
 * rule removed writes its event (unless `eventsLimit` is 0).
 */
export async function removeStrike(
  redis: RedisClient,
  keys: ShadowKeys,
  id: string,
  eventsLimit: number,
): Promise<{ strike: Strike; change: StrikeChange | undefined } | undefined> {
  const args = [id, randomUUID(), keys.events, strikeChangeBody({ removed: id }), eventsLimit]
  const scriptKeys = [keys.strikes, keys.strikesVersion, keys.strikesChange, keys.eventLog]
  const reply = (await runScript(redis, 'restore', scriptKeys, args)) as [string, string] | null
  if (reply === null) return undefined
  return { strike: JSON.parse(reply[0]) as Strike, change: decodeStrikeChange(reply[1]) }
}

/** What a copy of the strike rules at some version needs to be brought up to date. */
export type StrikesRead =
  | { readonly kind: 'current' }
  | {
      /** The copy is one change behind; undefined when the change's text cannot be read. */
      readonly kind: 'change'
      readonly change: StrikeChange | undefined
    }
  | { readonly kind: 'all'; readonly version: string; readonly rules: Strike[] }

/** Reads, atomically, what a copy at `version` lacks: nothing, the last change, or every rule. */
export async function readStrikesSince(redis: RedisClient, keys: ShadowKeys, version: string): Promise<StrikesRead> {
  const [kind, ...rest] = (await runScript(redis, 'read-strikes', [keys.strikes, keys.strikesVersion, keys.strikesChange], [version])) as string[]
  if (kind === 'current') return { kind }
  if (kind === 'change') return { kind, change: decodeStrikeChange(rest[0] ?? '') }
  const [stored = '', ...rules] = rest
  return { kind: 'all', version: stored, rules: rules.map((text) => JSON.parse(text) as Strike) }
}

// ---------------------------------------------------------------------------------------------
// retry

/** A finished task for {@link retryTasks}: its key and the generation of the record read. */
export interface RetryTask {
  /** The key's stored form. */
  readonly stored: string
  /** The record's generation when it was read and checked against the strikes. */
  readonly gen: string
}

/**
 * What the retry script did with one task: `retried` (queued afresh), `missing` (no record),
 * `changed` (the record is no longer the one read: read it again), or the live state that holds
 * the key.
 */
export type RetryReply = 'retried' | 'missing' | 'changed' | LiveState

/**
 * Queues finished tasks again, due `now`, atomically for the batch: one reply per task, in order,
 * or {@link STALE} when the strike rules changed since `strikesVersion` (nothing written). Each
 * task queued writes a `retrying` event, unless `eventsLimit` is 0.
 */
export async function retryTasks(
  redis: RedisClient,
  keys: ShadowKeys,
  now: number,
  strikesVersion: string,
  eventsLimit: number,
  tasks: readonly RetryTask[],
): Promise<RetryReply[] | typeof STALE> {
  const args: (string | number)[] = [now, strikesVersion, keys.taskPrefix, eventsLimit]
  for (const t of tasks) args.push(t.stored, t.gen)
  const reply = (await runScript(redis, 'retry', [keys.stream, keys.strikesVersion, keys.eventLog], args)) as string[]
  if (reply[0] === STALE) return STALE
  return reply as RetryReply[]
}

// ---------------------------------------------------------------------------------------------
// list

/** One page to read with {@link listTasks}. */
export interface ListRequest {
  readonly state: TaskState
  /** Only tasks of this name. */
  readonly task: string | undefined
  /** Most tasks to answer. */
  readonly limit: number
  /** Most index entries to look at (see list.lua): a page that looked at this many ends there. */
  readonly budget: number
  /** Where the previous page ended; undefined for the first page. */
  readonly after: ListPosition | undefined
  /** Finished states only: the earliest finish time to read, epoch ms. */
  readonly finishedAfter?: number | undefined
  /** Finished states only: most tasks a history index keeps (`historyLimit`); only the last that many it was given are listed. */
  readonly historyLimit: number
}

/** A task of a page, as stored. */
export interface ListedTask {
  /** The key's stored form. */
  readonly stored: string
  /** Its score in the index: when it finished, or when it is due; "" for a queued or running task. */
  readonly score: string
  /** Its record, field by field. */
  readonly fields: Record<string, string>
}

/** A page of tasks in one state, and where it ended (undefined: nothing is left). */
export interface ListedPage {
  readonly tasks: ListedTask[]
  readonly next: ListPosition | undefined
}

/** Reads one page of the tasks in `request.state`, records included, in one script call. */
export async function listTasks(redis: RedisClient, keys: ShadowKeys, request: ListRequest): Promise<ListedPage> {
  const { state, task, after } = request
  const index = isFinished(state) ? keys.history(state, task) : state === 'scheduled' ? keys.schedule : keys.stream
  const position = after === undefined ? '' : 'id' in after ? after.id : 'entry' in after ? `${after.entry} ${after.place}` : `${after.score} ${after.member}`
  const args = [state, request.limit, request.budget, task ?? '', keys.taskPrefix, CONSUMER_GROUP, position, request.finishedAfter ?? '', request.historyLimit]
  const [next = '', ...flat] = (await runScript(redis, 'list', [index], args)) as [string, ...(string | string[])[]]
  const tasks: ListedTask[] = []
  for (let i = 0; i + 2 < flat.length; i += 3) {
    tasks.push({ stored: flat[i] as string, score: flat[i + 1] as string, fields: entryFields(flat[i + 2] as string[]) })
  }
  return { tasks, next: next === '' ? undefined : readPosition(state, next) }
}

/**
 * A position as list.lua answers it: "<score> <member>" in the schedule, a stream id in the
 * stream, "<entry id> <place>" in a history index.
 */
function readPosition(state: TaskState, text: string): ListPosition {
  const space = text.indexOf(' ')
  if (space < 0) return { id: text }
  if (isFinished(state)) return { entry: text.slice(0, space), place: Number(text.slice(space + 1)) }
  return { score: Number(text.slice(0, space)), member: text.slice(space + 1) }
}
