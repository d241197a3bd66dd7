/**
 * Checks shared by the library and the gateway: task keys, due times, params objects.
 */
import { ShadowsError } from './errors.js'

const KEY_PATTERN = /^[A-Za-z0-9._:@-]{1,200}$/

/** RFC 3339 date-time with a mandatory offset (`Z` or `±hh:mm`). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

/** Whether `key` is a valid task key: 1–200 chars of `[A-Za-z0-9._:@-]`. */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_PATTERN.test(key)
}

/** Throws `SHADOWS_ERR_VALIDATION` unless `key` is a valid task key. */
export function assertValidKey(key: unknown): asserts key is string {
  if (!isValidKey(key)) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'key must be 1-200 chars of [A-Za-z0-9._:@-]', { field: 'key' })
  }
}

/** The latest due time accepted: the end of the year 9999, the last one RFC 3339 can write. */
export const MAX_DUE = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** A due time: a Date, an RFC 3339 string with an offset, or epoch milliseconds. */
export type When = Date | string | number

/** Parses a due time to epoch ms; throws `SHADOWS_ERR_VALIDATION` on a bad one. */
export function parseWhen(when: When): number {
  let ms: number
  if (when instanceof Date) {
    ms = when.getTime()
  } else if (typeof when === 'number') {
    ms = when
  } else if (typeof when === 'string') {
    if (!RFC3339.test(when)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `when must be an RFC 3339 timestamp with an offset, like 2026-11-28T10:00:00Z; got ${JSON.stringify(when)}`, { field: 'when' })
    }
    ms = Date.parse(when)
  } else {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'when must be a Date, an RFC 3339 string or epoch milliseconds', { field: 'when' })
  }
  if (!Number.isFinite(ms) || ms > MAX_DUE || ms < -MAX_DUE) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `when is not a valid time before the year 10000: ${JSON.stringify(when)}`, { field: 'when' })
  }
  return Math.trunc(ms)
}

/**
 * The due time in epoch ms from `when` or `delay` (ms from now); now when neither is given. A past
 * time means now.
 */
export function resolveDue(options: { when?: When | undefined; delay?: number | undefined }, now: number): number {
  const { when, delay } = options
  if (when !== undefined && delay !== undefined) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'give when or delay, not both', { field: 'when' })
  }
  if (delay !== undefined) {
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0 || now + delay > MAX_DUE) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'delay must be a non-negative number of milliseconds, due before the year 10000', { field: 'delay' })
    }
    return now + Math.trunc(delay)
  }
  if (when === undefined) return now
  return Math.max(parseWhen(when), now)
}

/** The params as JSON text; throws `SHADOWS_ERR_INVALID_PARAMS` when they cannot be written as JSON. */
export function paramsJson(task: string, params: Record<string, unknown>): string {
  try {
    return JSON.stringify(params)
  } catch (err) {
    throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${task}: not serializable as JSON (${(err as Error).message})`, {
      task,
      field: 'params',
    })
  }
}

/** Throws `SHADOWS_ERR_INVALID_PARAMS` unless `params` is a plain JSON object. */
export function assertParamsObject(task: string, params: unknown): asserts params is Record<string, unknown> {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${task}: params must be a JSON object`, { task, field: 'params' })
  }
}
