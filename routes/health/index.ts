/**
 * /health/live, /health/ready and /metrics.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ShadowsError } from '../../src/core/errors.js'
import { Health, errors } from '../../src/gateway/contract.js'

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { shadow, metrics } = app

  app.get(
    '/health/live',
    { config: { scope: 'public' }, schema: { summary: 'The process is up', tags: ['health'], security: [], response: { 200: Health } } },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/health/ready',
    {
      config: { scope: 'public' },
      schema: { summary: 'Redis answers', tags: ['health'], security: [], response: { 200: Health, ...errors(503) } },
    },
    async () => {
      try {
        await shadow.redis.ping()
      } catch {
        throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'Redis is unreachable; retry later')
      }
      return { status: 'ok' as const }
    },
  )

  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
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
