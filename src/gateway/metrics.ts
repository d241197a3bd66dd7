/**
 * Prometheus metrics (prom-client), one registry per gateway or worker process.
 */
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { shadowContext, type Shadow } from '../client/shadow.js'
import type { WorkerObserver } from '../worker/worker.js'

/** Histogram buckets for task durations and punctuality, in seconds. */
const SECONDS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

/** The metrics of one process. */
export class Metrics {
  readonly registry = new Registry()
  readonly added: Counter<'task'>
  readonly duplicate: Counter<'task'>
  readonly struck: Counter<'task'>
  readonly started: Counter<'task'>
  readonly completed: Counter<'task'>
  readonly failed: Counter<'task'>
  readonly retried: Counter<'task'>
  readonly cancelled: Counter<'task'>
  readonly duration: Histogram<'task'>
  readonly punctuality: Histogram<'task'>
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>

  /** With `shadow`, queue and schedule depth are read from Redis at each scrape. */
  constructor(shadow?: Shadow) {
    const registers = [this.registry]
    const counter = (name: string, help: string) => new Counter({ name, help, labelNames: ['task'] as const, registers })
    this.added = counter('shadows_tasks_added_total', 'Tasks added (stored as new).')
    this.duplicate = counter('shadows_tasks_duplicate_total', 'Adds whose key was already scheduled, queued or running.')
    this.struck = counter('shadows_tasks_struck_total', 'Tasks refused at add or skipped at execution by a strike.')
    this.started = counter('shadows_tasks_started_total', 'Attempts started.')
    this.completed = counter('shadows_tasks_completed_total', 'Attempts that completed.')
    this.failed = counter('shadows_tasks_failed_total', 'Attempts that failed for good.')
    this.retried = counter('shadows_tasks_retried_total', 'Failed attempts scheduled to be tried again.')
    this.cancelled = counter('shadows_tasks_cancelled_total', 'Tasks cancelled.')
    const histogram = (name: string, help: string) => new Histogram({ name, help, labelNames: ['task'] as const, buckets: SECONDS, registers })
    this.duration = histogram('shadows_task_duration_seconds', 'Time an attempt ran.')
    this.punctuality = histogram('shadows_task_punctuality_seconds', 'Start time minus due time (when).')
    const httpLabels = ['method', 'route', 'status_code'] as const
    this.httpRequests = new Counter({ name: 'shadows_http_requests_total', help: 'HTTP requests answered.', labelNames: httpLabels, registers })
    this.httpDuration = new Histogram({
      name: 'shadows_http_request_duration_seconds',
      help: 'HTTP request latency.',
      labelNames: httpLabels,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    })
    if (shadow) {
      const { redis, keys } = shadowContext(shadow)
      // read at each scrape; while Redis is unreachable the last value stays rather than failing the scrape
      const depth = (name: string, help: string, read: () => Promise<number>) =>
        new Gauge({
          name,
          help,
          registers,
          async collect() {
            try {
              this.set(await read())
            } catch {
              // keep the last value
            }
          },
        })
      depth('shadows_queue_depth', 'Entries on the stream (queued and running).', () => redis.xlen(keys.stream))
      depth('shadows_schedule_depth', 'Tasks waiting in the schedule.', () => redis.zcard(keys.schedule))
    }
    collectDefaultMetrics({ register: this.registry, prefix: 'shadows_process_' })
  }

  /** A worker observer that feeds these metrics. */
  workerObserver(): WorkerObserver {
    return {
      taskStarted: (task, lateness) => {
        this.started.inc({ task })
        this.punctuality.observe({ task }, Math.max(0, lateness) / 1000)
      },
      taskEnded: (task, outcome, durationMs) => {
        if (outcome !== 'struck' && outcome !== 'defer') this.duration.observe({ task }, durationMs / 1000)
        if (outcome === 'completed' || outcome === 'again') this.completed.inc({ task })
        else if (outcome === 'failed') this.failed.inc({ task })
        else if (outcome === 'retry') this.retried.inc({ task })
        else if (outcome === 'cancelled') this.cancelled.inc({ task })
        else if (outcome === 'struck') this.struck.inc({ task })
      },
    }
  }
}

/** Counts every answer of the gateway, by method, route and status, and its latency. */
export const metricsPlugin = fp<{ readonly metrics: Metrics }>(
  async (app, { metrics }) => {
    app.addHook('onResponse', async (request, reply) => {
      const labels = { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }
      metrics.httpRequests.inc(labels)
      metrics.httpDuration.observe(labels, reply.elapsedTime / 1000)
    })
  },
  { name: 'shadows-metrics' },
)
