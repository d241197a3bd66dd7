import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Shadow, Worker, defineTask } from '../../src/index.js'
import { pingRedis, startRedisServer } from '../../src/cli/private-redis.js'
import { testLogger, waitFor } from '../helpers/shadow.js'
import { shadowContext } from '../../src/client/shadow.js'
import { LEVEL, captureLogs } from '../helpers/engine-workers.js'

/** Kills `child` (SIGKILL) and resolves once it is gone. */
async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGKILL')
  await gone
}

t.test('a worker reconnects by itself after Redis restarts, and runs tasks added afterwards', async (t) => {
  const first = await startRedisServer()
  let second: ChildProcess | undefined
  t.teardown(async () => {
    if (second) await killHard(second)
    await first.stop()
  })

  const logs = captureLogs('warn')
  const shadow = new Shadow({ name: 'reconnect', url: first.url, logger: logs.logger })
  const ran: string[] = []
  const ping = defineTask({
    name: 'ping',
    async run(_params, ctx) {
      ran.push(ctx.key)
      return 'pong'
    },
  })
  const worker = new Worker(shadow, { tasks: [ping], name: 'survivor', logger: logs.logger, gracePeriod: 1000 })
  t.teardown(async () => {
    await worker.close()
    await shadow.close()
  })
  const running = worker.run()

  await shadow.add(ping, { key: 'before' })({})
  await waitFor(async () => (await shadow.get('before'))?.state === 'completed', 5000, 'the first task completed')
  t.same(ran, ['before'])
  t.same(
    logs.entries().filter((e) => e.level >= LEVEL.warn),
    [],
    'no trouble logged while Redis was up',
  )

  // Redis goes away hard, then comes back empty on the same port
  await killHard(first.process)
  await sleep(300)
  t.equal(await pingRedis('127.0.0.1', first.port), false, 'Redis is down')
  second = spawn('redis-server', ['--port', String(first.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', first.dir], {
    stdio: 'ignore',
  })
  await waitFor(() => pingRedis('127.0.0.1', first.port), 5000, 'the new redis-server answering')

  for (const key of ['after-1', 'after-2', 'after-3']) await shadow.add(ping, { key })({})
  await waitFor(
    async () => {
      const states = await Promise.all(['after-1', 'after-2', 'after-3'].map(async (key) => (await shadow.get(key))?.state))
      return states.every((state) => state === 'completed')
    },
    15_000,
    'the tasks added after the restart completed',
  )
  t.same(ran.slice(1).sort(), ['after-1', 'after-2', 'after-3'], 'each ran once after the restart')
  t.equal(await shadow.get('before'), undefined, 'what the old Redis held is gone (it kept nothing)')
  t.equal((await shadow.get('after-1'))?.result, 'pong')

  // the worker is still listed by its heartbeat on the new Redis
  await waitFor(async () => (await shadow.workers()).some((w) => w.name === 'survivor'), 5000, 'the worker listed again')

  const trouble = logs.entries().filter((e) => e.level >= LEVEL.warn)
  t.ok(trouble.length > 0, 'the connection trouble was logged')
  t.ok(
    trouble.some((e) => /redis|connect/i.test(`${e.msg ?? ''} ${JSON.stringify(e.err ?? '')}`)),
    `a warning names the connection problem (${trouble.map((e) => e.msg).join(' | ')})`,
  )

  await worker.close()
  await running
})

t.test('while a restarted Redis loads its data, connections ask every 200 ms whether it is ready, not after its whole estimate', async (t) => {
  // ioredis waits the loading time Redis estimates (up to 10 s by default) before asking again: a
  // gateway and workers answered 503 for seconds after Redis was back (found by the chaos run)
  const shadow = new Shadow({ name: `loading-${process.pid}`, url: process.env.SHADOWS_TEST_URL ?? 'redis://127.0.0.1:6379', logger: testLogger })
  t.teardown(() => shadow.close())
  t.equal((shadowContext(shadow).redis as unknown as { options: { maxLoadingRetryTime: number } }).options.maxLoadingRetryTime, 200)
})
