/**
 * Redis away: the gateway answers 503 SHADOWS_ERR_UNAVAILABLE with Retry-After (liveness stays
 * 200), and recovers by itself when Redis is back. Also: a request that arrives while the gateway
 * shuts down gets a 503 in the one error shape.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { buildApp } from '../../src/gateway/app.js'
import { listen } from '../../src/gateway/server.js'
import { freePort, pingRedis, startRedisServer } from '../../src/cli/private-redis.js'
import { TEST_URL, adminRedis, closeAdmin, shadowKeysIn, testLogger, uniqueName, waitFor } from '../helpers/shadow.js'
import { TASKS, assertError, json, type Answer } from '../helpers/gateway.js'

t.teardown(closeAdmin)

/** Every API route, with a request that would succeed if Redis answered. */
const API: readonly InjectOptions[] = [
  { method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'x' } } },
  { method: 'POST', url: '/tasks/batch', payload: { tasks: [{ task: 'greet', params: { name: 'x' } }] } },
  { method: 'GET', url: '/tasks/x' },
  { method: 'PUT', url: '/tasks/x', payload: { task: 'greet', params: { name: 'x' } } },
  { method: 'DELETE', url: '/tasks/x' },
  { method: 'GET', url: '/snapshot' },
  { method: 'GET', url: '/strikes' },
  { method: 'POST', url: '/strikes', payload: { task: 'greet' } },
  { method: 'DELETE', url: '/strikes/abc' },
  { method: 'GET', url: '/workers' },
  { method: 'GET', url: '/tasks?state=failed' },
  { method: 'GET', url: '/tasks/x?wait=1000' },
  { method: 'POST', url: '/tasks/x/retry' },
  { method: 'POST', url: '/tasks/retry', payload: { state: 'failed' } },
  { method: 'GET', url: '/events' },
  { method: 'GET', url: '/events?type=failed', headers: { 'last-event-id': '0-0' } },
  { method: 'GET', url: '/health/ready' },
]

/** Asserts that every API route answers 503 UNAVAILABLE with Retry-After, and liveness 200. */
async function assertUnavailable(t: Test, app: FastifyInstance): Promise<void> {
  for (const request of API) {
    const what = `${request.method} ${request.url} with Redis away`
    const res = await app.inject(request)
    assertError(t, res, 503, 'SHADOWS_ERR_UNAVAILABLE', what)
    t.match(res.headers['retry-after'], /^[1-9]\d*$/, `${what}: Retry-After in seconds`)
  }
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200, '/health/live stays 200')
  const metrics = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200, '/metrics still answers')
  t.match(metrics.body, /shadows_http_requests_total\{[^}]*status_code="503"\}/, 'and counts the 503s')
}

/** Starts redis-server on `port` (the port a killed one used); resolves once it answers. */
async function restartRedis(t: Test, port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = once(child, 'exit')
      child.kill('SIGKILL')
      await gone
    }
  })
  await waitFor(() => pingRedis('127.0.0.1', port), 10_000, `redis-server back on port ${port}`)
  return child
}

t.test('Redis killed: 503 + Retry-After on every API route, live 200; Redis back: 202 and ready 200', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const app = await buildApp({ tasks: TASKS, url: redis.url, name: uniqueName('gw'), logger: testLogger })
  t.teardown(() => app.close())
  await app.ready()

  const before = await app.inject(API[0] as InjectOptions)
  t.equal(before.statusCode, 202, 'accepted while Redis is up')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200)

  const exited = once(redis.process, 'exit')
  redis.process.kill('SIGKILL')
  await exited
  await assertUnavailable(t, app)
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the app stays up')

  await restartRedis(t, redis.port, redis.dir)
  await waitFor(async () => (await app.inject(API[0] as InjectOptions)).statusCode === 202, 10_000, 'POST /tasks accepted again')
  const after = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', key: 'after', params: { name: 'y' } } })
  t.equal(after.statusCode, 202, 'POST /tasks is 202 again')
  t.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, '/health/ready is 200 again')
  t.equal(json(await app.inject({ method: 'GET', url: '/tasks/after' })).state, 'queued', 'and reads work')
})

t.test('Redis unreachable from the start: the app still starts and answers 503', async (t) => {
  const port = await freePort()
  const app = await buildApp({ tasks: TASKS, url: `redis://127.0.0.1:${port}`, name: uniqueName('gw'), logger: testLogger, connectTimeout: 100 })
  t.teardown(() => app.close())
  await app.ready()
  await assertUnavailable(t, app)
})

t.test('a request arriving while the gateway shuts down gets a 503 in the one error shape', async (t) => {
  const name = uniqueName('gw')
  const app = await buildApp({ tasks: TASKS, url: TEST_URL, name, logger: testLogger })
  t.teardown(async () => {
    await app.close()
    const keys = await shadowKeysIn(name)
    if (keys.length > 0) await adminRedis().del(...keys)
  })
  // runs after the app's own preClose hook, while the server still accepts connections: a
  // request sent now is one that arrives during the shutdown
  let late: Answer | undefined
  app.addHook('preClose', async () => {
    const res = await fetch(`${address}/snapshot`)
    late = { statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
  })
  const address = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  t.equal((await fetch(`${address}/health/live`)).status, 200, 'serving before close()')
  await app.close()
  if (!late) {
    t.fail('the late request was not answered')
    return
  }
  assertError(t, late, 503, 'SHADOWS_ERR_UNAVAILABLE', 'a request during shutdown')
  t.match(late.headers['retry-after'], /^\d+$/, 'with Retry-After')
  t.equal(late.headers.connection, 'close', 'and Connection: close')
})
