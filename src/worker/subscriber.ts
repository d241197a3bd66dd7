/**
 * The worker's subscription to its shadow's events channel, on a connection of its own: decodes
 * each pushed event for the part it concerns, and tells the worker when the connection came back,
 * since pushes published meanwhile were missed.
 */
import { closeNow, subscriber } from '../redis/connection.js'
import { decodeEvent } from '../redis/events.js'
import type { RedisClient } from '../redis/scripts.js'
import type { StrikeChange } from '../redis/strike-changes.js'
import type { WorkerContext } from './context.js'

/** Where the subscriber hands what it hears. */
export interface EventHandlers {
  /** A task due at `at` (epoch ms) became the schedule's head. */
  due(at: number): void
  /** The attempt of generation `gen` of `key` (stored form) must be aborted. */
  cancel(key: string, gen: string): void
  /** The strike rules changed (undefined: not known in detail). */
  strikes(change: StrikeChange | undefined): void
  /** The connection is back after a drop: whatever was pushed meanwhile was missed. */
  reconnected(): void
}

/** The worker's events subscription. */
export class EventSubscriber {
  private connection: RedisClient | undefined

  constructor(
    private readonly ctx: Pick<WorkerContext, 'redis' | 'keys' | 'logger'>,
    private readonly handlers: EventHandlers,
  ) {}

  /** Opens the connection (once) and subscribes. */
  async subscribe(): Promise<void> {
    if (this.connection) return
    const connection = subscriber(this.ctx.redis, {
      logger: this.ctx.logger,
      what: 'subscriber',
      onMessage: (message) => this.onMessage(message),
      onReconnect: () => {
        this.ctx.logger.info('reconnected to redis')
        this.handlers.reconnected()
      },
    })
    this.connection = connection
    await connection.subscribe(this.ctx.keys.events)
  }

  /** Closes the connection at once. */
  close(): void {
    if (this.connection) closeNow(this.connection)
  }

  private onMessage(message: string): void {
    const event = decodeEvent(message)
    if (event?.kind === 'due') this.handlers.due(event.at)
    else if (event?.kind === 'cancel') this.handlers.cancel(event.key, event.gen)
    else if (event?.kind === 'strikes') this.handlers.strikes(event.change)
  }
}
