/**
 * The events of a shadow: one per transition of a task (added, started, progress, completed,
 * failed, retrying, cancelled, struck) or of the strike rules (strike, restore), as the Lua scripts
 * that make the transitions append them to the events log, and the filters they are read with.
 */
import { ShadowsError } from './errors.js'
import type { TaskError, TaskProgress, TaskState } from './records.js'
import type { Strike } from './strikes.js'
import { assertValidKey, assertValidTaskName } from './validation.js'

/** Every event type, in the order a task meets them, then the strike rules'. */
export const EVENT_TYPES = ['added', 'started', 'progress', 'completed', 'failed', 'retrying', 'cancelled', 'struck', 'strike', 'restore'] as const

/** The type of an event. */
export type EventType = (typeof EVENT_TYPES)[number]

/** The types of the events of a strike rule. */
export type StrikeEventType = 'strike' | 'restore'

/** The types of the events of a task. */
export type TaskEventType = Exclude<EventType, StrikeEventType>

/**
 * A transition of one task. `state` is the state the task is in after it: `added` says whether it
 * was scheduled or queued, `retrying` where the next attempt waits, and the end of one run of a
 * perpetual task (`completed` or `failed`) where the next run waits; for the other types it is
 * the type's own state (`started` and `progress`: running).
 */
export interface TaskEvent {
  /** The event's id in the log: pass it as `since` to read on from just after it. */
  readonly id: string
  readonly type: TaskEventType
  readonly key: string
  readonly task: string
  /** When it happened (to the millisecond). */
  readonly at: Date
  /**
   * The attempt it concerns: the one started, reporting progress or ended; for `retrying`, the
   * attempt that runs next (1 after `retry()`). Absent for `added`.
   */
  readonly attempt?: number
  readonly state: TaskState
  /** `failed`, `retrying`, `struck`, and `cancelled` by the worker: the error the attempt ended with. */
  readonly error?: TaskError
  /** `progress`: what the task reported. */
  readonly progress?: TaskProgress
}

/** A strike rule added (`strike`) or removed (`restore`). */
export interface StrikeEvent {
  readonly id: string
  readonly type: StrikeEventType
  readonly at: Date
  /** The rule's task name, when it names one. */
  readonly task?: string
  readonly strike: Strike
}

/** One event of a shadow's log. */
export type ShadowEvent = TaskEvent | StrikeEvent

/** Which events to read: all of them, or those of a task name, of a key, of some types. */
export interface EventFilter {
  /**
   * Only the events of this task name; strike events are kept when their rule names this task or
   * no task at all (a rule on a parameter alone may strike it).
   */
  readonly task?: string
  /** Only the events of the task with this key (no strike events). */
  readonly key?: string
  /** Only events of these types. */
  readonly types?: readonly EventType[]
}

const EVENT_ID = /^(\d{1,20})-(\d{1,20})$/

/** The largest part of a stream id Redis takes (each part is an unsigned 64-bit integer). */
const MAX_ID_PART = 2n ** 64n - 1n

/**
 * Whether `id` is an event id: a stream id, `<ms>-<sequence>`, each part one Redis takes (an
 * unsigned 64-bit integer: twenty digits can say more, which Redis refuses).
 */
export function isEventId(id: unknown): id is string {
  if (typeof id !== 'string') return false
  const parts = EVENT_ID.exec(id)
  return parts !== null && BigInt(parts[1] as string) <= MAX_ID_PART && BigInt(parts[2] as string) <= MAX_ID_PART
}

/** The two parts of an event id (or a stream entry's), checked with {@link isEventId} or read from Redis. */
export function eventIdParts(id: string): [ms: bigint, sequence: bigint] {
  const dash = id.indexOf('-')
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))]
}

/** Orders two event ids: negative when `a` came first, 0 when equal, positive otherwise. */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = eventIdParts(a)
  const [bm, bs] = eventIdParts(b)
  if (am !== bm) return am < bm ? -1 : 1
  return as === bs ? 0 : as < bs ? -1 : 1
}

/** Whether `type` is one of {@link EVENT_TYPES}. */
export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && (EVENT_TYPES as readonly string[]).includes(type)
}

/** Throws `SHADOWS_ERR_VALIDATION` unless `filter` is a valid {@link EventFilter}. */
export function assertEventFilter(filter: unknown): asserts filter is EventFilter {
  if (filter === null || typeof filter !== 'object')
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'the events filter must be an object', { field: 'filter' })
  const { task, key, types } = filter as Record<string, unknown>
  if (task !== undefined) assertValidTaskName(task)
  if (key !== undefined) assertValidKey(key)
  if (types !== undefined) {
    if (!Array.isArray(types) || types.length === 0 || !types.every(isEventType)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `types must be a non-empty list of ${EVENT_TYPES.join(', ')}`, { field: 'types' })
    }
  }
}

/** A test that keeps the events `filter` asks for (checked with {@link assertEventFilter} first). */
export function eventMatcher(filter: EventFilter): (event: ShadowEvent) => boolean {
  const { task, key } = filter
  const types = filter.types === undefined ? undefined : new Set<EventType>(filter.types)
  return (event) => {
    if (types !== undefined && !types.has(event.type)) return false
    if ('strike' in event) return key === undefined && (task === undefined || event.task === undefined || event.task === task)
    return (key === undefined || event.key === key) && (task === undefined || event.task === task)
  }
}
