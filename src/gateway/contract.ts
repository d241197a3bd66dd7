/**
 * The gateway's contract with its routes: what every route plugin may use besides the public API.
 * The app's decorations (the shadow, metrics, a Redis ping) and the scope a route needs, the one
 * error shape and the error responses routes declare, the shared field schemas (key, timestamp).
 * The routes' own request and response schemas live beside them, in routes/; openapi.yaml is
 * generated from all of them.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import type { Shadow } from '../client/shadow.js'
import { ERROR_CODES, type ErrorCode } from '../core/errors.js'
import type { EventStreams } from './event-streams.js'
import type { Metrics } from './metrics.js'

export { assertValidKey } from '../core/validation.js'
export { allowIdle } from './sockets.js'
export { inRequestTrace } from './tracing.js'

/** What a route needs: a token scope, or nothing (`public`). */
export type Scope = 'enqueue' | 'read' | 'ops' | 'public'

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway's client to the shadow. */
    shadow: Shadow
    /** This process's metrics; routes count what they accept. */
    metrics: Metrics
    /** Resolves when Redis answers a PING; rejects with SHADOWS_ERR_UNAVAILABLE otherwise. */
    pingRedis(): Promise<void>
    /** Whether bearer tokens are configured (without them, listen only on loopback). */
    authenticated: boolean
    /** The `GET /events` streams of this gateway, all fed by one reader of the events log. */
    eventStreams: EventStreams
    /** Fires when the gateway starts closing: long requests (waits) end then, rather than hold up the close. */
    shutdownSignal: AbortSignal
  }
  interface FastifyContextConfig {
    /** The token scope a route needs; a route that names none needs ops. */
    scope?: Scope
  }
}

/** Where the browsable API is served; its own pages and assets are public. */
export const DOCS_PATH = '/docs'

/** A union of string literals, one per value. */
export const literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)))

/**
 * The error codes as one `enum` (a union of literals would show in openapi.yaml as an `anyOf` of
 * one-value enums). Only in responses, which are serialized, never validated.
 */
export const ErrorCodeSchema = Type.Unsafe<ErrorCode>({ type: 'string', enum: [...ERROR_CODES], description: 'A stable error code; see the README.' })

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

/** `schema` with the description its response gets in the API docs. */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, 'x-response-description': description }
}

/** A reference to {@link ErrorBody}, registered once with `app.addSchema`. */
export const ErrorRef = Type.Ref(ErrorBody)

/** What each error status means, for the API docs. */
const ERROR_RESPONSES: Readonly<Record<number, { description: string; headers?: Record<string, unknown> }>> = {
  400: { description: 'Bad request: SHADOWS_ERR_VALIDATION, SHADOWS_ERR_UNKNOWN_TASK, SHADOWS_ERR_INVALID_PARAMS or SHADOWS_ERR_MALFORMED_JSON.' },
  401: {
    description: 'No valid bearer token (SHADOWS_ERR_UNAUTHORIZED).',
    headers: { 'WWW-Authenticate': { type: 'string', description: 'Bearer', examples: ['Bearer'] } },
  },
  403: {
    description: "The token lacks the scope (SHADOWS_ERR_FORBIDDEN); without tokens: the Host is not a loopback name, or the Origin is not the gateway's own.",
  },
  404: { description: 'Unknown or expired (SHADOWS_ERR_NOT_FOUND).' },
  409: {
    description:
      'Conflict: SHADOWS_ERR_STRUCK (nothing stored), SHADOWS_ERR_ALREADY_FINISHED, SHADOWS_ERR_NOT_FINISHED (only a finished task can be retried) or SHADOWS_ERR_TOO_MANY_STRIKES.',
  },
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
