/**
 * buildApp(): the HTTP gateway as a Fastify instance with the TypeBox type provider. It never
 * listens; server.ts does.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { once } from 'node:events'
import { pino, type Logger } from 'pino'
import { Metrics } from '../metrics.js'
import { Shadow } from '../shadow.js'
import type { AnyTask } from '../task.js'
import type { RedisClient } from '../redis/scripts.js'
import { authorize, parseTokens, type Scope } from './auth.js'
import { installErrorHandlers, sendError } from './errors.js'
import { ErrorBody } from './schemas.js'
import { healthRoutes } from './routes/health.js'
import { inspectRoutes } from './routes/inspect.js'
import { strikeRoutes } from './routes/strikes.js'
import { taskRoutes } from './routes/tasks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway's client to the shadow. */
    shadow: Shadow
    metrics: Metrics
  }
  interface FastifyContextConfig {
    /** The token scope a route needs. */
    scope?: Scope
  }
}

/** Default largest request body: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

/** Options of {@link buildApp}. */
export interface AppOptions {
  /** The tasks the gateway accepts (the same tasks module as the workers). */
  readonly tasks: readonly AnyTask[]
  /** Shadow name (default `shadows`). */
  readonly name?: string
  /** Redis URL (default `redis://127.0.0.1:6379/0`). */
  readonly url?: string
  /** An existing connection; the app leaves it open on close. */
  readonly redis?: RedisClient
  readonly executionTtl?: number
  /** `token:scope,scope;token2:scope`; none = no authentication (loopback only, see server.ts). */
  readonly tokens?: string
  /** Largest request body in bytes (default 1 MiB). */
  readonly bodyLimit?: number
  /** pino logger for requests and the client (default: silent). */
  readonly logger?: Logger
  /** How long to wait for Redis at start-up before serving anyway (503s until it answers), ms. */
  readonly connectTimeout?: number
}

/** The package version, shown in the API docs. */
export const API_VERSION = '1.0.0'

/** Builds the gateway. Call `await app.ready()` (or `listen`) before use; `app.close()` releases Redis. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const tokens = parseTokens(options.tokens)
  const logger = options.logger
  const app = Fastify({
    ...(logger ? { loggerInstance: logger as unknown as FastifyBaseLogger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  // JSON only: any other body type is refused with 415
  app.removeContentTypeParser('text/plain')

  const shadow = new Shadow({
    tasks: options.tasks,
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.url !== undefined ? { url: options.url } : {}),
    ...(options.redis !== undefined ? { redis: options.redis } : {}),
    ...(options.executionTtl !== undefined ? { executionTtl: options.executionTtl } : {}),
    logger: logger ?? pino({ level: 'silent' }),
    // fail fast while Redis is away, so that clients get a 503 instead of a hanging request
    connection: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'shadows:gateway' },
  })
  const metrics = new Metrics(shadow)
  app.decorate('shadow', shadow)
  app.decorate('metrics', metrics)
  app.addHook('onClose', async () => {
    await shadow.close()
  })

  const connectTimeout = options.connectTimeout ?? 5000
  app.addHook('onReady', async () => {
    const redis = shadow.redis
    if (redis.status === 'ready') return
    await Promise.race([once(redis, 'ready'), new Promise((resolve) => setTimeout(resolve, connectTimeout).unref())])
  })

  app.addHook('onRequest', async (request, reply) => {
    const needed = request.routeOptions.config?.scope ?? 'public'
    const verdict = authorize(tokens, request.headers.authorization, needed)
    if (verdict === 'unauthorized') {
      reply.header('www-authenticate', 'Bearer')
      return sendError(reply, 'SHADOWS_ERR_UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>)')
    }
    if (verdict === 'forbidden') return sendError(reply, 'SHADOWS_ERR_FORBIDDEN', `this token lacks the ${needed} scope`)
    return undefined
  })

  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }
    metrics.httpRequests.inc(labels)
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
  })

  installErrorHandlers(app)
  app.addSchema(ErrorBody)

  await app.register(swagger, {
    // name shared schemas by their $id in components/schemas
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'shadows',
        version: API_VERSION,
        description: 'Add, schedule, replace, cancel and inspect background tasks; strike and restore. Errors share one shape.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'tasks', description: 'Add, schedule, replace, cancel and read tasks (scope enqueue; reads: read).' },
        { name: 'strikes', description: 'Skip tasks or parameter values (scope ops).' },
        { name: 'inspect', description: 'Snapshot and workers (scope read).' },
        { name: 'health', description: 'Liveness, readiness (public) and metrics (scope read).' },
      ],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } })
  app.get('/openapi.json', { config: { scope: 'public' }, schema: { hide: true } }, async () => app.swagger())

  await app.register(taskRoutes)
  await app.register(strikeRoutes)
  await app.register(inspectRoutes)
  await app.register(healthRoutes)
  return app
}
