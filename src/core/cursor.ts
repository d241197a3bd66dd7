/**
 * The cursor of a task listing: where a page ended, handed to the caller as an opaque string and
 * taken back for the next page. It names the state and the task name it was made for, so that a
 * cursor of one listing is refused by another rather than read as something it is not.
 *
 * Inside it is a position, which the list script reads (see src/redis/lua/list.lua): in the
 * schedule (earliest first) the score and member of the last entry looked at; in the stream
 * (queued and running tasks) the last message's id; in a history index (a stream of entries of up
 * to 100 keys, newest first) the entry and the place in it of the last key looked at.
 */
import { ShadowsError } from './errors.js'
import { isEventId } from './events.js'
import type { TaskState } from './records.js'

/** Where a page of a listing ended. */
export type ListPosition =
  | {
      /** A sorted set's entry: its score (epoch ms) and its member (a stored key). */
      readonly score: number
      readonly member: string
    }
  | {
      /** A stream message's id. */
      readonly id: string
    }
  | {
      /** A history index's entry: its id, and the place in it (from 1) of the last key looked at. */
      readonly entry: string
      readonly place: number
    }

/** The version of the cursor's layout; a cursor of another is refused. */
const VERSION = 1

/** Longest cursor accepted: what a 200-character key with its score and the names around it takes, with room to spare. */
export const MAX_CURSOR_LENGTH = 1024

/** Most keys a history index's entry holds (see src/redis/lua/shared.lua). */
const MAX_ENTRY_PLACE = 100

/** A stored key: a task key, or `~` and a UUID's 16 bytes in base64url (see redis/keys.ts). */
const MEMBER = /^[A-Za-z0-9._:@~-]{1,200}$/
/**
 * The largest stream id: a page never ends past it (no message can follow it), and Redis refuses a
 * range that starts after it.
 */
const LAST_STREAM_ID = '18446744073709551615-18446744073709551615'

/** The opaque cursor of a listing of `state` (and `task`, when it is filtered by task name) that ended at `position`. */
export function encodeCursor(state: TaskState, task: string | undefined, position: ListPosition): string {
  const where = 'id' in position ? position.id : 'entry' in position ? [position.entry, position.place] : [position.score, position.member]
  return Buffer.from(JSON.stringify([VERSION, state, task ?? '', where])).toString('base64url')
}

/**
 * The position inside a cursor made by {@link encodeCursor} for the same `state` and `task`.
 * Throws `SHADOWS_ERR_VALIDATION` for anything else: not a string, too long, not one of ours, or
 * made for another listing.
 */
export function decodeCursor(cursor: unknown, state: TaskState, task: string | undefined): ListPosition {
  const refuse = (why: string): never => {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `invalid cursor: ${why}; pass the next value of the page before, unchanged`, { field: 'cursor' })
  }
  if (typeof cursor !== 'string' || cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    return refuse('not a cursor')
  }
  let body: unknown
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return refuse('not a cursor')
  }
  if (!Array.isArray(body) || body.length !== 4 || body[0] !== VERSION) return refuse('not a cursor')
  const [, madeFor, madeForTask, where] = body as [number, unknown, unknown, unknown]
  if (madeFor !== state || madeForTask !== (task ?? '')) return refuse('it was made for another listing (state or task)')
  const stream = state === 'queued' || state === 'running'
  if (stream) {
    if (!isEventId(where) || where === LAST_STREAM_ID) return refuse('not a cursor')
    return { id: where }
  }
  if (!Array.isArray(where) || where.length !== 2) return refuse('not a cursor')
  if (state !== 'scheduled') {
    const [entry, place] = where as [unknown, unknown]
    if (!isEventId(entry) || entry === LAST_STREAM_ID || typeof place !== 'number' || !Number.isSafeInteger(place) || place < 1 || place > MAX_ENTRY_PLACE) {
      return refuse('not a cursor')
    }
    return { entry, place }
  }
  const [score, member] = where as [unknown, unknown]
  if (typeof score !== 'number' || !Number.isSafeInteger(score) || typeof member !== 'string' || !MEMBER.test(member)) return refuse('not a cursor')
  return { score, member }
}
