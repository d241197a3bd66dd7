/**
 * The checks shared by the library and the gateway: task names, keys, due times, params.
 */
import t from 'tap'
import {
  MAX_DUE,
  assertParamsObject,
  holdsNonFinite,
  isValidKey,
  isValidTaskName,
  paramsJson,
  parseWhen,
  resolveDue,
  rewritesPrototype,
} from '../../src/core/validation.js'
import { throwsCode } from '../helpers/engine-rules.js'

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)

t.test('task names: the pattern, and never a name that rewrites a prototype', async (t) => {
  for (const name of ['a', 'mail.send:v2_final-1', 'x'.repeat(100)]) t.ok(isValidTaskName(name), name)
  for (const name of ['', 'x'.repeat(101), 'a b', 'a@b', 'a/b', '__proto__', 'constructor', 'prototype', 5, null]) {
    t.notOk(isValidTaskName(name), JSON.stringify(name))
  }
})

t.test('keys: 1-200 characters of the key alphabet, other than . and ..', async (t) => {
  for (const key of ['k', 'user@example.com', 'report:2026-01-01', '...', 'x'.repeat(200)]) t.ok(isValidKey(key), key)
  for (const key of ['', '.', '..', 'x'.repeat(201), 'a b', 'a/b', 'caf\u00e9', 7]) t.notOk(isValidKey(key), JSON.stringify(key))
})

t.test('due times: a Date, epoch ms, or RFC 3339 with an offset; whole ms', async (t) => {
  t.equal(parseWhen(new Date(NOW)), NOW)
  t.equal(parseWhen(NOW + 0.9), NOW, 'fractions of a ms are dropped')
  t.equal(parseWhen('2026-01-15T12:00:00Z'), NOW)
  t.equal(parseWhen('2026-01-15T13:00:00+01:00'), NOW, 'the offset counts')
  t.equal(parseWhen('2026-01-15t12:00:00.250z'), NOW + 250, 'lowercase t and z, and a fraction')
  t.equal(parseWhen('9999-12-31T23:59:59.999Z'), MAX_DUE, 'the last time RFC 3339 can write')
})

t.test('due times refused: no offset, a day the calendar lacks, hour 24, out of range, not a time', async (t) => {
  const refused: [string, unknown][] = [
    ['no offset', '2026-01-15T12:00:00'],
    ['a date only', '2026-01-15'],
    ['30 February', '2030-02-30T00:00:00Z'],
    ['29 February of a common year', '2027-02-29T00:00:00Z'],
    ['month 13', '2026-13-01T00:00:00Z'],
    ['hour 24', '2026-01-15T24:00:00Z'],
    ['past the year 9999', MAX_DUE + 1],
    ['NaN', Number.NaN],
    ['an invalid Date', new Date('nope')],
    ['a boolean', true],
  ]
  for (const [what, when] of refused) throwsCode(t, () => parseWhen(when as never), 'SHADOWS_ERR_VALIDATION', what)
  t.equal(parseWhen('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29), '29 February of a leap year is a day')
})

t.test('resolveDue: when or delay, not both; nothing means now; a past time is kept (it runs at once)', async (t) => {
  t.equal(resolveDue({}, NOW), NOW)
  t.equal(resolveDue({ delay: 1500 }, NOW), NOW + 1500)
  t.equal(resolveDue({ delay: 0.7 }, NOW), NOW, 'a delay in whole ms')
  t.equal(resolveDue({ when: NOW + 60_000 }, NOW), NOW + 60_000)
  t.equal(resolveDue({ when: '2020-01-01T00:00:00Z' }, NOW), Date.UTC(2020, 0, 1), 'a past time is kept as given')
  throwsCode(t, () => resolveDue({ when: NOW, delay: 5 }, NOW), 'SHADOWS_ERR_VALIDATION', 'both')
  for (const delay of [-1, Number.POSITIVE_INFINITY, Number.NaN, MAX_DUE]) {
    throwsCode(t, () => resolveDue({ delay }, NOW), 'SHADOWS_ERR_VALIDATION', `delay ${delay}`)
  }
})

t.test('params: a plain object, written as JSON, with no prototype rewrite and no number JSON lacks', async (t) => {
  t.doesNotThrow(() => assertParamsObject('greet', {}))
  for (const params of [null, [], 'x', 3, undefined])
    throwsCode(t, () => assertParamsObject('greet', params), 'SHADOWS_ERR_INVALID_PARAMS', JSON.stringify(params) ?? 'undefined')
  t.equal(paramsJson('greet', { name: 'Jane', tags: ['a'], n: null }), '{"name":"Jane","tags":["a"],"n":null}')
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const refused: [string, Record<string, unknown>][] = [
    ['not serializable', { n: 1n }],
    ['cyclic', cyclic],
    ['__proto__ key', JSON.parse('{"a":{"__proto__":{"x":1}}}') as Record<string, unknown>],
    ['constructor.prototype', { constructor: { prototype: { x: 1 } } }],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['NaN deep down', { a: [{ b: Number.NaN }] }],
  ]
  for (const [what, params] of refused) throwsCode(t, () => paramsJson('greet', params), 'SHADOWS_ERR_INVALID_PARAMS', what)
  t.equal(paramsJson('greet', { prototype: 'just a word', constructor: 'too' }), '{"prototype":"just a word","constructor":"too"}', 'names alone are fine')
})

t.test('the walks behind the params checks need no recursion: deep nesting is no stack overflow', async (t) => {
  let deep: unknown = 1
  for (let i = 0; i < 100_000; i++) deep = [deep]
  t.equal(holdsNonFinite(deep), false)
  t.equal(rewritesPrototype(deep), false)
  t.equal(holdsNonFinite({ at: new Date(NaN) }), false, 'a value with toJSON is written by it, not walked')
})
