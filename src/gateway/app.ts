/**
 * buildApp(): the HTTP gateway as a Fastify instance with the TypeBox type provider. It never
 * listens; server.ts does.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Logger } from 'pino'
import { routes } from '../../routes/index.js'
import { Shadow, shadowContext, type ShadowOptions } from '../client/shadow.js'
import { ShadowsError } from '../core/errors.js'
import type { AnyTask } from '../core/task.js'
import { authPlugin, parseTokens } from './auth.js'
import { bodyPlugin } from './body.js'
import { DEFAULT_EVENTS_CLIENT_BUFFER, DEFAULT_EVENTS_KEEP_ALIVE, EventStreams } from './event-streams.js'
import { answerClientError, classify, errorRepliesPlugin, sendError } from './error-replies.js'
import { lifecyclePlugin } from './lifecycle.js'
import { gatewayLogger } from './logging.js'
import { Metrics, metricsPlugin } from './metrics.js'

/** Default largest request body: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024

/**
 * Default socket timeouts, in ms. Without a request timeout (Fastify's default) a client that
 * sends headers and then dribbles its body a byte at a time holds a connection forever.
 */
export const DEFAULT_TIMEOUTS = Object.freeze({
  /** The whole request, headers and body, must arrive within this. */
  requestTimeout: 30_000,
  /** A socket with no traffic at all for this long is closed. */
  connectionTimeout: 60_000,
  /** An idle keep-alive connection is closed after this (Fastify's default: above a load balancer's 60 s). */
  keepAliveTimeout: 72_000,
})

/** Longest pause between two sweeps for expired requests (Node's default is 30 s). */
const MAX_TIMEOUT_CHECK_INTERVAL = 30_000

/** Node's own limit on the arrival of the headers, kept when the request timeout is off. */
const NODE_HEADERS_TIMEOUT = 60_000

/**
 * Longest path parameter the router accepts. Task keys may be 200 chars (Fastify's default of 100
 * would turn valid keys into 414s); longer ones reach the handler and get a clear 400.
 */
const MAX_PARAM_LENGTH = 1000

/**
 * Options of {@link buildApp}: those of the gateway's {@link Shadow} (an existing `redis` is left
 * open on close; give the workers the same `executionTtl`, `historyLimit` and `eventsLimit`), and
 * the gateway's own.
 */
export interface AppOptions extends Pick<ShadowOptions, 'name' | 'url' | 'redis' | 'executionTtl' | 'historyLimit' | 'eventsLimit'> {
  /** The tasks the gateway accepts (the same tasks module as the workers). */
  readonly tasks: readonly AnyTask[]
  /** `token:scope,scope;token2:scope`; none = no authentication (loopback only, see server.ts). */
  readonly tokens?: string
  /** Largest request body in bytes (default 1 MiB). */
  readonly bodyLimit?: number
  /** pino logger for requests and the client (default: silent). */
  readonly logger?: Logger
  /** How long to wait for Redis at start-up before serving anyway (503s until it answers), ms. */
  readonly connectTimeout?: number
  /** The whole request (headers and body) must arrive within this many ms (default 30 000; 0 = no limit). */
  readonly requestTimeout?: number
  /** A connection with no traffic for this many ms is closed (default 60 000; 0 = never). */
  readonly connectionTimeout?: number
  /** An idle keep-alive connection is closed after this many ms (default 72 000). */
  readonly keepAliveTimeout?: number
  /** Most connections open at once; a connection past it is closed at once (default 1024). */
  readonly maxConnections?: number
  /** Time between two keep-alive comments on a `GET /events` stream, in ms (default 15 000). */
  readonly eventsKeepAlive?: number
  /**
   * Most bytes that may wait to be sent to one `GET /events` client (default 1 MiB); a client that
   * reads slower is sent a `dropped` event and closed.
   */
  readonly eventsClientBuffer?: number
}

/**
 * Default bound on open connections. Each costs a socket and its buffers; without a bound a client
 * can hold thousands of idle ones until the connection timeout closes them.
 */
export const DEFAULT_MAX_CONNECTIONS = 1024

/** A non-negative integer option, or its default; throws `SHADOWS_ERR_VALIDATION` otherwise. */
function milliseconds(options: AppOptions, field: keyof typeof DEFAULT_TIMEOUTS): number {
  const value = options[field] ?? DEFAULT_TIMEOUTS[field]
  if (!Number.isInteger(value) || value < 0) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${field} must be a non-negative integer (ms)`)
  return value
}

/** Builds the gateway. Call `await app.ready()` (or `listen`) before use; `app.close()` releases Redis. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const tokens = parseTokens(options.tokens)
  const logger = options.logger ? gatewayLogger(options.logger) : undefined
  const requestTimeout = milliseconds(options, 'requestTimeout')
  const app = Fastify({
    ...(logger ? { loggerInstance: logger as unknown as FastifyBaseLogger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    requestTimeout,
    connectionTimeout: milliseconds(options, 'connectionTimeout'),
    keepAliveTimeout: milliseconds(options, 'keepAliveTimeout'),
    // Node sweeps for expired requests only every 30 s by default, which would let a slow client
    // outlive a short request timeout many times over; headers count towards the request
    http: {
      requestTimeout,
      headersTimeout: requestTimeout > 0 ? requestTimeout : NODE_HEADERS_TIMEOUT,
      connectionsCheckingInterval:
        requestTimeout > 0 ? Math.min(Math.max(Math.floor(requestTimeout / 4), 100), MAX_TIMEOUT_CHECK_INTERVAL) : MAX_TIMEOUT_CHECK_INTERVAL,
    },
    // what Node's HTTP parser refuses (bad bytes in a path or header, a request timeout) is
    // answered on the raw socket: in the one error shape too
    clientErrorHandler: answerClientError,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // answered in our error shape by the lifecycle plugin instead
    return503OnClosing: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // a bad escape or an overlong parameter in the path: the router answers before any hook runs
    frameworkErrors: (err, _request, reply) => {
      const { code, message, status } = classify(err)
      void sendError(reply, code, message, status)
    },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'maxConnections must be a positive integer')
  // Node closes a connection accepted past this count before it reads a byte
  app.server.maxConnections = maxConnections

  const eventsKeepAlive = options.eventsKeepAlive ?? DEFAULT_EVENTS_KEEP_ALIVE
  if (!Number.isInteger(eventsKeepAlive) || eventsKeepAlive < 1 || eventsKeepAlive > 2 ** 31 - 1) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'eventsKeepAlive must be a positive integer (ms)')
  }
  const eventsClientBuffer = options.eventsClientBuffer ?? DEFAULT_EVENTS_CLIENT_BUFFER
  if (!Number.isInteger(eventsClientBuffer) || eventsClientBuffer < 1) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'eventsClientBuffer must be a positive integer (bytes)')
  }

  const shadow = new Shadow({
    tasks: options.tasks,
    ...(options.name !== undefined ? { name: options.name } : {}),
    ...(options.url !== undefined ? { url: options.url } : {}),
    ...(options.redis !== undefined ? { redis: options.redis } : {}),
    ...(options.executionTtl !== undefined ? { executionTtl: options.executionTtl } : {}),
    ...(options.historyLimit !== undefined ? { historyLimit: options.historyLimit } : {}),
    ...(options.eventsLimit !== undefined ? { eventsLimit: options.eventsLimit } : {}),
    logger: logger ?? pino({ level: 'silent' }),
    // fail fast while Redis is away, so that clients get a 503 instead of a hanging request
    connection: { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'shadows:gateway' },
  })
  const metrics = new Metrics(shadow)
  const { redis } = shadowContext(shadow)
  app.decorate('shadow', shadow)
  app.decorate('metrics', metrics)
  app.decorate('authenticated', tokens.entries.length > 0)
  const pingRedis = async (): Promise<void> => {
    try {
      await redis.ping()
    } catch {
      throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'Redis is unreachable; retry later')
    }
  }
  app.decorate('pingRedis', pingRedis)
  const eventStreams = new EventStreams({ shadow, logger: shadow.logger, ping: pingRedis, keepAlive: eventsKeepAlive, clientBuffer: eventsClientBuffer })
  const shutdown = new AbortController()
  app.decorate('eventStreams', eventStreams)
  app.decorate('shutdownSignal', shutdown.signal)
  // before the server waits for the requests in flight: long waits end now and event streams
  // close, so that close() does not wait for them
  app.addHook('preClose', async () => {
    shutdown.abort()
    eventStreams.close()
  })
  app.addHook('onClose', async () => {
    await shadow.close()
  })

  // hooks run in the order their plugins are registered: a closing gateway refuses before auth
  await app.register(lifecyclePlugin, { redis, connectTimeout: options.connectTimeout ?? 5000 })
  await app.register(authPlugin, { tokens })
  await app.register(bodyPlugin)
  await app.register(metricsPlugin, { metrics })
  await app.register(errorRepliesPlugin)
  await app.register(routes)
  return app
}
