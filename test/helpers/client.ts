/**
 * Helpers for the tests of shadows/client and of the examples: a gateway listening on a loopback
 * port, on its own shadow name (on teardown: the no-leak check, closed, keys removed), and a worker
 * that runs what is queued.
 */
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { Shadow, type AnyTask } from '../../src/index.js'
import { buildApp, type AppOptions } from '../../src/gateway/app.js'
import { listen } from '../../src/gateway/server.js'
import { TEST_URL, adminRedis, leakedKeys, makeWorker, shadowKeysIn, testLogger, uniqueName } from './shadow.js'
import { TASKS } from './gateway.js'

/** A listening gateway. */
export interface Served {
  readonly app: FastifyInstance
  /** The shadow's name. */
  readonly name: string
  /** `http://127.0.0.1:PORT`. */
  readonly baseUrl: string
}

/**
 * Builds an app on a new shadow name (or `options.name`), lets `prepare` add hooks before it is
 * ready, and listens on 127.0.0.1 on a free port. On teardown: the no-leak check, the app closed
 * (unless a test closed it), then every key of the shadow deleted.
 */
export async function serve(t: Test, options: Partial<AppOptions> = {}, prepare?: (app: FastifyInstance) => void): Promise<Served> {
  const name = options.name ?? uniqueName('client')
  const app = await buildApp({ tasks: TASKS, url: TEST_URL, logger: testLogger, ...options, name })
  t.teardown(async () => {
    try {
      if (options.url === undefined) {
        const leaked = await leakedKeys(name)
        if (leaked.length > 0) t.fail(`finished task records left without a TTL: ${leaked.join(', ')}`)
      }
    } finally {
      // fetch's connection pool may leave a connection open that never carried a request (it
      // opened it for a request that then went to a connection freed meanwhile); the server counts
      // it as busy, not idle, and close() would wait for its connectionTimeout (60 s)
      app.server.closeAllConnections()
      await app.close()
      if (options.url === undefined) {
        const keys = await shadowKeysIn(name)
        if (keys.length > 0) await adminRedis().del(...keys)
      }
    }
  })
  prepare?.(app)
  const baseUrl = await listen(app, { host: '127.0.0.1', port: 0, authenticated: options.tokens !== undefined })
  return { app, name, baseUrl }
}

/** Runs every task of the shadow `name` until nothing is queued, scheduled or running. */
export async function runAll(t: Test, name: string, tasks: readonly AnyTask[] = TASKS): Promise<void> {
  const shadow = new Shadow({ name, url: TEST_URL, logger: testLogger })
  t.teardown(() => shadow.close())
  const worker = makeWorker(t, shadow, tasks)
  await worker.runUntilFinished()
  await worker.close()
}
