/**
 * Request and response schemas of /tasks.
 */
import { Type, type Static } from '@sinclair/typebox'
import { MAX_ADD_WINDOW, MAX_LIST_LIMIT, MAX_RETRY_ALL, TASK_STATES, type RetryableState, type TaskState } from '../../src/index.js'
import { ErrorCodeSchema, Key, Timestamp, described, literals } from '../../src/gateway/contract.js'

/** The states in which a key is taken. */
export const LiveStateSchema = literals(['scheduled', 'queued', 'running'] as const)
const StateSchema = literals(TASK_STATES)
const Params = Type.Record(Type.String(), Type.Unknown(), { description: 'The task params: one JSON object.' })

const timing = {
  when: Type.Optional(Type.String({ description: 'Due time, RFC 3339 with an offset; absent or past = now. Not with delay.' })),
  delay: Type.Optional(Type.Number({ minimum: 0, description: 'Due in this many milliseconds. Not with when.' })),
  debounce: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_ADD_WINDOW,
      description:
        'Run once, this many ms after the last add of the key, with its params: due at now + debounce; while the key is still scheduled, an add moves it there with its params (200, debounced). Needs a key; not with when, delay or throttle.',
      examples: [5000],
    }),
  ),
  throttle: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_ADD_WINDOW,
      description:
        'Take the key for this many ms after this add stores it: every add of the key within that window is a duplicate, even once its task finished; duplicates do not extend it. Needs a key; not with debounce.',
      examples: [60000],
    }),
  ),
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

/** The state of the task that holds a key; any state within a throttle window (that task may have finished). */
const HeldState = Type.Union(
  TASK_STATES.map((state) => Type.Literal(state)),
  { description: 'The state of the task that holds the key; absent when its record has expired.' },
)

/** 200 of POST /tasks when the key was taken. */
export const Duplicate = Type.Object(
  {
    key: Key,
    task: Type.String(),
    when: Timestamp,
    state: Type.Optional(HeldState),
    duplicate: Type.Literal(true),
    params: Type.Optional(Params),
  },
  { additionalProperties: false },
)

/** 200 of POST /tasks when a debounced add moved the key's scheduled task. */
export const Debounced = Type.Object(
  { key: Key, task: Type.String(), when: Timestamp, state: Type.Literal('scheduled'), debounced: Type.Literal(true) },
  { additionalProperties: false },
)

/** 200 of POST /tasks: the key was taken, or a debounced add moved its scheduled task. */
export const Existing = Type.Union([Duplicate, Debounced], {
  'x-response-description':
    'The key is scheduled, queued or running, or within a throttle window: nothing changed, the task that holds it (duplicate; state and params are absent when its record has expired). Or, with debounce, the key was still scheduled: it was moved to now + debounce with the new params (debounced).',
})

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
          status: Type.Integer({ description: 'The status this item would have had alone: 202, 200 (duplicate or debounced) or an error status.' }),
          key: Type.Optional(Key),
          task: Type.Optional(Type.String()),
          when: Type.Optional(Timestamp),
          state: Type.Optional(StateSchema),
          duplicate: Type.Optional(Type.Boolean()),
          debounced: Type.Optional(Type.Literal(true)),
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
  { key: Key, task: Type.String(), when: Timestamp, state: LiveStateSchema, replaced: Type.Boolean(), debounced: Type.Optional(Type.Literal(true)) },
  {
    additionalProperties: false,
    'x-response-description': 'Replaced atomically (replaced: true), or created (replaced: false); with debounce, debounced when the key was still scheduled.',
  },
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
    error: Type.Optional(
      Type.Object(
        {
          type: Type.String(),
          code: Type.Optional(
            Type.String({ description: 'The stable code of an attempt ended by shadows, e.g. SHADOWS_ERR_TIMEOUT; absent for errors the task threw itself.' }),
          ),
          message: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
    progress: Type.Optional(
      Type.Object({ current: Type.Number(), total: Type.Optional(Type.Number()), message: Type.Optional(Type.String()) }, { additionalProperties: false }),
    ),
    waitingFor: Type.Optional(
      Type.Union([Type.Literal('concurrency'), Type.Literal('rateLimit')], {
        description: 'The limit the task waits for: a concurrency slot (queued), or its place in the rate window (scheduled).',
      }),
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
