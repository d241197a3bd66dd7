/**
 * Request and response schemas of /tasks.
 */
import { Type, type Static } from '@sinclair/typebox'
import { TASK_STATES } from '../../src/index.js'
import { ErrorCodeSchema, Key, Timestamp, literals } from '../../src/gateway/contract.js'

/** The states in which a key is taken. */
export const LiveStateSchema = literals(['scheduled', 'queued', 'running'] as const)
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
