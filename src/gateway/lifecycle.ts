/**
 * The gateway's start and stop: at start it waits a while for Redis (serving anyway once the wait
 * is over, with 503s until Redis answers), and while it closes it answers new requests with a 503
 * in the one error shape instead of Fastify's own.
 */
import fp from 'fastify-plugin'
import type { RedisClient } from '../redis/scripts.js'
import { sendError } from './error-replies.js'

/** Options of {@link lifecyclePlugin}. */
export interface LifecycleOptions {
  /** The connection the gateway serves from. */
  readonly redis: RedisClient
  /** How long to wait for Redis at start-up, in ms. */
  readonly connectTimeout: number
}

/** Waits for Redis at start-up; answers 503 while closing. */
export const lifecyclePlugin = fp<LifecycleOptions>(
  async (app, { redis, connectTimeout }) => {
    app.addHook('onReady', async () => {
      if (redis.status === 'ready') return
      // not events.once(redis, 'ready'): it rejects on the first 'error' (e.g. ECONNREFUSED), and
      // the gateway must start anyway and answer 503 until Redis is reachable
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          redis.off('ready', done)
          resolve()
        }
        const timer = setTimeout(done, connectTimeout)
        timer.unref()
        redis.on('ready', done)
      })
    })

    let closing = false
    app.addHook('preClose', async () => {
      closing = true
    })
    // an answer sent while closing (a wait the shutdown ended, say) closes its connection: a
    // keep-alive connection left idle would hold close() until its keep-alive timeout
    app.addHook('onSend', async (_request, reply) => {
      if (closing) reply.header('connection', 'close')
    })
    app.addHook('onRequest', async (_request, reply) => {
      if (!closing) return undefined
      reply.header('connection', 'close')
      return sendError(reply, 'SHADOWS_ERR_UNAVAILABLE', 'the gateway is shutting down; retry later')
    })
  },
  { name: 'shadows-lifecycle' },
)
