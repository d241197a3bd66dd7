/**
 * /snapshot and /workers: what is scheduled, queued and running, and who runs it.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors } from '../../src/gateway/contract.js'
import { SnapshotBody, WorkerList } from './schemas.js'

/** GET /snapshot and GET /workers. */
export const inspectRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { shadow } = app

  app.get(
    '/snapshot',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getSnapshot',
        summary: 'Counts and lists of scheduled, queued and running tasks',
        tags: ['inspect'],
        response: { 200: SnapshotBody, ...errors(401, 403, 503) },
      },
    },
    async () => {
      const s = await shadow.snapshot()
      return {
        takenAt: s.takenAt.toISOString(),
        counts: s.counts,
        byTask: s.byTask,
        running: s.running.map((r) => ({ key: r.key, task: r.task, worker: r.worker, ...(r.startedAt ? { startedAt: r.startedAt.toISOString() } : {}) })),
        scheduled: s.scheduled.map((e) => ({ ...e, when: e.when.toISOString() })),
        waiting: s.waiting.map((g) => ({ ...g, keys: [...g.keys] })),
      }
    },
  )

  app.get(
    '/workers',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listWorkers',
        summary: 'Live workers, from their heartbeats',
        tags: ['inspect'],
        response: { 200: WorkerList, ...errors(401, 403, 503) },
      },
    },
    async () => ({ workers: (await shadow.workers()).map((w) => ({ ...w, tasks: [...w.tasks], lastSeen: w.lastSeen.toISOString() })) }),
  )
}
