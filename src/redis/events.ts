/**
 * The messages on a shadow's pub/sub channels, published by the Lua scripts, and their one decoder
 * per channel. (The events *log*, a stream of every transition, is event-log.ts.)
 *
 * On the events channel (`keys.events`), heard by every worker, a message is its kind, a space,
 * then the kind's fields:
 *
 * ```text
 * due <epoch ms>            add, finish: a task due at that time became the schedule's head
 * cancel <gen> <key>        add (replace), cancel: abort the running attempt of that generation
 * strikes <change>          strike, restore: the strike rules changed (see strike-changes.ts)
 * ```
 *
 * Keys (stored form) and generations hold no space, so the key is the rest of a cancel message.
 *
 * On the finished channel (`keys.finished`), heard only by clients waiting for tasks to finish
 * (see client/waiters.ts), a message is the stored keys of the tasks a script just ended, separated
 * by spaces: finish writes one message per batch of outcomes, cancel one per task.
 */
import { decodeStrikeChange, type StrikeChange } from './strike-changes.js'

/** One message of the events channel, decoded. */
export type ChannelMessage =
  | {
      /** A task due at `at` (epoch ms) is now the schedule's head: a sleeping scheduler should wake then. */
      readonly kind: 'due'
      readonly at: number
    }
  | {
      /** The attempt of generation `gen` of the task `key` (stored form) must be aborted wherever it runs. */
      readonly kind: 'cancel'
      readonly gen: string
      readonly key: string
    }
  | {
      /** The strike rules changed; `change` is undefined when its text cannot be read (read the rules again). */
      readonly kind: 'strikes'
      readonly change: StrikeChange | undefined
    }

/** The event a message describes, or undefined for a message of no known kind (another build's, say). */
export function decodeEvent(message: string): ChannelMessage | undefined {
  const space = message.indexOf(' ')
  if (space < 0) return undefined
  const kind = message.slice(0, space)
  const rest = message.slice(space + 1)
  switch (kind) {
    case 'due': {
      const at = Number(rest)
      return rest !== '' && Number.isFinite(at) ? { kind, at } : undefined
    }
    case 'cancel': {
      const split = rest.indexOf(' ')
      if (split <= 0) return undefined
      return { kind, gen: rest.slice(0, split), key: rest.slice(split + 1) }
    }
    case 'strikes':
      return { kind, change: decodeStrikeChange(rest) }
    default:
      return undefined
  }
}

/** The stored keys of the tasks a message of the finished channel says ended. */
export function decodeFinished(message: string): string[] {
  return message.split(' ').filter((key) => key !== '')
}
