/**
 * Request and response schemas of /tasks.
 */
import { Type, type Static } from '@sinclair/typebox'
import { MAX_LIST_LIMIT, MAX_RETRY_ALL, TASK_STATES, type RetryableState, type TaskState } from '../../src/index.js'
import { ErrorCodeSchema, Key, Timestamp, described, literals } from '../../src/gateway/contract.js'

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

/** A task's record, as GET /tasks/{key} and GET /tasks answer it. */
const RecordSchema = Type.Object(
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

/** 200 of GET /tasks/{key}. */
export const TaskRecord = described(RecordSchema, "The task's record: as soon as it is finished, or when the wait ends, with wait.")

/** 200 of DELETE /tasks/{key}. */
export const Cancelled = Type.Object(
  { key: Key, state: Type.Literal('cancelled') },
  { additionalProperties: false, 'x-response-description': 'Cancelled (also when it already was).' },
)

/** The path parameter of /tasks/{key}. */
export const KeyParams = Type.Object({ key: Key })

/**
 * A string of one of `values`, as one `enum` (a query value is a string; ajv's error names the
 * allowed values).
 */
function oneOf<T extends string>(values: readonly T[], description: string) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], description })
}

/** Digits: a count in a query string (the gateway does not coerce query values; ranges are checked by the handler). */
const Digits = (description: string, example: string) => Type.String({ pattern: '^[0-9]+$', description, examples: [example] })

/** Longest wait of GET /tasks/{key}?wait=, in ms. */
export const MAX_GET_WAIT = 60_000

/** The query of GET /tasks/{key}. */
export const GetQuery = Type.Object({
  wait: Type.Optional(
    Digits(
      `Wait up to this many ms (at most ${MAX_GET_WAIT}) for the task to finish: the record comes as soon as it is finished, or when the wait ends.`,
      '30000',
    ),
  ),
})

/** The query of GET /tasks. */
export const ListQuery = Type.Object({
  state: oneOf<TaskState>(TASK_STATES, 'The state of the tasks to list.'),
  task: Type.Optional(Type.String({ description: 'Only tasks of this name.' })),
  limit: Type.Optional(Digits(`Most tasks on the page: 1-${MAX_LIST_LIMIT} (default 100).`, '100')),
  cursor: Type.Optional(Type.String({ description: 'The next of the page before, unchanged; absent for the first page.' })),
})

/** 200 of GET /tasks. */
export const TaskPage = Type.Object(
  {
    tasks: Type.Array(RecordSchema, {
      description: 'Records as GET /tasks/{key} answers them: finished states newest first, scheduled by due time, queued and running oldest first.',
    }),
    next: Type.Optional(Type.String({ description: 'An opaque cursor: pass it as cursor for the following page. Absent when nothing follows.' })),
  },
  { additionalProperties: false, 'x-response-description': 'One page of the tasks in the state.' },
)

/** 202 of POST /tasks/{key}/retry. */
export const Retried = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: Type.Literal('queued') },
  {
    additionalProperties: false,
    'x-response-description': 'Queued again: the same key and params, attempts counted afresh.',
    headers: { Location: { type: 'string', description: 'The task: /tasks/{key}.', examples: ['/tasks/order-42'] } },
  },
)

/** Body of POST /tasks/retry. */
export const RetryAllBody = Type.Object(
  {
    state: oneOf<RetryableState>(['failed', 'cancelled', 'struck'], 'The finished state of the tasks to run again.'),
    task: Type.Optional(Type.String({ description: 'Only tasks of this name.' })),
    finishedAfter: Type.Optional(
      Type.String({ description: 'Only tasks that finished at or after this time: RFC 3339 with an offset.', examples: ['2026-11-28T10:00:00Z'] }),
    ),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_RETRY_ALL, description: `Most tasks to look at, newest first (default and at most ${MAX_RETRY_ALL}).` }),
    ),
  },
  { additionalProperties: false },
)

/** 200 of POST /tasks/retry. */
export const RetryCounts = Type.Object(
  {
    retried: Type.Integer({ description: 'Tasks queued again.' }),
    skipped: Type.Integer({ description: 'Tasks left as they were: a strike matches them, or their key was taken meanwhile.' }),
  },
  { additionalProperties: false, 'x-response-description': 'What was retried and what was skipped.' },
)
