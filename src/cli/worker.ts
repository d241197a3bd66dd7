/**
 * `shadows worker`: a worker process.
 */
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { Metrics } from '../gateway/metrics.js'
import { Shadow } from '../client/shadow.js'
import { Worker } from '../worker/worker.js'
import type { Command } from './command.js'
import { closeHealth, READY_PING_TIMEOUT, serveHealth } from './health.js'
import { intFlag, stringFlag, type Flag } from './flags.js'
import { onShutdownSignal, runOnce } from './signals.js'
import { loadTasks } from './tasks-module.js'
import { explainRedisError } from './unreachable.js'
import { RETENTION_FLAGS, retentionOptions } from './retention.js'

export const WORKER_FLAGS: readonly Flag[] = [
  { name: 'concurrency', type: 'string', env: 'SHADOWS_CONCURRENCY', description: 'most tasks running at once', default: '10' },
  {
    name: 'redelivery-timeout',
    type: 'string',
    env: 'SHADOWS_REDELIVERY_TIMEOUT',
    description: "ms before a dead worker's tasks are redelivered",
    default: '300000',
  },
  { name: 'grace-period', type: 'string', env: 'SHADOWS_GRACE_PERIOD', description: 'ms running tasks may finish on shutdown', default: '30000' },
  {
    name: 'unknown-task-timeout',
    type: 'string',
    env: 'SHADOWS_UNKNOWN_TASK_TIMEOUT',
    description: 'ms a task no worker knows is put back before it fails',
    default: '3600000',
  },
  ...RETENTION_FLAGS,
]

/** Serves `metrics` as Prometheus text on http://host:port/metrics. */
export async function serveMetrics(metrics: Metrics, port: number, host: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      )
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n')
    }
  })
  server.listen(port, host)
  await once(server, 'listening')
  return server
}

export const worker: Command = {
  name: 'worker',
  usage:
    'shadows worker --tasks ./dist/tasks.js [--concurrency 10] [--redelivery-timeout 300000] [--until-finished] [--metrics-port 9464] [--health-port 9465]',
  summary: 'Runs a worker: takes tasks from the shadow and runs them.',
  longRunning: true,
  flags: [
    { name: 'tasks', type: 'string', env: 'SHADOWS_TASKS', description: 'tasks module (default export: array of tasks)' },
    ...WORKER_FLAGS,
    { name: 'until-finished', type: 'boolean', env: 'SHADOWS_UNTIL_FINISHED', description: 'exit once nothing is queued, scheduled or running' },
    { name: 'metrics-port', type: 'string', env: 'SHADOWS_METRICS_PORT', description: 'serve Prometheus metrics on this port' },
    { name: 'metrics-host', type: 'string', env: 'SHADOWS_METRICS_HOST', description: 'address for the metrics port', default: '127.0.0.1' },
    { name: 'health-port', type: 'string', env: 'SHADOWS_HEALTH_PORT', description: 'serve /health/live and /health/ready on this port' },
    { name: 'health-host', type: 'string', env: 'SHADOWS_HEALTH_HOST', description: 'address for the health port', default: '127.0.0.1' },
  ],
  async run({ flags, logger }) {
    // everything the user can get wrong is checked before anything connects or listens
    const tasks = await loadTasks(stringFlag(flags, 'tasks'))
    const concurrency = intFlag(flags, 'concurrency', 1, 100_000) as number
    const redeliveryTimeout = intFlag(flags, 'redelivery-timeout', 1) as number
    const gracePeriod = intFlag(flags, 'grace-period', 0) as number
    const unknownTaskTimeout = intFlag(flags, 'unknown-task-timeout', 0) as number
    const retention = retentionOptions(flags)
    const metricsPort = intFlag(flags, 'metrics-port', 0, 65535)
    const metricsHost = stringFlag(flags, 'metrics-host') as string
    const healthPort = intFlag(flags, 'health-port', 0, 65535)
    const healthHost = stringFlag(flags, 'health-host') as string
    const shadow = new Shadow({ url: stringFlag(flags, 'url') as string, name: stringFlag(flags, 'name') as string, ...retention, logger })
    const metrics = metricsPort !== undefined ? new Metrics(shadow) : undefined
    let instance: Worker | undefined
    let metricsServer: Server | undefined
    let healthServer: Server | undefined
    // released in reverse order of opening; each step may run twice (see below)
    const release = async () => {
      try {
        await instance?.close()
      } finally {
        // readiness answered 503 while the worker drained; liveness stays up until here
        if (healthServer?.listening) closeHealth(healthServer)
        if (metricsServer?.listening) metricsServer.close()
        await shadow.close()
      }
    }
    // set once a signal asked to stop, which may come before anything below is opened (see
    // early-signals.ts): from then on nothing more is opened or run, and what was is released
    let stopping = false
    const stop = runOnce(async () => {
      stopping = true
      await release()
    })
    void onShutdownSignal(logger, stop)
    try {
      instance = new Worker(shadow, {
        tasks,
        concurrency,
        redeliveryTimeout,
        gracePeriod,
        unknownTaskTimeout,
        logger,
        ...(metrics ? { observer: metrics.workerObserver() } : {}),
      })
      if (metrics && metricsPort !== undefined && !stopping) {
        metricsServer = await serveMetrics(metrics, metricsPort, metricsHost)
        logger.info({ address: metricsServer.address() }, 'metrics served on /metrics')
      }
      if (healthPort !== undefined && !stopping) {
        // before run(): a worker waiting for Redis at start-up is live, and not ready
        const probed = instance
        healthServer = await serveHealth(() => probed.health({ timeout: READY_PING_TIMEOUT }), healthPort, healthHost)
        logger.info({ address: healthServer.address() }, 'health served on /health/live and /health/ready')
      }
      // run() returns once a signal closed the worker; runUntilFinished() also when the shadow is idle
      if (!stopping) await (flags.values['until-finished'] ? instance.runUntilFinished() : instance.run())
    } catch (err) {
      await stop().catch(() => undefined)
      // a port already taken (metrics, health) is no Redis failure
      throw (err as NodeJS.ErrnoException | undefined)?.syscall === 'listen' ? err : explainRedisError(err, shadow)
    }
    await stop()
    // a stop that came while the worker was being set up released what was open then
    if (stopping) await release()
    return 0
  },
}
