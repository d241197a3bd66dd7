/**
 * Strike rules: validation, identity and matching. Pure code; the Redis side lives in client/shadow.ts,
 * redis/strike-changes.ts and the Lua scripts, which keep a versioned copy of the rules in step
 * across processes.
 */
import { createHash } from 'node:crypto'
import { ShadowsError } from './errors.js'
import { holdsNonFinite, isValidTaskName, PROTOTYPE_KEYS, rewritesPrototype } from './validation.js'

/** The comparison a strike applies to a parameter value. */
export type StrikeOperator = '==' | '!=' | '>' | '>=' | '<' | '<=' | 'between'

/** Operators in the order the docs list them. */
export const STRIKE_OPERATORS: readonly StrikeOperator[] = ['==', '!=', '>', '>=', '<', '<=', 'between']

/** A JSON value, as params carry them. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** What `strike()` and `restore()` take: a task name, a parameter rule, or both. */
export interface StrikeInput {
  readonly task?: string
  readonly parameter?: string
  /** Default `==`. */
  readonly operator?: StrikeOperator
  /** The value compared with; `[lo, hi]` for `between`. */
  readonly value?: JsonValue
}

/** A stored strike rule. */
export interface Strike {
  readonly id: string
  readonly task?: string
  readonly parameter?: string
  readonly operator: StrikeOperator
  readonly value?: JsonValue
  /** RFC 3339. */
  readonly createdAt: string
}

function invalid(message: string): never {
  throw new ShadowsError('SHADOWS_ERR_VALIDATION', message)
}

/** JSON type of a value; values of different types never match each other. */
function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

/** JSON text with object keys sorted, so equal values have equal text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const entries = Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
  return `{${entries.join(',')}}`
}

/**
 * Most bytes a strike value may take as canonical JSON (UTF-8). Values are identifiers, amounts,
 * short lists: 1 KiB holds a list of 25 UUIDs. With the bounds on task (100 characters) and
 * parameter (200) a stored rule stays under 3 KiB, so a shadow's 1,000 rules stay under 3 MiB and
 * a change travels as one small push.
 */
export const MAX_STRIKE_VALUE_BYTES = 1024

/**
 * Bytes of `canonicalJson(value)`, counted without writing it and without recursion: the count
 * stops past `limit` (returning a number above it), so a huge or deeply nested value costs no more
 * than the limit's worth of work and cannot overflow the stack.
 */
export function canonicalJsonBytes(value: unknown, limit: number): number {
  let bytes = 0
  const pending: unknown[] = [value]
  while (pending.length > 0 && bytes <= limit) {
    const next = pending.pop()
    if (typeof next === 'string') {
      // every character takes at least one byte: no need to escape a string far past the limit
      bytes += next.length > limit ? next.length : Buffer.byteLength(JSON.stringify(next))
    } else if (next === null || typeof next !== 'object') {
      bytes += (JSON.stringify(next) ?? 'null').length
    } else if (Array.isArray(next)) {
      bytes += 2 + Math.max(next.length - 1, 0)
      for (const item of next) pending.push(item)
    } else {
      const keys = Object.keys(next)
      bytes += 2 + Math.max(keys.length - 1, 0)
      for (const key of keys) {
        bytes += Buffer.byteLength(JSON.stringify(key)) + 1
        pending.push((next as Record<string, unknown>)[key])
      }
    }
  }
  return bytes
}

function isOrderable(value: unknown): value is number | string {
  return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string'
}

/** The normalised rule of a strike input (without id and time); throws on a malformed rule. */
export function normalizeStrike(input: unknown): Omit<Strike, 'id' | 'createdAt'> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) invalid('a strike must be an object')
  const { task, parameter, operator = '==', value } = input as Record<string, unknown>
  const known = new Set(['task', 'parameter', 'operator', 'value'])
  for (const field of Object.keys(input)) if (!known.has(field)) invalid(`unknown strike field ${JSON.stringify(field)}`)
  if (task !== undefined && !isValidTaskName(task)) {
    invalid('strike task must be a task name: 1-100 chars of [A-Za-z0-9._:-], not __proto__, constructor or prototype')
  }
  if (parameter !== undefined && (typeof parameter !== 'string' || parameter.length === 0 || parameter.length > 200 || PROTOTYPE_KEYS.has(parameter))) {
    invalid('strike parameter must be a parameter name of 1-200 chars, not __proto__, constructor or prototype')
  }
  if (task === undefined && parameter === undefined) invalid('a strike needs a task, a parameter, or both')
  if (typeof operator !== 'string' || !STRIKE_OPERATORS.includes(operator as StrikeOperator)) {
    invalid(`strike operator must be one of ${STRIKE_OPERATORS.join(' ')}`)
  }
  const op = operator as StrikeOperator
  if (parameter === undefined) {
    if (op !== '==' || value !== undefined) invalid('operator and value apply to a parameter: give parameter too')
    return { task: task as string, operator: '==' }
  }
  if (value === undefined) invalid('a strike on a parameter needs a value')
  // first, so that an oversized value is refused before anything walks it whole
  if (canonicalJsonBytes(value, MAX_STRIKE_VALUE_BYTES) > MAX_STRIKE_VALUE_BYTES) {
    invalid(`strike value must be at most ${MAX_STRIKE_VALUE_BYTES} bytes as JSON`)
  }
  if (rewritesPrototype(value)) invalid('strike value holds a key named __proto__, or constructor.prototype')
  if (holdsNonFinite(value)) invalid('strike value holds a number that is NaN or out of range (like 1e400); JSON has no such number')
  if (op === 'between') {
    if (!Array.isArray(value) || value.length !== 2) invalid('between takes [lo, hi]')
    const [lo, hi] = value as unknown[]
    if (!isOrderable(lo) || jsonType(lo) !== jsonType(hi)) invalid('between takes two numbers or two strings')
    if ((lo as number | string) > (hi as number | string)) invalid('between takes [lo, hi] with lo <= hi')
  } else if (op !== '==' && op !== '!=' && !isOrderable(value)) {
    invalid(`operator ${op} compares numbers or strings`)
  }
  return {
    ...(task !== undefined ? { task: task as string } : {}),
    parameter: parameter as string,
    operator: op,
    value: JSON.parse(canonicalJson(value)) as JsonValue,
  }
}

/** Stable id of a rule: the same rule always gets the same id, so striking twice stores it once. */
export function strikeId(rule: Omit<Strike, 'id' | 'createdAt'>): string {
  const text = canonicalJson({ task: rule.task ?? null, parameter: rule.parameter ?? null, operator: rule.operator, value: rule.value ?? null })
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

function compare(actual: unknown, operator: StrikeOperator, expected: JsonValue | undefined): boolean {
  if (operator === 'between') {
    const [lo, hi] = expected as [number | string, number | string]
    return jsonType(actual) === jsonType(lo) && (actual as number | string) >= lo && (actual as number | string) <= hi
  }
  if (jsonType(actual) !== jsonType(expected)) return false
  switch (operator) {
    case '==':
      return canonicalJson(actual) === canonicalJson(expected)
    case '!=':
      return canonicalJson(actual) !== canonicalJson(expected)
    default: {
      if (!isOrderable(actual)) return false
      const a = actual
      const b = expected as number | string
      if (operator === '>') return a > b
      if (operator === '>=') return a >= b
      if (operator === '<') return a < b
      return a <= b
    }
  }
}

/** Whether `rule` strikes a task named `task` with these params. */
export function strikeMatches(rule: Omit<Strike, 'id' | 'createdAt'>, task: string, params: Readonly<Record<string, unknown>>): boolean {
  if (rule.task !== undefined && rule.task !== task) return false
  if (rule.parameter === undefined) return true
  if (!Object.hasOwn(params, rule.parameter)) return false
  return compare(params[rule.parameter], rule.operator, rule.value)
}

/** Rules in the order a {@link StrikeSet} keeps them: oldest first, ties by id. Sorts in place. */
export function oldestFirst(rules: Strike[]): Strike[] {
  return rules.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
}

/** Version token of a strike set that was never read from Redis; it matches no stored version. */
export const UNLOADED_STRIKES_VERSION = '!unloaded'

/** An in-memory copy of a shadow's strikes, tagged with the version token it was read at. */
export class StrikeSet {
  /** The strikes version in Redis this copy reflects ("" means: no strikes). */
  readonly version: string
  readonly rules: readonly Strike[]

  constructor(version: string, rules: readonly Strike[]) {
    this.version = version
    this.rules = rules
  }

  /** The first rule striking this task, if any. */
  match(task: string, params: Readonly<Record<string, unknown>>): Strike | undefined {
    if (this.rules.length === 0) return undefined
    return this.rules.find((r) => strikeMatches(r, task, params))
  }
}

/** Describes a strike in one line, for errors and logs. */
export function describeStrike(strike: Omit<Strike, 'id' | 'createdAt'>): string {
  const parts: string[] = []
  if (strike.task !== undefined) parts.push(`task ${strike.task}`)
  if (strike.parameter !== undefined) parts.push(`${strike.parameter} ${strike.operator} ${JSON.stringify(strike.value)}`)
  return parts.join(' where ')
}
