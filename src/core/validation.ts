/**
 * Checks shared by the library and the gateway: task keys, due times, params objects.
 */
import { ShadowsError } from './errors.js'

const KEY_PATTERN = /^[A-Za-z0-9._:@-]{1,200}$/

/** A task name: 1–100 chars of `[A-Za-z0-9._:-]`, the same for defineTask, adds, strikes and workers. */
export const TASK_NAME_PATTERN = /^[A-Za-z0-9._:-]{1,100}$/

/**
 * Names that rewrite an object's prototype when used as a key (`obj.__proto__ = …`,
 * `obj.constructor.prototype`): refused as task names, parameter names and params keys, so that no
 * code that builds an object from them, here or in a client, can be turned against itself.
 */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

/** Whether `name` is a valid task name: the pattern, and not one of {@link PROTOTYPE_KEYS}. */
export function isValidTaskName(name: unknown): name is string {
  return typeof name === 'string' && TASK_NAME_PATTERN.test(name) && !PROTOTYPE_KEYS.has(name)
}

/** Throws `SHADOWS_ERR_VALIDATION` unless `name` is a valid task name ({@link isValidTaskName}). */
export function assertValidTaskName(name: unknown, field = 'task'): asserts name is string {
  if (!isValidTaskName(name)) {
    throw new ShadowsError(
      'SHADOWS_ERR_VALIDATION',
      `task name must be 1-100 chars of [A-Za-z0-9._:-] and not __proto__, constructor or prototype, got ${JSON.stringify(name)}`,
      { field },
    )
  }
}

/**
 * Whether `value` holds, at any depth, a `__proto__` key or a `constructor` object with a
 * `prototype` key: what a JSON parser refuses as prototype poisoning (the gateway's does), refused
 * from library callers too. Walks without recursion, so that deep nesting cannot overflow the stack.
 */
export function rewritesPrototype(value: unknown): boolean {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const next = pending.pop()
    if (Array.isArray(next)) {
      for (const item of next) pending.push(item)
    } else if (next !== null && typeof next === 'object') {
      if (Object.hasOwn(next, '__proto__')) return true
      const ctor: unknown = Object.hasOwn(next, 'constructor') ? (next as { constructor: unknown }).constructor : undefined
      if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return true
      for (const item of Object.values(next)) pending.push(item)
    }
  }
  return false
}

/** RFC 3339 date-time with a mandatory offset (`Z` or `±hh:mm`). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

/**
 * Whether `key` is a valid task key: 1–200 chars of `[A-Za-z0-9._:@-]`, other than `.` and `..`
 * (a URL path segment clients normalise away: `/tasks/..` would become `/`).
 */
export function isValidKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_PATTERN.test(key) && key !== '.' && key !== '..'
}

/** Throws `SHADOWS_ERR_VALIDATION` unless `key` is a valid task key. */
export function assertValidKey(key: unknown): asserts key is string {
  if (!isValidKey(key)) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'key must be 1-200 chars of [A-Za-z0-9._:@-], other than . and ..', { field: 'key' })
  }
}

/** The latest due time accepted: the end of the year 9999, the last one RFC 3339 can write. */
export const MAX_DUE = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/** A due time: a Date, an RFC 3339 string with an offset, or epoch milliseconds. */
export type When = Date | string | number

/** Parses a time to epoch ms; throws `SHADOWS_ERR_VALIDATION` on a bad one, naming `field`. */
export function parseWhen(when: When, field = 'when'): number {
  let ms: number
  if (when instanceof Date) {
    ms = when.getTime()
  } else if (typeof when === 'number') {
    ms = when
  } else if (typeof when === 'string') {
    if (!RFC3339.test(when)) {
      throw new ShadowsError(
        'SHADOWS_ERR_VALIDATION',
        `${field} must be an RFC 3339 timestamp with an offset, like 2026-11-28T10:00:00Z; got ${JSON.stringify(when)}`,
        { field },
      )
    }
    if (!isCalendarDate(when)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${field} names a day the calendar lacks: ${JSON.stringify(when)}`, { field })
    }
    // Date.parse reads T24:00:00 as midnight of the next day; RFC 3339 hours run 00-23
    if (Number(when.slice(11, 13)) > 23) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${field} has an hour past 23 (RFC 3339 hours run 00-23): ${JSON.stringify(when)}`, { field })
    }
    ms = Date.parse(when)
  } else {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${field} must be a Date, an RFC 3339 string or epoch milliseconds`, { field })
  }
  if (!Number.isFinite(ms) || ms > MAX_DUE || ms < -MAX_DUE) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${field} is not a valid time before the year 10000: ${JSON.stringify(when)}`, { field })
  }
  return Math.trunc(ms)
}

/**
 * Whether the date part of an RFC 3339 timestamp names a day of the calendar. `Date.parse` rolls
 * an overflowing day into the next month (`2030-02-30` becomes 2 March), which would schedule a
 * task at a time the client never wrote.
 */
function isCalendarDate(timestamp: string): boolean {
  const year = Number(timestamp.slice(0, 4))
  const month = Number(timestamp.slice(5, 7))
  const day = Number(timestamp.slice(8, 10))
  if (month < 1 || month > 12 || day < 1) return false
  // day 0 of the next month is the last day of this one; setUTCFullYear, because Date.UTC reads
  // the years 0-99 as 1900-1999 (and 1900 was no leap year, whereas 0 was)
  const lastDay = new Date(0)
  lastDay.setUTCFullYear(year, month, 0)
  return day <= lastDay.getUTCDate()
}

/**
 * The due time in epoch ms from `when` or `delay` (ms from now); now when neither is given. A past
 * time is kept as given: the task runs at once, and its lateness shows.
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
  // a past time runs at once, and is kept as given: the record and the answer show how late it is
  return parseWhen(when)
}

/** Longest `debounce` or `throttle` an add accepts: one year, in ms. */
export const MAX_ADD_WINDOW = 365 * 24 * 3600_000

/** How an add treats the adds of its key around it: `debounce` or `throttle` (see `AddOptions`). */
export type AddControl = { readonly kind: 'debounce' | 'throttle'; readonly ms: number }

/**
 * The add's `debounce` or `throttle`, checked: at most one of them, a whole number of ms from 1 to
 * {@link MAX_ADD_WINDOW}, with a key (both act on the adds of one key), and `debounce` without
 * `when` or `delay` (it sets the due time itself). Undefined when neither is given. Throws
 * `SHADOWS_ERR_VALIDATION` naming the field.
 */
export function resolveAddControl(options: {
  key?: string | undefined
  when?: When | undefined
  delay?: number | undefined
  debounce?: number | undefined
  throttle?: number | undefined
}): AddControl | undefined {
  const { debounce, throttle } = options
  if (debounce === undefined && throttle === undefined) return undefined
  if (debounce !== undefined && throttle !== undefined) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'give debounce or throttle, not both', { field: 'throttle' })
  }
  const kind = debounce !== undefined ? 'debounce' : 'throttle'
  const ms: unknown = debounce ?? throttle
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > MAX_ADD_WINDOW) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${kind} must be a whole number of milliseconds from 1 to ${MAX_ADD_WINDOW} (one year)`, {
      field: kind,
    })
  }
  if (options.key === undefined) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${kind} needs a key: it acts on the adds of one key`, { field: 'key' })
  }
  if (kind === 'debounce' && (options.when !== undefined || options.delay !== undefined)) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'debounce sets the due time itself (now + debounce): give no when or delay with it', {
      field: 'debounce',
    })
  }
  return { kind, ms }
}

/**
 * Whether `value` holds a number JSON cannot carry: NaN or ±Infinity, which `JSON.stringify`
 * quietly writes as `null` (a JSON body's `1e400` parses to Infinity). Walks without recursion,
 * so that a deeply nested value cannot overflow the stack.
 */
export function holdsNonFinite(value: unknown): boolean {
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const next = pending.pop()
    if (typeof next === 'number') {
      if (!Number.isFinite(next)) return true
    } else if (Array.isArray(next)) {
      for (const item of next) pending.push(item)
    } else if (next !== null && typeof next === 'object' && typeof (next as { toJSON?: unknown }).toJSON !== 'function') {
      for (const item of Object.values(next)) pending.push(item)
    }
  }
  return false
}

/** The params as JSON text; throws `SHADOWS_ERR_INVALID_PARAMS` when they cannot be written as JSON. */
export function paramsJson(task: string, params: Record<string, unknown>): string {
  let json: string
  try {
    json = JSON.stringify(params)
  } catch (err) {
    throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${task}: not serializable as JSON (${(err as Error).message})`, {
      task,
      field: 'params',
    })
  }
  // only params whose JSON names such a key are walked: the hot path pays two substring searches
  if ((json.includes('"__proto__"') || json.includes('"prototype"')) && rewritesPrototype(params)) {
    throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${task}: a key named __proto__, or constructor.prototype, is not allowed`, {
      task,
      field: 'params',
    })
  }
  // a non-finite number comes out as null: only params whose JSON holds a null are walked
  if (json.includes('null') && holdsNonFinite(params)) {
    throw new ShadowsError(
      'SHADOWS_ERR_INVALID_PARAMS',
      `invalid params for task ${task}: a number is NaN or out of range (like 1e400); JSON has no such number`,
      {
        task,
        field: 'params',
      },
    )
  }
  return json
}

/** Throws `SHADOWS_ERR_INVALID_PARAMS` unless `params` is a plain JSON object. */
export function assertParamsObject(task: string, params: unknown): asserts params is Record<string, unknown> {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) {
    throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${task}: params must be a JSON object`, { task, field: 'params' })
  }
}
