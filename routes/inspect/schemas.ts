/**
 * Response schemas of /snapshot and /workers.
 */
import { Type } from '@sinclair/typebox'
import { Key, Timestamp } from '../../src/gateway/contract.js'

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
    waiting: Type.Array(
      Type.Object(
        {
          task: Type.String(),
          value: Type.Optional(Type.String({ description: 'The value of the parameter the limit is by, when it is by one.' })),
          count: Type.Integer(),
          keys: Type.Array(Key, { description: 'The first 10, oldest first.' }),
        },
        { additionalProperties: false },
      ),
      { description: 'The first 100 concurrency groups with tasks waiting for a slot; those tasks are queued, counted in counts.queued.' },
    ),
  },
  { additionalProperties: false, 'x-response-description': 'What is scheduled, queued and running now.' },
)

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
