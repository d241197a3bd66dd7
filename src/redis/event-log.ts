/**
 * The events log (`keys.eventLog`): a stream the Lua scripts append one entry to per transition
 * (with `appendEvent` of lua/shared.lua), capped at `eventsLimit` entries (`XADD … MAXLEN ~`), and
 * its one decoder and readers.
 *
 * Every entry has the same six fields, in the same order, so that Redis stores their names once
 * per node of the stream rather than once per entry; a field that does not apply is "":
 *
 * ```text
 * type     added started progress completed failed retrying cancelled struck strike restore
 * key      the task's key (stored form); "" for strike and restore
 * task     the task name; "" for strike and restore
 * attempt  the attempt it concerns (retrying: the next one); "" for added, strike and restore
 * state    the state the task is in after it, when the type does not say it: added, retrying,
 *          and the end of one run of a perpetual task (completed or failed, state scheduled or queued)
 * data     failed, retrying, struck, cancelled: the error (JSON); progress: the progress (JSON);
 *          strike, restore: the rule (JSON)
 * ```
 *
 * The entry's id is the event's id, and its milliseconds part the time it happened.
 */
import type { ShadowEvent, TaskEventType } from '../core/events.js'
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

/**
 * The event an entry of the log describes, or undefined for an entry of no known type (written by
 * another build, say) or missing what its type needs.
 */
function decodeLogEntry(id: string, fields: readonly string[] | null | undefined): ShadowEvent | undefined {
  const f = entryFields(fields)
  const at = new Date(Number(id.slice(0, id.indexOf('-'))))
  const { type } = f
  if (type === 'strike' || type === 'restore') {
    const strike = jsonObject(f.data)
    if (strike === undefined || typeof strike.id !== 'string') return undefined
    const task = strike.task
    return { id, type, at, ...(typeof task === 'string' ? { task } : {}), strike: strike as unknown as Strike }
  }
  if (type === undefined || !Object.hasOwn(IMPLIED_STATE, type) || !f.key) return undefined
  const taskType = type as TaskEventType
  const state = isTaskState(f.state) ? f.state : IMPLIED_STATE[taskType]
  const attempt = f.attempt ? Number(f.attempt) : undefined
  const data = jsonObject(f.data)
  return {
    id,
    type: taskType,
    key: userKey(f.key),
    task: f.task ?? '',
    at,
    ...(attempt !== undefined && Number.isInteger(attempt) ? { attempt } : {}),
    state,
    ...(data !== undefined && taskType === 'progress' ? { progress: data as unknown as TaskProgress } : {}),
    ...(data !== undefined && taskType !== 'progress' ? { error: data as unknown as TaskError } : {}),
  }
}

/** What one read of the log found: the events, and the id to read on after. */
export interface EventBatch {
  /** The events read, oldest first (entries of no known type left out). */
  readonly events: ShadowEvent[]
  /** The id of the last entry read (decoded or not), or the id read after when none came. */
  readonly next: string
}

/** The id of the newest entry of the log, or `0-0` when it is empty: reading after it starts from now. */
export async function latestEventId(redis: RedisClient, keys: ShadowKeys): Promise<string> {
  const [newest] = (await redis.xrevrange(keys.eventLog, '+', '-', 'COUNT', 1)) as StreamEntry[]
  return newest?.[0] ?? '0-0'
}

/** The id of the oldest entry the log still holds, or undefined when it is empty. */
export async function oldestEventId(redis: RedisClient, keys: ShadowKeys): Promise<string | undefined> {
  const [oldest] = (await redis.xrange(keys.eventLog, '-', '+', 'COUNT', 1)) as StreamEntry[]
  return oldest?.[0]
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
  return first && added > length ? first[0] : undefined
}

/**
 * Reads up to `count` entries of the log after the id `after`; when there are none yet and `block`
 * is given, waits for one up to `block` ms (on `redis`, which it holds meanwhile: a connection of
 * its own).
 */
export async function readEventLog(redis: RedisClient, keys: ShadowKeys, after: string, count: number, block?: number): Promise<EventBatch> {
  const reply =
    block === undefined
      ? await redis.xread('COUNT', count, 'STREAMS', keys.eventLog, after)
      : await redis.xread('COUNT', count, 'BLOCK', block, 'STREAMS', keys.eventLog, after)
  const entries = (reply?.[0]?.[1] ?? []) as StreamEntry[]
  const events: ShadowEvent[] = []
  for (const [id, fields] of entries) {
    const event = decodeLogEntry(id, fields)
    if (event !== undefined) events.push(event)
  }
  return { events, next: entries.length > 0 ? (entries[entries.length - 1] as StreamEntry)[0] : after }
}
