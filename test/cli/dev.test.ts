/**
 * `shadows dev`: the gateway and a worker in one process with the example tasks, on the local Redis
 * or, when none answers, on a private redis-server that it stops on exit.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { freePort, pingRedis } from '../../src/cli/private-redis.js'
import { closeAdmin } from '../helpers/shadow.js'
import { cliSession, postJson, waitForTaskState, type CliProcess } from '../helpers/cli.js'

t.teardown(closeAdmin)

/** The request of a printed `curl -s -X POST URL -H … -d 'BODY'` line. */
function parseCurlPost(line: string): { url: string; body: unknown } {
  const match = /^curl -s -X POST (\S+) -H 'content-type: application\/json' -d '([^']*)'$/.exec(line)
  if (!match) throw new Error(`not a curl POST line: ${line}`)
  return { url: match[1] as string, body: JSON.parse(match[2] as string) }
}

/** Starts dev on a free port and waits for its "Try:" lines. */
async function startDev(spawn: (args: readonly string[], env?: Record<string, string>) => CliProcess, env: Record<string, string> = {}) {
  const port = await freePort()
  const dev = spawn(['dev', '--port', String(port)], env)
  await dev.waitForOutput('\nTry:\n', 30_000)
  return { dev, base: `http://127.0.0.1:${port}` }
}

t.test('dev on the local Redis: prints curl lines that work, runs the example tasks, exits 0 on SIGTERM', async (t) => {
  const cli = cliSession(t)
  const { dev, base } = await startDev(cli.spawn)
  const out = dev.stdout()
  t.match(out, `shadows dev: gateway on ${base}, one worker, tasks greet, sleep, flaky`)
  t.notMatch(out, /private/, 'the Redis that answered is used')
  const curlLines = out.split('\n').filter((line) => line.startsWith('curl '))
  t.ok(curlLines.length >= 5, 'several curl lines to try')
  for (const line of curlLines) t.ok(line.includes(`${base}/`), `each aims at the gateway: ${line}`)

  const first = parseCurlPost(curlLines[0] as string)
  t.same(first, { url: `${base}/tasks`, body: { task: 'greet', params: { name: 'Jane' } } }, 'the first line adds greet')
  const posted = await postJson(first.url, { ...(first.body as object), key: 'jane' })
  t.equal(posted.status, 202, 'POST /tasks greet → 202')
  const task = await waitForTaskState(base, 'jane', 'completed')
  t.match(task.result, { text: 'Hello, Jane!' }, 'completed by the worker in the same process')

  dev.signal('SIGTERM')
  t.same(await dev.exited, { code: 0, signal: null }, 'exits 0 on SIGTERM')
  await t.rejects(fetch(`${base}/health/live`), 'the gateway is gone')
})

t.test('dev with nothing at SHADOWS_URL: starts a private redis-server there, and stops it on SIGTERM', async (t) => {
  const cli = cliSession(t)
  const redisPort = await freePort()
  t.notOk(await pingRedis('127.0.0.1', redisPort), `nothing answers on port ${redisPort}`)
  let dev: CliProcess | undefined
  t.teardown(async () => {
    // if the test failed half-way: no redis-server may outlive it
    if (dev && dev.child.exitCode === null && dev.child.signalCode === null) {
      dev.child.kill('SIGKILL')
      await dev.exited
    }
    if (await pingRedis('127.0.0.1', redisPort)) {
      const orphan = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      await orphan.call('SHUTDOWN', 'NOSAVE').catch(() => undefined)
      orphan.disconnect()
    }
  })

  const url = `redis://127.0.0.1:${redisPort}`
  const started = await startDev(cli.spawn, { SHADOWS_URL: url })
  dev = started.dev
  const { base } = started
  t.match(dev.stdout(), `Redis ${url} (private, stopped on exit)`, 'says it started a private Redis at that URL')
  t.ok(await pingRedis('127.0.0.1', redisPort), 'a redis-server answers on the port of SHADOWS_URL')

  t.equal((await postJson(`${base}/tasks`, { task: 'greet', params: { name: 'Private' }, key: 'p' })).status, 202)
  const task = await waitForTaskState(base, 'p', 'completed')
  t.match(task.result, { text: 'Hello, Private!' }, 'a task runs on the private Redis')

  dev.signal('SIGTERM')
  t.same(await dev.exited, { code: 0, signal: null }, 'exits 0 on SIGTERM')
  t.notOk(await pingRedis('127.0.0.1', redisPort), 'the private redis-server is stopped: the port no longer answers')
})
