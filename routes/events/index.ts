/**
 * /events: the shadow's events, live, as Server-Sent Events; every client of the gateway is fed
 * by one reader of the events log (`app.eventStreams`).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { EVENT_TYPES, ShadowsError, isEventType, type EventType } from '../../src/index.js'
import { errors } from '../../src/gateway/contract.js'
import { EventStream, EventsHeaders, EventsQuery } from './schemas.js'

/** The types of `type=a,b`; `SHADOWS_ERR_VALIDATION` for an unknown one or an empty list. */
function eventTypes(list: string): EventType[] {
  const types = list.split(',').map((type) => type.trim())
  if (!types.every(isEventType)) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `type must be a comma-separated list of ${EVENT_TYPES.join(', ')}`, { field: 'type' })
  }
  return types
}

/** GET /events. */
export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/events',
    {
      config: { scope: 'read' },
      // a HEAD of a stream would either hang or lie: not served
      exposeHeadRoute: false,
      schema: {
        operationId: 'streamEvents',
        summary: 'The events of tasks and strikes, live (Server-Sent Events), resumable with Last-Event-ID',
        tags: ['events'],
        querystring: EventsQuery,
        headers: EventsHeaders,
        response: { 200: EventStream, ...errors(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const { task, key, type } = request.query
      await app.eventStreams.open(request, reply, {
        ...(task !== undefined ? { task } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(type !== undefined ? { types: eventTypes(type) } : {}),
        lastEventId: request.headers['last-event-id'],
      })
    },
  )
}
