/**
 * shadows/client when the gateway answers 503 (its Redis killed): a retry after the answer's
 * Retry-After, by default for reads and writes with a key, not for writes without one; the call
 * succeeds once Redis is back; a wait that would pass the call's timeout is not waited. And no
 * answer at all: SHADOWS_ERR_NETWORK, retried after a backoff.
 */
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import { ShadowsClient, ShadowsError, type RetryInfo } from '../../src/http-client/index.js'
import { freePort, startRedisServer } from '../../src/cli/private-redis.js'
import { RETRY_AFTER_SECONDS } from '../../src/gateway/error-replies.js'
import { uniqueName } from '../helpers/shadow.js'
import { serve } from '../helpers/client.js'

/** A gateway on a private redis-server, which the test may kill and start again on the same port. */
async function gatewayOnPrivateRedis(t: Test) {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  /** When each request arrived (performance.now()), by "METHOD url". */
  const arrivals: { request: string; at: number }[] = []
  const record = (app: FastifyInstance) => {
    app.addHook('onRequest', async (request) => {
      arrivals.push({ request: `${request.method} ${request.url}`, at: performance.now() })
    })
  }
  const { baseUrl } = await serve(t, { url: redis.url, name: uniqueName('client'), connectTimeout: 100 }, record)
  const kill = async () => {
    const exited = once(redis.process, 'exit')
    redis.process.kill('SIGKILL')
    await exited
  }
  const restart = async () => {
    const again = await startRedisServer([], redis.port)
    t.teardown(() => again.stop())
  }
  return { baseUrl, arrivals, kill, restart }
}

/** The rejection of `promise` (fails the test when it resolves). */
async function rejection(t: Test, promise: Promise<unknown>): Promise<ShadowsError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof ShadowsError) return err
    throw err
  }
  t.fail('resolved; a rejection was expected')
  throw new Error('resolved')
}

t.test('a read is retried after Retry-After; the last 503 is thrown when the retries run out', async (t) => {
  const gateway = await gatewayOnPrivateRedis(t)
  await gateway.kill()
  const retries: RetryInfo[] = []
  const client = new ShadowsClient({ baseUrl: gateway.baseUrl, onRetry: (info) => retries.push(info) })
  const error = await rejection(t, client.snapshot({ retries: 1 }))
  t.equal(error.code, 'SHADOWS_ERR_UNAVAILABLE', "the gateway's code")
  t.equal(error.status, 503)
  t.equal(error.retryAfter, RETRY_AFTER_SECONDS * 1000, 'Retry-After, in ms')
  t.same(
    retries.map((r) => [r.method, r.path, r.attempt, r.delay, r.error.code]),
    [['GET', '/snapshot', 1, RETRY_AFTER_SECONDS * 1000, 'SHADOWS_ERR_UNAVAILABLE']],
    'one retry, after the Retry-After the gateway sent',
  )
  const [first, second] = gateway.arrivals.filter((a) => a.request === 'GET /snapshot')
  t.equal(gateway.arrivals.filter((a) => a.request === 'GET /snapshot').length, 2, 'two requests reached the gateway')
  // a lower bound of a sleep, not a measurement: the retry cannot come sooner than the gateway asked
  t.ok(first && second && second.at - first.at >= RETRY_AFTER_SECONDS * 1000 - 5, 'the second came Retry-After after the first')
})

t.test('a write with a key is retried by default, and succeeds once Redis is back', async (t) => {
  const gateway = await gatewayOnPrivateRedis(t)
  await gateway.kill()
  const retries: RetryInfo[] = []
  let restarted: Promise<void> | undefined
  const client = new ShadowsClient({
    baseUrl: gateway.baseUrl,
    retries: 10,
    onRetry: (info) => {
      retries.push(info)
      restarted ??= gateway.restart()
    },
  })
  const added = await client.add({ task: 'greet', params: { name: 'x' }, key: 'keyed' })
  t.match(added, { key: 'keyed', state: 'queued' }, 'stored once Redis answered again')
  t.ok(retries.length >= 1, 'after at least one retry')
  t.ok(
    retries.every((r) => r.delay === RETRY_AFTER_SECONDS * 1000 && r.error.status === 503),
    "each after the 503's Retry-After",
  )
  await restarted
  t.same(await client.cancel('keyed'), { key: 'keyed', state: 'cancelled' })
})

t.test('a write without a key is not retried by default; a call may ask for it', async (t) => {
  const gateway = await gatewayOnPrivateRedis(t)
  await gateway.kill()
  const retries: RetryInfo[] = []
  const client = new ShadowsClient({ baseUrl: gateway.baseUrl, onRetry: (info) => retries.push(info) })
  const count = (request: string) => gateway.arrivals.filter((a) => a.request === request).length

  t.equal((await rejection(t, client.add({ task: 'greet', params: { name: 'x' } }))).status, 503, 'add without a key: the 503 at once')
  t.equal(count('POST /tasks'), 1, 'one request')
  t.equal((await rejection(t, client.addBatch([{ task: 'greet', key: 'a' }, { task: 'greet' }]))).status, 503, 'a batch with an item without a key')
  t.equal(count('POST /tasks/batch'), 1, 'one request')
  t.equal((await rejection(t, client.retryAll({ state: 'failed' }))).status, 503, 'retryAll')
  t.equal(count('POST /tasks/retry'), 1, 'one request')
  t.same(retries, [], 'no retry')

  await rejection(t, client.add({ task: 'greet', params: { name: 'x' } }, { retries: 1 }))
  t.equal(count('POST /tasks'), 3, 'with retries: 1 on the call, one retry')
  t.equal(retries.length, 1)
})

t.test('a Retry-After that would pass the timeout is not waited for: the 503 comes at once', async (t) => {
  const gateway = await gatewayOnPrivateRedis(t)
  await gateway.kill()
  const retries: RetryInfo[] = []
  const client = new ShadowsClient({ baseUrl: gateway.baseUrl, timeout: RETRY_AFTER_SECONDS * 1000 - 500, onRetry: (info) => retries.push(info) })
  const error = await rejection(t, client.workers())
  t.equal(error.code, 'SHADOWS_ERR_UNAVAILABLE', 'the 503, not a timeout')
  t.same(retries, [], 'no retry')
})

t.test('no answer: SHADOWS_ERR_NETWORK, retried after a backoff', async (t) => {
  const port = await freePort()
  const retries: RetryInfo[] = []
  const client = new ShadowsClient({ baseUrl: `http://127.0.0.1:${port}`, retries: 2, onRetry: (info) => retries.push(info) })
  const error = await rejection(t, client.get('x'))
  t.equal(error.code, 'SHADOWS_ERR_NETWORK')
  t.equal(error.status, 0, 'status 0: no answer')
  t.match(error.message, new RegExp(`no answer from http://127.0.0.1:${port}/tasks/x`))
  t.ok(error.cause instanceof TypeError, "fetch's error as the cause")
  t.same(
    retries.map((r) => [r.attempt, r.delay, r.error.code]),
    [
      [1, 500, 'SHADOWS_ERR_NETWORK'],
      [2, 1000, 'SHADOWS_ERR_NETWORK'],
    ],
    'twice, after a doubling backoff',
  )
  const unkeyed: RetryInfo[] = []
  const once = new ShadowsClient({ baseUrl: `http://127.0.0.1:${port}`, onRetry: (info) => unkeyed.push(info) })
  t.equal((await rejection(t, once.add({ task: 'greet' }))).code, 'SHADOWS_ERR_NETWORK')
  t.same(unkeyed, [], 'a write without a key: not retried')
})
