/**
 * A Redis that cannot be used — a refused port, a port that accepts and never answers, a TLS URL
 * against a plain-text port, a Redis that went away — never holds a worker's shutdown or a one-shot
 * command hostage: `Worker.close()` resolves, `shadows worker` exits on SIGTERM, `shadows add` fails
 * with a clear line, and a TLS mismatch is named as one. The bounds below are far above the time each
 * should take; they only tell "settles" from "hangs".
 */
import t, { type Test } from 'tap'
import { createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { freePort, startRedisServer } from '../../src/cli/private-redis.js'
import { Shadow, Worker, defineTask } from '../../src/index.js'
import { captureLogs } from '../helpers/engine-workers.js'
import { cliSession, lines, TASKS_FIXTURE, type CliSession } from '../helpers/cli.js'
import { closeAdmin, uniqueName, waitFor } from '../helpers/shadow.js'
import { within } from '../helpers/security.js'
import { shadowContext } from '../../src/client/shadow.js'

// the CLI sessions' teardown looks for leaked keys through the shared admin connection
t.teardown(closeAdmin)

const BOUND = 15_000
const TLS_MISMATCH = 'TLS handshake failed: is this port serving TLS?'

const noop = defineTask({ name: 'noop', async run() {} })

/** A TCP server on a loopback port that accepts connections and never answers: a hung Redis. */
async function silentPort(t: Test): Promise<number> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => undefined)
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  const address = server.address()
  return typeof address === 'object' && address ? address.port : 0
}

/** Runs `shadows ...args`; undefined when it was still running after {@link BOUND}. */
async function runBounded(cli: CliSession, args: readonly string[], env: Record<string, string | undefined> = {}) {
  const p = cli.spawn(args, env)
  const exit = await within(p.exited, BOUND)
  return exit && { ...exit.value, stdout: p.stdout(), stderr: p.stderr() }
}

t.test('shadows worker against a refused port exits on SIGTERM', async (t) => {
  const cli = cliSession(t, 'sec')
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--url', `redis://127.0.0.1:${await freePort()}`])
  await worker.waitForOutput('ECONNREFUSED')
  worker.signal('SIGTERM')
  const exit = await within(worker.exited, BOUND)
  t.ok(exit, 'it exited')
  t.same(exit?.value, { code: 0, signal: null }, 'with code 0, after a graceful shutdown')
})

t.test('shadows worker with rediss:// against a plain-text port says so, and exits on SIGTERM', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const cli = cliSession(t, 'sec')
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--url', `rediss://127.0.0.1:${redis.port}`])
  // the first attempt ends with the connect timeout (10 s) unless Redis drops the connection sooner
  await worker.waitForOutput(TLS_MISMATCH, 45_000)
  worker.signal('SIGTERM')
  const exit = await within(worker.exited, BOUND)
  t.ok(exit, 'it exited')
  t.same(exit?.value, { code: 0, signal: null }, 'with code 0')
  t.notMatch(worker.stdout(), /connect ETIMEDOUT"[^\n]*"msg":"redis connection error"/, 'no bare "connect ETIMEDOUT" warning')
})

t.test('shadows add against a Redis it cannot use fails with one clear line, within seconds', async (t) => {
  const cli = cliSession(t, 'sec')

  const refused = await runBounded(cli, ['add', 'greet', '--url', `redis://127.0.0.1:${await freePort()}`])
  t.ok(refused, 'a refused port: it exited')
  t.equal(refused?.code, 1, 'with code 1')
  t.match(refused?.stderr, /^shadows add: SHADOWS_ERR_UNAVAILABLE: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/, 'saying it cannot reach Redis')
  t.equal(lines(refused?.stderr ?? '').length, 1, 'on one line')

  const silent = await silentPort(t)
  const hung = await runBounded(cli, ['add', 'greet', '--url', `redis://127.0.0.1:${silent}`])
  t.ok(hung, 'a port that never answers: it exited')
  t.equal(hung?.code, 1, 'with code 1')
  t.match(
    hung?.stderr,
    /SHADOWS_ERR_UNAVAILABLE: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: no answer within \d+ ms/,
    `saying it got no answer in time (${hung?.stderr.trim()})`,
  )

  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const tls = await runBounded(cli, ['add', 'greet', '--url', `rediss://127.0.0.1:${redis.port}`])
  t.ok(tls, 'rediss:// against a plain-text port: it exited')
  t.equal(tls?.code, 1, 'with code 1')
  t.match(tls?.stderr, TLS_MISMATCH, `saying the TLS handshake failed (${tls?.stderr.trim()})`)
})

t.test('the one-shot commands take --connect-timeout and SHADOWS_CONNECT_TIMEOUT', async (t) => {
  const cli = cliSession(t, 'sec')
  const silent = `redis://127.0.0.1:${await silentPort(t)}`
  for (const command of [['add', 'greet'], ['snapshot'], ['strike', '--task', 'greet'], ['restore', 'abc'], ['workers']]) {
    const result = await runBounded(cli, [...command, '--url', silent, '--connect-timeout', '300'])
    t.equal(result?.code, 1, `shadows ${command[0]} --connect-timeout 300 gives up`)
    t.match(result?.stderr, /within 300 ms/, 'and says how long it waited')
  }
  const fromEnv = await runBounded(cli, ['snapshot', '--url', silent], { SHADOWS_CONNECT_TIMEOUT: '250' })
  t.match(fromEnv?.stderr, /within 250 ms/, 'SHADOWS_CONNECT_TIMEOUT sets it')
  const bad = await runBounded(cli, ['snapshot', '--url', silent, '--connect-timeout', 'soon'])
  t.equal(bad?.code, 2, 'a bad value is a usage error')
  const help = await runBounded(cli, ['add', '--help'])
  t.match(help?.stdout, /--connect-timeout VALUE .*\[env SHADOWS_CONNECT_TIMEOUT\]/, '--help lists it with its variable')
})

t.test('Worker.close() while the worker waits for Redis at start-up resolves, and so does run()', async (t) => {
  for (const url of [`redis://127.0.0.1:${await freePort()}`, `redis://127.0.0.1:${await silentPort(t)}`]) {
    const logs = captureLogs('debug')
    const shadow = new Shadow({ name: uniqueName('sec'), url, logger: logs.logger })
    const worker = new Worker(shadow, { tasks: [noop], gracePeriod: 1000, logger: logs.logger })
    const running = worker.run()
    // the worker is waiting for Redis: its connections are trying
    await waitFor(
      () => shadowContext(shadow).redis.status === 'connecting' || shadowContext(shadow).redis.status === 'reconnecting',
      10_000,
      'a connection attempt',
    )
    t.ok(await within(worker.close(), BOUND), `${url}: close() resolves`)
    t.ok(await within(running, BOUND), 'run() resolves')
    t.ok(await within(shadow.close(), BOUND), 'and the shadow closes')
  }
})

t.test('Worker.close() with rediss:// against a plain-text port resolves', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const logs = captureLogs('debug')
  const shadow = new Shadow({ name: uniqueName('sec'), url: `rediss://127.0.0.1:${redis.port}`, logger: logs.logger })
  const worker = new Worker(shadow, { tasks: [noop], gracePeriod: 1000, logger: logs.logger })
  const running = worker.run()
  await waitFor(() => shadowContext(shadow).redis.status === 'connecting' || shadowContext(shadow).redis.status === 'connect', 10_000, 'a connection attempt')
  t.ok(await within(worker.close(), BOUND), 'close() resolves')
  t.ok(await within(running, BOUND), 'run() resolves')
  t.ok(await within(shadow.close(), BOUND), 'and the shadow closes')
})

t.test('Worker.close() after Redis went away resolves', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const logs = captureLogs('info')
  const shadow = new Shadow({ name: uniqueName('sec'), url: redis.url, logger: logs.logger })
  const worker = new Worker(shadow, { tasks: [noop], gracePeriod: 1000, logger: logs.logger })
  const running = worker.run()
  await waitFor(() => logs.entries().some((e) => e.msg === 'worker started'), 10_000, 'the worker to start')
  await shadow.add(noop, { key: 'ran' })({})
  await waitFor(async () => (await shadow.get('ran'))?.state === 'completed', 10_000, 'a task to run')
  const gone = once(redis.process, 'exit')
  redis.process.kill('SIGKILL')
  await gone
  await waitFor(() => shadowContext(shadow).redis.status !== 'ready', 10_000, 'the client to notice')
  t.ok(await within(worker.close(), BOUND), 'close() resolves')
  t.ok(await within(running, BOUND), 'run() resolves')
  t.ok(await within(shadow.close(), BOUND), 'and the shadow closes')
})
