/**
 * A worker's heartbeat: its entry in the shadow's workers set (scored by when it expires) and a
 * hash of details with a TTL, so that a worker that stops beating drops out by itself.
 */
import { Backoff } from '../core/backoff.js'
import type { WorkerContext } from './context.js'

/** How many heartbeat periods a worker stays listed after its last beat. */
export const HEARTBEAT_LIFETIME = 2.5

/** What the heartbeat needs from its worker, and publishes about it. */
export interface HeartbeatContext extends Pick<WorkerContext, 'redis' | 'keys' | 'name' | 'logger'> {
  readonly interval: number
  readonly tasks: readonly string[]
  readonly concurrency: number
  readonly running: () => number
}

/** One worker's heartbeat. */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined
  private running = false
  private beating: Promise<void> | undefined
  /** The next beat comes with the interval: only the failures' logging is throttled. */
  private readonly failures: Backoff

  constructor(private readonly options: HeartbeatContext) {
    this.failures = new Backoff({ step: 0, max: 0, logEvery: 30, logger: options.logger, message: 'heartbeat failed' })
  }

  async start(): Promise<void> {
    if (this.timer) return
    this.running = true
    await this.beat()
    // stop() may have come during the first beat
    if (this.running) this.timer = setInterval(() => void this.beat(), this.options.interval)
  }

  /** Stops beating and removes the worker from the list at once (when Redis is reachable). */
  async stop(): Promise<void> {
    this.running = false
    clearInterval(this.timer)
    this.timer = undefined
    // a beat in flight would list the worker again after the removal below
    await this.beating
    const { keys, redis } = this.options
    // while Redis is away the entry cannot be removed, and need not be: it expires by itself, and
    // the command would only wait for its retries to run out
    if (redis.status !== 'ready') return
    await redis.pipeline().zrem(keys.workers, this.options.name).del(keys.worker(this.options.name)).exec()
  }

  private beat(): Promise<void> {
    this.beating = this.beatOnce().finally(() => {
      this.beating = undefined
    })
    return this.beating
  }

  private async beatOnce(): Promise<void> {
    const { keys, redis, name, interval, tasks, concurrency } = this.options
    const now = Date.now()
    const lifetime = Math.ceil(interval * HEARTBEAT_LIFETIME)
    try {
      await redis
        .pipeline()
        .zadd(keys.workers, now + lifetime, name)
        .hset(keys.worker(name), 'lastSeen', now, 'tasks', JSON.stringify(tasks), 'concurrency', concurrency, 'running', this.options.running())
        .pexpire(keys.worker(name), lifetime)
        .zremrangebyscore(keys.workers, '-inf', now)
        .exec()
      this.failures.succeeded()
    } catch (err) {
      this.failures.failed(err)
    }
  }
}
