/**
 * What goes over the wire, typed from the very schemas the gateway's routes validate and serialize
 * with (routes/<resource>/schemas.ts). Only types are imported: `Static<>` turns each TypeBox schema
 * into its TypeScript type at compile time, and nothing of TypeBox or of the routes is loaded at run
 * time. A field renamed or retyped in a route's schema changes these types, so code using the
 * client stops compiling instead of sending what the gateway now refuses.
 */
import type { Static } from '@sinclair/typebox'
import type { EventType, StrikeEventType, TaskEventType } from '../core/events.js'
import type { ErrorCode } from '../core/errors.js'
import type { ErrorBody } from '../gateway/contract.js'
import type { StrikeBody, StrikeInputBody, StrikeList } from '../../routes/strikes/schemas.js'
import type { SnapshotBody, WorkerList } from '../../routes/inspect/schemas.js'
import type { EventsQuery } from '../../routes/events/schemas.js'
import type {
  AddBody,
  Added,
  BatchResults,
  Cancelled,
  Existing,
  ListQuery,
  ReplaceBody,
  Replaced,
  RetryAllBody,
  RetryCounts,
  Retried,
  TaskPage,
  TaskRecord,
} from '../../routes/tasks/schemas.js'

export type { ErrorCode, EventType }

/** `when` (and the like) may be given as a `Date`; it is sent as RFC 3339 (`toISOString()`). */
type DatesAllowed<T, K extends keyof T> = Omit<T, K> & { [P in K]?: T[P] | Date }

/** Body of `POST /tasks`: `{ task, params?, key?, when? | delay? }`. */
export type AddInput = DatesAllowed<Static<typeof AddBody>, 'when'>

/** Body of `PUT /tasks/{key}`: `{ task, params?, when? | delay? }`. */
export type ReplaceInput = DatesAllowed<Static<typeof ReplaceBody>, 'when'>

/** The flags that tell the answers of `POST /tasks` apart. */
type AddFlag = 'duplicate' | 'debounced'

/**
 * `T` with the flags it lacks typed as never there, so that `if (result.duplicate)` and
 * `if (result.debounced)` narrow the union of the answers.
 */
type Flagged<T> = T & { readonly [F in Exclude<AddFlag, keyof T>]?: never }

/** 202 of `POST /tasks`: the task was stored. */
export type AddedTask = Flagged<Static<typeof Added>>

/**
 * 200 of `POST /tasks`: the key was taken and nothing changed (`duplicate: true`, the task that
 * holds it), or a debounced add moved the key's scheduled task (`debounced: true`).
 */
export type ExistingTask = Static<typeof Existing> extends infer E ? (E extends unknown ? Flagged<E> : never) : never

/** What `add()` resolves with: the stored task, or the existing one. */
export type AddResult = AddedTask | ExistingTask

/** 200 of `POST /tasks/batch`: one result per item, in order. */
export type BatchResult = Static<typeof BatchResults>

/** 200 of `PUT /tasks/{key}`. */
export type ReplaceResult = Static<typeof Replaced>

/** 200 of `GET /tasks/{key}`: a task's record. */
export type TaskRecordBody = Static<typeof TaskRecord>

/** 200 of `DELETE /tasks/{key}`. */
export type CancelResult = Static<typeof Cancelled>

/** Query of `GET /tasks`; `limit` may be a number. */
export type ListInput = Omit<Static<typeof ListQuery>, 'limit'> & { limit?: Static<typeof ListQuery>['limit'] | number }

/** 200 of `GET /tasks`: one page of records, and the cursor of the next. */
export type TaskPageBody = Static<typeof TaskPage>

/** 202 of `POST /tasks/{key}/retry`. */
export type RetryResult = Static<typeof Retried>

/** Body of `POST /tasks/retry`. */
export type RetryAllInput = DatesAllowed<Static<typeof RetryAllBody>, 'finishedAfter'>

/** 200 of `POST /tasks/retry`. */
export type RetryAllResult = Static<typeof RetryCounts>

/** Body of `POST /strikes`. */
export type StrikeInput = Static<typeof StrikeInputBody>

/** A strike rule as the gateway answers it. */
export type StrikeRule = Static<typeof StrikeBody>

/** 200 of `GET /strikes`. */
export type StrikeListBody = Static<typeof StrikeList>

/** 200 of `GET /snapshot`. */
export type SnapshotResult = Static<typeof SnapshotBody>

/** 200 of `GET /workers`. */
export type WorkerListBody = Static<typeof WorkerList>

/** Filters of `GET /events`; `type` may be a list. */
export type EventsFilter = Omit<Static<typeof EventsQuery>, 'type'> & { type?: Static<typeof EventsQuery>['type'] | readonly EventType[] }

/** What every event of a task carries. */
interface TaskEventFields<T extends TaskEventType> {
  /** The event's id: give it as `lastEventId` to read on from just after it. */
  readonly id: string
  readonly type: T
  readonly key: string
  readonly task: string
  /** RFC 3339. */
  readonly at: string
  /** The attempt it concerns; absent for `added`. */
  readonly attempt?: number
  /** The state the task is in after the event. */
  readonly state: TaskRecordBody['state']
  /** `failed`, `retrying`, `struck`, and `cancelled` by the worker: the error the attempt ended with. */
  readonly error?: NonNullable<TaskRecordBody['error']>
  /** `progress`: what the task reported. */
  readonly progress?: NonNullable<TaskRecordBody['progress']>
}

/**
 * One transition of a task, as the `data:` of its SSE event, with the event's `id`. One member per
 * type, so that any test of `type` narrows it.
 */
export type TaskEventMessage = { [T in TaskEventType]: TaskEventFields<T> }[TaskEventType]

/** What every event of a strike rule carries. */
interface StrikeEventFields<T extends StrikeEventType> {
  readonly id: string
  readonly type: T
  /** RFC 3339. */
  readonly at: string
  /** The rule's task name, when it names one. */
  readonly task?: string
  readonly strike: StrikeRule
}

/** A strike rule added (`strike`) or removed (`restore`), with the event's `id`. */
export type StrikeEventMessage = StrikeEventFields<'strike'> | StrikeEventFields<'restore'>

/** One event of `GET /events`. */
export type ShadowsEvent = TaskEventMessage | StrikeEventMessage

/** The `gap` notice: a resumed stream missed events the capped log no longer holds. */
export interface EventsGap {
  readonly message: string
  /** The id the stream resumed from. */
  readonly lastEventId: string
  /** The oldest event the log still holds; the stream goes on from there. */
  readonly oldestEventId: string
}

/** The one error shape of the gateway: `{ statusCode, code, error, message }`. */
export type ErrorAnswer = Static<typeof ErrorBody>
