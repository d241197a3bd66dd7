/**
 * `shadows dev`: the gateway and one worker in one process, with the example tasks, on the local
 * Redis — or on a private redis-server started (and stopped) here when nothing answers.
 */
import { fileURLToPath } from 'node:url'
import { buildApp } from '../gateway/app.js'
import type { FastifyInstance } from 'fastify'
import { isLoopback } from '../gateway/auth.js'
import { listen } from '../gateway/server.js'
import { redactUrl } from '../redis/redact.js'
import { Shadow } from '../client/shadow.js'
import { Worker } from '../worker/worker.js'
import type { Command } from './command.js'
import { intFlag, stringFlag, UsageError } from './flags.js'
import { ensureRedis, type AvailableRedis } from './private-redis.js'
import { onShutdownSignal, runOnce } from './signals.js'
import { EXAMPLE_TASKS, loadTasks } from './tasks-module.js'

/** The curl lines printed at start-up. */
export function tryLines(base: string): string {
  return [
    `curl -s -X POST ${base}/tasks -H 'content-type: application/json' -d '{"task":"greet","params":{"name":"Jane"}}'`,
    `curl -s -X POST ${base}/tasks -H 'content-type: application/json' -d '{"task":"greet","params":{"name":"John"},"delay":3000,"key":"john"}'`,
    `curl -s -X PUT ${base}/tasks/john -H 'content-type: application/json' -d '{"task":"greet","params":{"name":"Johnny"},"delay":5000}'`,
    `curl -s -X POST ${base}/tasks -H 'content-type: application/json' -d '{"task":"sleep","params":{"ms":20000},"key":"nap"}'`,
    `curl -s ${base}/tasks/nap`,
    `curl -s -X DELETE ${base}/tasks/nap`,
    `curl -s -X POST ${base}/strikes -H 'content-type: application/json' -d '{"parameter":"name","value":"Jane"}'`,
    `curl -s ${base}/snapshot`,
    `open ${base}/docs`,
  ].join('\n')
}

export const dev: Command = {
  name: 'dev',
  usage: 'shadows dev [--port 8080] [--host 127.0.0.1] [--tasks ./dist/tasks.js]',
  summary: 'Runs the gateway and one worker in one process, with the example tasks, for trying shadows out.',
  longRunning: true,
  flags: [
    { name: 'tasks', type: 'string', env: 'SHADOWS_TASKS', description: 'tasks module (default: the example tasks)' },
    { name: 'port', type: 'string', env: 'PORT', description: 'port to listen on', default: '8080' },
    { name: 'host', type: 'string', env: 'HOST', description: 'address to listen on (loopback)', default: '127.0.0.1' },
    { name: 'concurrency', type: 'string', env: 'SHADOWS_CONCURRENCY', description: 'most tasks running at once', default: '10' },
  ],
  async run({ flags, logger, out }) {
    // everything the user can get wrong is checked before anything starts, connects or listens
    const tasks = await loadTasks(stringFlag(flags, 'tasks') ?? fileURLToPath(EXAMPLE_TASKS))
    const port = intFlag(flags, 'port', 0, 65535) as number
    const concurrency = intFlag(flags, 'concurrency', 1, 100_000) as number
    const host = stringFlag(flags, 'host') as string
    if (!isLoopback(host))
      throw new UsageError(
        `dev serves without authentication, so only on a loopback address such as 127.0.0.1, not ${host}; use "shadows serve" with SHADOWS_TOKENS`,
      )
    const name = stringFlag(flags, 'name') as string
    let redis: AvailableRedis | undefined
    let app: FastifyInstance | undefined
    let shadow: Shadow | undefined
    let worker: Worker | undefined
    // released in reverse order of opening; every step runs even when one fails, and may run twice
    const release = async () => {
      const steps = [() => app?.close(), () => worker?.close(), () => shadow?.close(), () => redis?.stop()]
      const failed: unknown[] = []
      for (const step of steps)
        await Promise.resolve()
          .then(step)
          .catch((err: unknown) => failed.push(err))
      if (failed.length > 0) throw failed[0]
    }
    // set once a signal asked to stop, which may come before anything below is opened (see
    // early-signals.ts): then what was opened meanwhile is released, and nothing runs
    let stopping = false
    const stop = runOnce(async () => {
      stopping = true
      await release()
    })
    void onShutdownSignal(logger, stop)
    let address: string
    try {
      redis = await ensureRedis(stringFlag(flags, 'url') as string)
      if (redis.private) logger.info({ url: redis.url }, 'no Redis answered; started a private redis-server (nothing persisted)')
      app = await buildApp({ tasks, url: redis.url, name, logger })
      shadow = new Shadow({ url: redis.url, name, logger })
      worker = new Worker(shadow, { tasks, concurrency, logger, gracePeriod: 5000 })
      address = await listen(app, { host, port, authenticated: false })
    } catch (err) {
      await stop().catch(() => undefined)
      throw err
    }
    if (stopping) {
      await release()
      return 0
    }
    const running = worker.run()
    out(
      `\nshadows dev: gateway on ${address}, one worker, tasks ${tasks.map((t) => t.name).join(', ')}, Redis ${redactUrl(redis.url)}${redis.private ? ' (private, stopped on exit)' : ''}\n\nTry:\n${tryLines(address)}\n`,
    )
    try {
      await running
    } catch (err) {
      await stop().catch(() => undefined)
      throw err
    }
    await stop()
    return 0
  },
}
