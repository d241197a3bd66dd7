/**
 * `shadows serve`: the HTTP gateway.
 */
import { buildApp } from '../gateway/app.js'
import { isLoopback } from '../gateway/auth.js'
import { listen } from '../gateway/server.js'
import { parseTokens } from '../gateway/auth.js'
import type { Command } from './command.js'
import type { FastifyInstance } from 'fastify'
import { intFlag, stringFlag, UsageError, type Flag } from './flags.js'
import { onShutdownSignal, runOnce } from './signals.js'
import { loadTasks } from './tasks-module.js'
import { RETENTION_FLAGS, retentionOptions } from './retention.js'

export const GATEWAY_FLAGS: readonly Flag[] = [
  { name: 'port', type: 'string', env: 'PORT', description: 'port to listen on', default: '8080' },
  { name: 'host', type: 'string', env: 'HOST', description: 'address to listen on (non-loopback needs tokens)', default: '127.0.0.1' },
  { name: 'tokens', type: 'string', env: 'SHADOWS_TOKENS', description: 'bearer tokens: "token:scope,scope;token2:scope" (scopes enqueue, read, ops)' },
  { name: 'body-limit', type: 'string', env: 'SHADOWS_BODY_LIMIT', description: 'largest request body in bytes', default: '1048576' },
  { name: 'request-timeout', type: 'string', env: 'SHADOWS_REQUEST_TIMEOUT', description: 'ms a client has to send a whole request', default: '30000' },
  {
    name: 'max-connections',
    type: 'string',
    env: 'SHADOWS_MAX_CONNECTIONS',
    description: 'most connections open at once; more are closed at once',
    default: '1024',
  },
  ...RETENTION_FLAGS,
]

export const serve: Command = {
  name: 'serve',
  usage: 'shadows serve --tasks ./dist/tasks.js [--port 8080] [--host 127.0.0.1]',
  summary: 'Runs the HTTP gateway: add, schedule, replace, cancel and inspect tasks; strike and restore.',
  longRunning: true,
  flags: [{ name: 'tasks', type: 'string', env: 'SHADOWS_TASKS', description: 'tasks module (default export: array of tasks)' }, ...GATEWAY_FLAGS],
  async run({ flags, logger }) {
    // everything the user can get wrong is checked before anything connects or listens
    const tasks = await loadTasks(stringFlag(flags, 'tasks'))
    const tokens = stringFlag(flags, 'tokens')
    parseTokens(tokens)
    const host = stringFlag(flags, 'host') as string
    const port = intFlag(flags, 'port', 0, 65535) as number
    const bodyLimit = intFlag(flags, 'body-limit', 1) as number
    const requestTimeout = intFlag(flags, 'request-timeout', 1) as number
    const maxConnections = intFlag(flags, 'max-connections', 1) as number
    const retention = retentionOptions(flags)
    if (!tokens && !isLoopback(host)) {
      throw new UsageError(
        `refusing to listen on ${host} without authentication: set SHADOWS_TOKENS (or --tokens), or listen on a loopback address such as 127.0.0.1`,
      )
    }
    let app: FastifyInstance | undefined
    const stop = runOnce(async () => {
      await app?.close()
    })
    const stopped = onShutdownSignal(logger, stop)
    try {
      app = await buildApp({
        tasks,
        url: stringFlag(flags, 'url') as string,
        name: stringFlag(flags, 'name') as string,
        ...(tokens ? { tokens } : {}),
        bodyLimit,
        requestTimeout,
        maxConnections,
        ...retention,
        logger,
      })
      const address = await listen(app, { host, port, authenticated: Boolean(tokens) })
      logger.info({ address, tasks: tasks.map((t) => t.name) }, 'gateway listening')
    } catch (err) {
      await stop().catch(() => undefined)
      throw err
    }
    return stopped
  },
}
