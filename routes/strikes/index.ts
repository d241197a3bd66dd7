/**
 * /strikes: list, add and restore strike rules (scope `ops` to change them).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { StrikeInput } from '../../src/index.js'
import { described, errors, inRequestTrace } from '../../src/gateway/contract.js'
import { IdParams, StrikeBody, StrikeInputBody, StrikeList } from './schemas.js'

/** GET and POST /strikes, DELETE /strikes/{id}. */
export const strikeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { shadow } = app

  app.get(
    '/strikes',
    {
      config: { scope: 'read' },
      schema: { operationId: 'listStrikes', summary: 'The strike rules in force', tags: ['strikes'], response: { 200: StrikeList, ...errors(401, 403, 503) } },
    },
    async () => ({ strikes: await shadow.strikes() }),
  )

  app.post(
    '/strikes',
    {
      config: { scope: 'ops' },
      schema: {
        operationId: 'addStrike',
        summary: 'Strike a task, a parameter value, or both',
        tags: ['strikes'],
        body: StrikeInputBody,
        response: {
          201: described(StrikeBody, 'Created: the new strike with its id.'),
          200: described(StrikeBody, 'The same strike already existed: that strike.'),
          ...errors(400, 401, 403, 409, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const { strike, created } = await inRequestTrace(request, () => shadow.strike(request.body as StrikeInput))
      return reply.code(created ? 201 : 200).send(strike)
    },
  )

  app.delete(
    '/strikes/:id',
    {
      config: { scope: 'ops' },
      schema: {
        operationId: 'restoreStrike',
        summary: 'Restore: remove a strike rule (skipped tasks stay skipped)',
        tags: ['strikes'],
        params: IdParams,
        response: { 200: described(StrikeBody, 'Restored: the removed strike.'), ...errors(400, 401, 403, 404, 413, 415, 503) },
      },
    },
    async (request) => inRequestTrace(request, () => shadow.restore(request.params.id)),
  )
}
