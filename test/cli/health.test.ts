/**
 * `shadows worker --health-port`: /health/live is 200 while the process runs; /health/ready is 200
 * while Redis answers and the read loop is alive, 503 while Redis is away (a private redis-server
 * this test kills and starts again), and 200 again once it is back.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { freePort, pingRedis, startRedisServer } from '../../src/cli/private-redis.js'
import { closeAdmin, waitFor } from '../helpers/shadow.js'
import { cliSession, fetchJson, logLines, runFails, TASKS_FIXTURE, type CliProcess, type CliSession } from '../helpers/cli.js'

t.teardown(closeAdmin)

const HEALTH_LOG = 'health served on /health/live and /health/ready'

/** Starts `worker --health-port 0 …`; resolves with the process and the base URL it serves health on. */
async function startWorker(cli: CliSession, extra: readonly string[], env: Record<string, string> = {}): Promise<{ worker: CliProcess; base: string }> {
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, ...extra], env)
  await worker.waitForOutput(HEALTH_LOG)
  const line = logLines(worker.stdout()).find((entry) => entry.msg === HEALTH_LOG)
  const address = line?.address as { address: string; port: number } | undefined
  if (!address) throw new Error(`no address in ${JSON.stringify(line)}`)
  return { worker, base: `http://${address.address}:${address.port}` }
}

/** Waits until GET {base}/health/ready answers `status`; returns the body. */
async function waitForReady(base: string, status: number, what: string): Promise<Record<string, unknown>> {
  let body: Record<string, unknown> = {}
  await waitFor(
    async () => {
      const reply = await fetchJson(`${base}/health/ready`)
      body = reply.body
      return reply.status === status
    },
    30_000,
    what,
  )
  return body
}

/** Starts redis-server again on `port` (where a killed one listened); killed on teardown. */
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

t.test('SHADOWS_HEALTH_PORT and SHADOWS_HEALTH_HOST: live 200, ready 200 with what it checked; closed on exit', async (t) => {
  const cli = cliSession(t)
  const port = await freePort()
  const { worker, base } = await startWorker(cli, [], { SHADOWS_HEALTH_PORT: String(port), SHADOWS_HEALTH_HOST: '127.0.0.1' })
  t.equal(base, `http://127.0.0.1:${port}`, 'listens on the port and address of the variables')
  await worker.waitForOutput('worker started')

  const live = await fetchJson(`${base}/health/live`)
  t.same(live, { status: 200, body: { status: 'ok' } }, '/health/live is 200')
  const ready = await waitForReady(base, 200, 'the worker to be ready')
  t.same(ready, { status: 'ok', redis: true, readLoop: true }, '/health/ready is 200 with redis and readLoop true')
  const response = await fetch(`${base}/health/ready`)
  t.match(response.headers.get('content-type'), /^application\/json/, 'JSON')
  t.equal(response.headers.get('cache-control'), 'no-store', 'never cached')
  await response.body?.cancel()
  t.equal((await fetchJson(`${base}/health`)).status, 404, 'other paths are 404')
  t.equal((await fetchJson(`${base}/health/ready`, { method: 'POST' })).status, 405, 'other methods are 405')

  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null }, 'the worker exits 0 on SIGTERM')
  await t.rejects(fetch(`${base}/health/live`), 'the health port is closed on exit')
  t.equal(worker.stderr(), '', 'nothing on stderr')
})

t.test('Redis away: ready 503 while live stays 200; Redis back: ready 200 again', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const cli = cliSession(t)
  const { worker, base } = await startWorker(cli, ['--health-port', '0'], { SHADOWS_URL: redis.url })
  await worker.waitForOutput('worker started')
  t.same(await waitForReady(base, 200, 'the worker to be ready'), { status: 'ok', redis: true, readLoop: true }, 'ready while Redis answers')

  const exited = once(redis.process, 'exit')
  redis.process.kill('SIGKILL')
  await exited
  const away = await waitForReady(base, 503, 'readiness to notice Redis is away')
  t.match(away, { status: 'unavailable', redis: false }, '/health/ready is 503 unavailable, redis false')
  t.same(await fetchJson(`${base}/health/live`), { status: 200, body: { status: 'ok' } }, '/health/live stays 200')

  await restartRedis(t, redis.port, redis.dir)
  t.same(await waitForReady(base, 200, 'the worker to be ready again'), { status: 'ok', redis: true, readLoop: true }, 'ready again once Redis is back')

  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null }, 'the worker exits 0 on SIGTERM')
})

t.test('a worker waiting for Redis at start-up is live and not ready', async (t) => {
  const cli = cliSession(t)
  const nowhere = `redis://127.0.0.1:${await freePort()}`
  const { worker, base } = await startWorker(cli, ['--health-port', '0'], { SHADOWS_URL: nowhere })
  t.equal((await fetchJson(`${base}/health/live`)).status, 200, '/health/live is 200')
  t.same(await fetchJson(`${base}/health/ready`), { status: 503, body: { status: 'unavailable', redis: false, readLoop: false } }, '/health/ready is 503')
  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null }, 'SIGTERM still stops it at once')
})

t.test('a bad --health-port exits 2 with one line naming the flag', async (t) => {
  const cli = cliSession(t)
  const stderr = await runFails(t, cli, ['worker', '--tasks', TASKS_FIXTURE, '--health-port', '70000'], 2)
  t.match(stderr, /^shadows worker: --health-port must be an integer from 0 to 65535, got "70000"$/m)
})
