/**
 * /health/live, /health/ready and /metrics.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errors } from '../../src/gateway/contract.js'
import { Health } from './schemas.js'

/** GET /health/live, GET /health/ready and GET /metrics. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { metrics } = app

  app.get(
    '/health/live',
    {
      config: { scope: 'public' },
      schema: { operationId: 'checkLiveness', summary: 'The process is up', tags: ['health'], security: [], response: { 200: Health } },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/health/ready',
    {
      config: { scope: 'public' },
      schema: { operationId: 'checkReadiness', summary: 'Redis answers', tags: ['health'], security: [], response: { 200: Health, ...errors(503) } },
    },
    async () => {
      await app.pingRedis()
      return { status: 'ok' as const }
    },
  )

  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        tags: ['health'],
        response: {
          200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: Type.String() } } },
          ...errors(401, 403),
        },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType)
      return metrics.registry.metrics()
    },
  )
}
