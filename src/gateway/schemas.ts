/**
 * Request and response schemas of the HTTP contract (v1). Routes declare them, Fastify validates
 * requests and serializes responses with them, and openapi.yaml is generated from them.
 */
import { Type, type Static } from '@sinclair/typebox'
import { ERROR_CODES } from '../errors.js'
import { STRIKE_OPERATORS } from '../strikes.js'
import { TASK_STATES } from '../records.js'

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)))

/** Every error answer. */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer({ examples: [400] }),
    code: literals(ERROR_CODES),
    error: Type.String({ examples: ['Bad Request'] }),
    message: Type.String(),
  },
  { $id: 'Error', additionalProperties: false, description: 'Every error answer has this shape.' },
)

/** A task key: 1-200 chars of [A-Za-z0-9._:@-]. */
export const Key = Type.String({ description: 'Task key: 1-200 chars of [A-Za-z0-9._:@-].', examples: ['order-42'] })

/** RFC 3339 with an offset. */
export const Timestamp = Type.String({ description: 'RFC 3339 date-time with an offset.', examples: ['2026-11-28T10:00:00Z'] })

const LiveStateSchema = literals(['scheduled', 'queued', 'running'] as const)
const StateSchema = literals(TASK_STATES)
const Params = Type.Record(Type.String(), Type.Unknown(), { description: 'The task params: one JSON object.' })

const timing = {
  when: Type.Optional(Type.String({ description: 'Due time, RFC 3339 with an offset; absent or past = now. Not with delay.' })),
  delay: Type.Optional(Type.Number({ description: 'Due in this many milliseconds. Not with when.' })),
}

/** Body of POST /tasks (and each item of a batch). */
export const AddBody = Type.Object(
  {
    task: Type.String({ description: 'Name of a registered task.' }),
    params: Type.Optional(Type.Unknown({ description: 'The task params: one JSON object.' })),
    key: Type.Optional(Type.String({ description: 'Task key (default: a new UUID).' })),
    ...timing,
  },
  { additionalProperties: false },
)
export type AddBody = Static<typeof AddBody>

/** Body of PUT /tasks/{key}. */
export const ReplaceBody = Type.Object(
  {
    task: Type.String({ description: 'Name of a registered task.' }),
    params: Type.Optional(Type.Unknown({ description: 'The task params: one JSON object.' })),
    ...timing,
  },
  { additionalProperties: false },
)
export type ReplaceBody = Static<typeof ReplaceBody>

/** 202 of POST /tasks. */
export const Added = Type.Object({ key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema }, { additionalProperties: false })

/** 200 of POST /tasks when the key was taken. */
export const Duplicate = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema, duplicate: Type.Literal(true), params: Params },
  { additionalProperties: false },
)

/** Body of POST /tasks/batch. */
export const BatchBody = Type.Object(
  { tasks: Type.Array(Type.Unknown(), { maxItems: 1000, description: 'Up to 1000 tasks, each shaped as the body of POST /tasks.' }) },
  { additionalProperties: false },
)

/** 200 of POST /tasks/batch. */
export const BatchResults = Type.Object(
  {
    results: Type.Array(
      Type.Object(
        {
          status: Type.Integer({ description: 'The status this item would have had alone: 202, 200 (duplicate) or an error status.' }),
          key: Type.Optional(Key),
          task: Type.Optional(Type.String()),
          when: Type.Optional(Timestamp),
          state: Type.Optional(LiveStateSchema),
          duplicate: Type.Optional(Type.Boolean()),
          code: Type.Optional(literals(ERROR_CODES)),
          message: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

/** 200 of PUT /tasks/{key}. */
export const Replaced = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema, replaced: Type.Boolean() },
  { additionalProperties: false },
)

/** 200 of GET /tasks/{key}. */
export const TaskRecord = Type.Object(
  {
    key: Key,
    task: Type.String(),
    params: Params,
    when: Timestamp,
    state: StateSchema,
    attempt: Type.Integer(),
    worker: Type.Optional(Type.String()),
    startedAt: Type.Optional(Timestamp),
    finishedAt: Type.Optional(Timestamp),
    result: Type.Optional(Type.Unknown({ description: 'The JSON the task returned.' })),
    error: Type.Optional(Type.Object({ type: Type.String(), message: Type.String() }, { additionalProperties: false })),
    progress: Type.Optional(
      Type.Object({ current: Type.Number(), total: Type.Optional(Type.Number()), message: Type.Optional(Type.String()) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
)

/** 200 of DELETE /tasks/{key}. */
export const Cancelled = Type.Object({ key: Key, state: Type.Literal('cancelled') }, { additionalProperties: false })

/** The path parameter of /tasks/{key}. */
export const KeyParams = Type.Object({ key: Type.String() })

const Counts = Type.Object({ scheduled: Type.Integer(), queued: Type.Integer(), running: Type.Integer() }, { additionalProperties: false })

/** 200 of GET /snapshot. */
export const SnapshotBody = Type.Object(
  {
    takenAt: Timestamp,
    counts: Counts,
    byTask: Type.Record(Type.String(), Counts, { description: 'Per task, over the first 1000 entries of each state.' }),
    running: Type.Array(
      Type.Object({ key: Key, task: Type.String(), worker: Type.String(), startedAt: Type.Optional(Timestamp) }, { additionalProperties: false }),
    ),
    scheduled: Type.Array(Type.Object({ key: Key, task: Type.String(), when: Timestamp }, { additionalProperties: false }), {
      description: 'The first 100 scheduled tasks by due time.',
    }),
  },
  { additionalProperties: false },
)

const JsonValue = Type.Unknown({ description: 'A JSON value; [lo, hi] for between.' })

/** A stored strike. */
export const StrikeBody = Type.Object(
  {
    id: Type.String(),
    task: Type.Optional(Type.String()),
    parameter: Type.Optional(Type.String()),
    operator: literals(STRIKE_OPERATORS),
    value: Type.Optional(JsonValue),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
)

/** Body of POST /strikes. */
export const StrikeInputBody = Type.Object(
  {
    task: Type.Optional(Type.String()),
    parameter: Type.Optional(Type.String()),
    operator: Type.Optional(literals(STRIKE_OPERATORS)),
    value: Type.Optional(JsonValue),
  },
  { additionalProperties: false },
)

/** 200 of GET /strikes. */
export const StrikeList = Type.Object({ strikes: Type.Array(StrikeBody) }, { additionalProperties: false })

/** The path parameter of /strikes/{id}. */
export const IdParams = Type.Object({ id: Type.String() })

/** 200 of GET /workers. */
export const WorkerList = Type.Object(
  {
    workers: Type.Array(
      Type.Object(
        { name: Type.String(), lastSeen: Timestamp, tasks: Type.Array(Type.String()), concurrency: Type.Integer(), running: Type.Integer() },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
)

/** 200 of the health routes. */
export const Health = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false })

/** A reference to {@link ErrorBody}, registered once with `app.addSchema`. */
export const ErrorRef = Type.Ref(ErrorBody)

/** The error responses a route may give, by status. */
export function errors(...statuses: number[]): Record<number, typeof ErrorRef> {
  return Object.fromEntries(statuses.map((status) => [status, ErrorRef]))
}
