/**
 * Request and response schemas of the HTTP contract (v1). Routes declare them, Fastify validates
 * requests and serializes responses with them, and openapi.yaml is generated from them.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { ERROR_CODES, type ErrorCode } from '../core/errors.js'
import { MAX_STRIKE_VALUE_BYTES, STRIKE_OPERATORS } from '../core/strikes.js'
import { TASK_STATES } from '../core/records.js'

const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)))

/**
 * The error codes as one `enum` (a union of literals would show in openapi.yaml as an `anyOf` of
 * one-value enums). Only in responses, which are serialized, never validated.
 */
const ErrorCodeSchema = Type.Unsafe<ErrorCode>({ type: 'string', enum: [...ERROR_CODES], description: 'A stable error code; see the README.' })

/** Every error answer. */
export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer({ examples: [400] }),
    code: ErrorCodeSchema,
    error: Type.String({ examples: ['Bad Request'] }),
    message: Type.String(),
  },
  { $id: 'Error', additionalProperties: false, description: 'Every error answer has this shape.' },
)

/** A task key: 1-200 chars of [A-Za-z0-9._:@-], other than . and .. */
export const Key = Type.String({ description: 'Task key: 1-200 chars of [A-Za-z0-9._:@-], other than . and ..', examples: ['order-42'] })

/** RFC 3339 with an offset. */
export const Timestamp = Type.String({ description: 'RFC 3339 date-time with an offset.', examples: ['2026-11-28T10:00:00Z'] })

const LiveStateSchema = literals(['scheduled', 'queued', 'running'] as const)
const StateSchema = literals(TASK_STATES)
const Params = Type.Record(Type.String(), Type.Unknown(), { description: 'The task params: one JSON object.' })

const timing = {
  when: Type.Optional(Type.String({ description: 'Due time, RFC 3339 with an offset; absent or past = now. Not with delay.' })),
  delay: Type.Optional(Type.Number({ minimum: 0, description: 'Due in this many milliseconds. Not with when.' })),
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
export const Added = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema },
  {
    additionalProperties: false,
    'x-response-description': 'Accepted: the task is stored, queued or scheduled.',
    headers: { Location: { type: 'string', description: 'The task: /tasks/{key}.', examples: ['/tasks/order-42'] } },
  },
)

/** 200 of POST /tasks when the key was taken. */
export const Duplicate = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema, duplicate: Type.Literal(true), params: Params },
  { additionalProperties: false, 'x-response-description': 'The key is already scheduled, queued or running: nothing changed; the existing task.' },
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
          code: Type.Optional(ErrorCodeSchema),
          message: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false, 'x-response-description': 'One result per item, in order, each with the status it would have had alone.' },
)

/** 200 of PUT /tasks/{key}. */
export const Replaced = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema, replaced: Type.Boolean() },
  { additionalProperties: false, 'x-response-description': 'Replaced atomically (replaced: true), or created (replaced: false).' },
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
  { additionalProperties: false, 'x-response-description': "The task's record." },
)

/** 200 of DELETE /tasks/{key}. */
export const Cancelled = Type.Object(
  { key: Key, state: Type.Literal('cancelled') },
  { additionalProperties: false, 'x-response-description': 'Cancelled (also when it already was).' },
)

/** The path parameter of /tasks/{key}. */
export const KeyParams = Type.Object({ key: Key })

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
  { additionalProperties: false, 'x-response-description': 'What is scheduled, queued and running now.' },
)

const JsonValue = Type.Unknown({ description: 'A JSON value; [lo, hi] for between.' })

/** A strike value as given: bounded in bytes, which a JSON Schema of any JSON value cannot say, so the library checks it. */
const JsonValueInput = Type.Unknown({
  description: `A JSON value; [lo, hi] for between. At most ${MAX_STRIKE_VALUE_BYTES} bytes as canonical JSON (UTF-8, object keys sorted, no spaces); a larger one is refused with 400 SHADOWS_ERR_VALIDATION.`,
})

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
    value: Type.Optional(JsonValueInput),
  },
  { additionalProperties: false },
)

/** 200 of GET /strikes. */
export const StrikeList = Type.Object(
  { strikes: Type.Array(StrikeBody) },
  { additionalProperties: false, 'x-response-description': 'The strike rules in force, oldest first.' },
)

/** `schema` with the description its response gets in the API docs. */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, 'x-response-description': description }
}

/** The path parameter of /strikes/{id}. */
export const IdParams = Type.Object({ id: Type.String({ description: 'The strike id.' }) })

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
  { additionalProperties: false, 'x-response-description': 'The live workers, from their heartbeats.' },
)

/** 200 of the health routes. */
export const Health = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false, 'x-response-description': 'OK.' })

/** A reference to {@link ErrorBody}, registered once with `app.addSchema`. */
export const ErrorRef = Type.Ref(ErrorBody)

/** What each error status means, for the API docs. */
const ERROR_RESPONSES: Readonly<Record<number, { description: string; headers?: Record<string, unknown> }>> = {
  400: { description: 'Bad request: SHADOWS_ERR_VALIDATION, SHADOWS_ERR_UNKNOWN_TASK, SHADOWS_ERR_INVALID_PARAMS or SHADOWS_ERR_MALFORMED_JSON.' },
  401: {
    description: 'No valid bearer token (SHADOWS_ERR_UNAUTHORIZED).',
    headers: { 'WWW-Authenticate': { type: 'string', description: 'Bearer', examples: ['Bearer'] } },
  },
  403: { description: "The token lacks the scope (SHADOWS_ERR_FORBIDDEN); without tokens: the Host is not a loopback name, or the Origin is not the gateway's own." },
  404: { description: 'Unknown or expired (SHADOWS_ERR_NOT_FOUND).' },
  409: { description: 'Conflict: SHADOWS_ERR_STRUCK (nothing stored), SHADOWS_ERR_ALREADY_FINISHED or SHADOWS_ERR_TOO_MANY_STRIKES.' },
  413: { description: 'The body is larger than the limit (SHADOWS_ERR_PAYLOAD_TOO_LARGE).' },
  415: { description: 'The body is not application/json (SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE).' },
  503: {
    description: 'Redis is unreachable or the gateway is shutting down (SHADOWS_ERR_UNAVAILABLE); retry later.',
    headers: { 'Retry-After': { type: 'integer', description: 'Seconds to wait before retrying.', examples: [2] } },
  },
}

/** The error responses a route may give, by status: each the {@link ErrorBody}, described. */
export function errors(...statuses: number[]): Record<number, typeof ErrorRef> {
  return Object.fromEntries(
    statuses.map((status) => {
      const about = ERROR_RESPONSES[status]
      if (!about) throw new Error(`no description of error status ${status}`)
      return [status, Type.Ref(ErrorBody, { description: about.description, ...(about.headers ? { headers: about.headers } : {}) })]
    }),
  )
}
