/**
 * The events log (`keys.eventLog`): a stream the Lua scripts append to (with `appendEvent` and
 * `flushEvents` of lua/shared.lua), keeping the last `eventsLimit` events, and its one decoder and
 * readers.
 *
 * Each entry holds the events of one script call, up to {@link EVENTS_PER_ENTRY} (a drain writes
 * one entry per batch of starts or outcomes, not one per transition). Its fields, the same two in
 * every entry so that Redis stores their names once per node of the stream:
 *
 * ```text
 * n   how many events the log was ever given, up to this entry's last (what the scripts trim by)
 * e   the events, separated by \x1e; each one's six fields separated by \x1f:
 *     type     added started progress completed failed retrying cancelled struck strike restore
 *     key      the task's key (stored form); "" for strike and restore
 *     task     the task name; "" for strike and restore
 *     attempt  the attempt it concerns (retrying: the next one); "" for added, strike and restore
 *     state    the state the task is in after it, when the type does not say it: added, retrying,
 *              and the end of one run of a perpetual task (completed or failed, state scheduled or queued)
 *     data     failed, retrying, struck, cancelled: the error (JSON); progress: the progress (JSON);
 *              strike, restore: the rule (JSON)
 * ```
 *
 * An event's id is a stream id too, `<ms>-<sequence>`, made from its entry's: the same
 * milliseconds (the time it happened), and the entry's sequence × {@link ID_STRIDE} plus the
 * event's place in the entry. So ids order the events as the log does, and reading after one
 * reads its entry again from the event after it. The id whose place is `ID_STRIDE - 1`, never an
 * event's, stands for the end of an entry: reading after it reads the next entry.
 */
import { eventIdParts, type ShadowEvent, type TaskEventType } from '../core/events.js'
import { isTaskState, type TaskError, type TaskProgress, type TaskState } from '../core/records.js'
import type { Strike } from '../core/strikes.js'
import { userKey, type ShadowKeys } from './keys.js'
import type { RedisClient } from './scripts.js'
import { entryFields, type StreamEntry } from './stream.js'

/** The state a task is in after an event of each type, when the entry does not say it. */
const IMPLIED_STATE: Readonly<Record<TaskEventType, TaskState>> = {
  added: 'queued',
  started: 'running',
  progress: 'running',
  completed: 'completed',
  failed: 'failed',
  retrying: 'queued',
  cancelled: 'cancelled',
  struck: 'struck',
}

/** JSON text as an object, or undefined when it is empty or not a JSON object. */
function jsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined || text === '') return undefined
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The most events one entry holds (EVENTS_PER_ENTRY in lua/shared.lua). */
export const EVENTS_PER_ENTRY = 100

/** Event ids per entry: an event's sequence is its entry's times this, plus its place in the entry. */
export const ID_STRIDE = 1000n

/** The largest sequence a stream id can have. */
const MAX_SEQUENCE = 2n ** 64n - 1n

/** The id of the event at `place` in the entry `entryId`. */
function eventId(entryId: string, place: number | bigint): string {
  const [ms, sequence] = eventIdParts(entryId)
  return `${ms}-${sequence * ID_STRIDE + BigInt(place)}`
}

/** The id that stands for the end of the entry `entryId`: reading after it reads the next entry. */
export function endOfEntry(entryId: string): string {
  return eventId(entryId, ID_STRIDE - 1n)
}

/** The task event of one event's six fields, or undefined for a type this version does not know. */
function decodeEvent(id: string, at: Date, fields: readonly (string | undefined)[]): ShadowEvent | undefined {
  const [type, key, task, attemptText, stateText, dataText] = fields
  if (type === 'strike' || type === 'restore') {
    const strike = jsonObject(dataText)
    if (strike === undefined || typeof strike.id !== 'string') return undefined
    const strikeTask = strike.task
    return { id, type, at, ...(typeof strikeTask === 'string' ? { task: strikeTask } : {}), strike: strike as unknown as Strike }
  }
  if (type === undefined || !Object.hasOwn(IMPLIED_STATE, type) || !key) return undefined
  const taskType = type as TaskEventType
  const state = isTaskState(stateText) ? stateText : IMPLIED_STATE[taskType]
  const attempt = attemptText ? Number(attemptText) : undefined
  const data = jsonObject(dataText)
  return {
    id,
    type: taskType,
    key: userKey(key),
    task: task ?? '',
    at,
    ...(attempt !== undefined && Number.isInteger(attempt) ? { attempt } : {}),
    state,
    ...(data !== undefined && taskType === 'progress' ? { progress: data as unknown as TaskProgress } : {}),
    ...(data !== undefined && taskType !== 'progress' ? { error: data as unknown as TaskError } : {}),
  }
}

/**
 * The events an entry of the log holds from place `from` on, each with its id, leaving out those
 * of no known type (written by another build, say) or missing what their type needs. An entry of
 * one event per entry, as earlier builds wrote them (the six fields by name), is read too.
 */
function decodeLogEntry(entryId: string, fields: readonly string[] | null | undefined, from = 0): ShadowEvent[] {
  const f = entryFields(fields)
  const at = new Date(Number(entryId.slice(0, entryId.indexOf('-'))))
  const out: ShadowEvent[] = []
  if (f.e === undefined) {
    const event = from === 0 ? decodeEvent(eventId(entryId, 0), at, [f.type, f.key, f.task, f.attempt, f.state, f.data]) : undefined
    if (event !== undefined) out.push(event)
    return out
  }
  const texts = f.e.split('\x1e')
  for (let place = from; place < texts.length && place < EVENTS_PER_ENTRY; place++) {
    const event = decodeEvent(eventId(entryId, place), at, (texts[place] as string).split('\x1f'))
    if (event !== undefined) out.push(event)
  }
  return out
}

/** What one read of the log found: the events, and the id to read on after. */
export interface EventBatch {
  /** The events read, oldest first (those of no known type left out). */
  readonly events: ShadowEvent[]
  /** Where the read ended, to read after next: past every entry read, or `after` when none came. */
  readonly next: string
}

/** The id to read after for the events from now on: the end of the newest entry, or `0-0` when the log is empty. */
export async function latestEventId(redis: RedisClient, keys: ShadowKeys): Promise<string> {
  const [newest] = (await redis.xrevrange(keys.eventLog, '+', '-', 'COUNT', 1)) as StreamEntry[]
  return newest === undefined ? '0-0' : endOfEntry(newest[0])
}

/** The id of the oldest event the log still holds, or undefined when it is empty. */
export async function oldestEventId(redis: RedisClient, keys: ShadowKeys): Promise<string | undefined> {
  const [oldest] = (await redis.xrange(keys.eventLog, '-', '+', 'COUNT', 1)) as StreamEntry[]
  return oldest === undefined ? undefined : eventId(oldest[0], 0)
}

/**
 * The oldest event id the log holds when older ones were trimmed off it (it keeps the last
 * `eventsLimit`), or undefined when it never lost one (or does not exist).
 */
export async function trimmedBefore(redis: RedisClient, keys: ShadowKeys): Promise<string | undefined> {
  let info: unknown[]
  try {
    info = (await redis.xinfo('STREAM', keys.eventLog)) as unknown[]
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) return undefined
    throw err
  }
  const field = (name: string): unknown => info[info.indexOf(name) + 1]
  const added = Number(field('entries-added'))
  const length = Number(field('length'))
  const first = field('first-entry') as [string, unknown] | null
  return first && added > length ? eventId(first[0], 0) : undefined
}

/**
 * Where to read the log from for the events after the event id `after`: the entry to read after
 * (exclusive, as XREAD takes it), and the entry `after` falls in with the place of the first of
 * its events still to read (none when `after` ends its entry).
 */
function readFrom(after: string): { readonly after: string; readonly entry?: string; readonly place?: number } {
  const [ms, sequence] = eventIdParts(after)
  const entrySequence = sequence / ID_STRIDE
  const place = sequence % ID_STRIDE
  const entry = `${ms}-${entrySequence}`
  if (place === ID_STRIDE - 1n) return { after: entry }
  // the entry itself is read again, from the entry before it
  const before = entrySequence > 0n ? `${ms}-${entrySequence - 1n}` : ms > 0n ? `${ms - 1n}-${MAX_SEQUENCE}` : '0-0'
  return { after: before, entry, place: Number(place) + 1 }
}

/**
 * Reads the events after the event id `after`, up to `count` of them (the entries they are in,
 * whole, unless `count` ends within one); when there are none yet and `block` is given, waits for
 * some up to `block` ms (on `redis`, which it holds meanwhile: a connection of its own).
 */
export async function readEventLog(redis: RedisClient, keys: ShadowKeys, after: string, count: number, block?: number): Promise<EventBatch> {
  const from = readFrom(after)
  // an entry holds up to EVENTS_PER_ENTRY events: this many entries hold at least `count`, or the log's end
  const entriesWanted = Math.max(1, Math.ceil(count / EVENTS_PER_ENTRY)) + (from.entry === undefined ? 0 : 1)
  const reply =
    block === undefined
      ? await redis.xread('COUNT', entriesWanted, 'STREAMS', keys.eventLog, from.after)
      : await redis.xread('COUNT', entriesWanted, 'BLOCK', block, 'STREAMS', keys.eventLog, from.after)
  const entries = (reply?.[0]?.[1] ?? []) as StreamEntry[]
  const events: ShadowEvent[] = []
  let next = after
  for (const [id, fields] of entries) {
    const decoded = decodeLogEntry(id, fields, id === from.entry ? from.place : 0)
    if (events.length + decoded.length > count) {
      // the read ends within this entry: on from its last event taken
      const taken = decoded.slice(0, count - events.length)
      events.push(...taken)
      const last = taken[taken.length - 1]
      if (last !== undefined) next = last.id
      break
    }
    events.push(...decoded)
    next = endOfEntry(id)
  }
  return { events, next }
}
