/**
 * Pure strike logic: rule validation and normalisation, stable ids, matching per operator and
 * JSON type, and the in-memory StrikeSet.
 */
import t from 'tap'
import { STRIKE_OPERATORS, ShadowsError } from '../../src/index.js'
import { StrikeSet, canonicalJson, normalizeStrike, strikeId, strikeMatches, type JsonValue, type Strike, type StrikeOperator } from '../../src/core/strikes.js'
import { throwsCode } from '../helpers/engine-rules.js'

type Rule = Omit<Strike, 'id' | 'createdAt'>

/** A parameter rule on `p`, normalised as the library would store it. */
function rule(operator: StrikeOperator, value: JsonValue, extra: { task?: string; parameter?: string } = {}): Rule {
  return normalizeStrike({ parameter: 'p', ...extra, operator, value })
}

/** Whether the rule strikes task `job` whose param `p` is `actual`. */
function hits(r: Rule, actual: JsonValue): boolean {
  return strikeMatches(r, 'job', { p: actual })
}

/** One sample value of each JSON type. */
const SAMPLES: Record<string, JsonValue> = {
  number: 1,
  string: '1',
  boolean: true,
  null: null,
  array: [1],
  object: { a: 1 },
}

t.test('normalizeStrike: valid rules and their normal form', async (t) => {
  t.same(normalizeStrike({ task: 'send' }), { task: 'send', operator: '==' }, 'whole task: operator defaults to ==, no value')
  t.same(normalizeStrike({ task: 'send', operator: '==' }), { task: 'send', operator: '==' }, 'explicit == on a whole task is fine')
  t.same(normalizeStrike({ parameter: 'customer', value: 42 }), { parameter: 'customer', operator: '==', value: 42 }, 'parameter across tasks')
  t.same(
    normalizeStrike({ task: 'send', parameter: 'customer', operator: '!=', value: 'x' }),
    { task: 'send', parameter: 'customer', operator: '!=', value: 'x' },
    'task plus parameter',
  )
  t.same(normalizeStrike({ parameter: 'n', operator: 'between', value: [1, 5] }), { parameter: 'n', operator: 'between', value: [1, 5] })
  t.same(normalizeStrike({ parameter: 'n', operator: 'between', value: [3, 3] }), { parameter: 'n', operator: 'between', value: [3, 3] }, 'lo == hi')
  t.same(normalizeStrike({ parameter: 's', operator: 'between', value: ['a', 'm'] }), { parameter: 's', operator: 'between', value: ['a', 'm'] })
  for (const op of ['>', '>=', '<', '<='] as const) {
    t.same(normalizeStrike({ parameter: 'n', operator: op, value: 10 }), { parameter: 'n', operator: op, value: 10 }, `${op} on a number`)
    t.same(normalizeStrike({ parameter: 'n', operator: op, value: 'k' }), { parameter: 'n', operator: op, value: 'k' }, `${op} on a string`)
  }
  for (const [type, value] of Object.entries(SAMPLES)) {
    t.same(normalizeStrike({ parameter: 'p', operator: '==', value }), { parameter: 'p', operator: '==', value }, `== on a ${type}`)
    t.same(normalizeStrike({ parameter: 'p', operator: '!=', value }), { parameter: 'p', operator: '!=', value }, `!= on a ${type}`)
  }
  const normal = normalizeStrike({ parameter: 'o', value: { b: 2, a: { d: 1, c: [3, { f: 1, e: 2 }] } } })
  t.equal(canonicalJson(normal.value), '{"a":{"c":[3,{"e":2,"f":1}],"d":1},"b":2}')
  t.equal(JSON.stringify(normal.value), '{"a":{"c":[3,{"e":2,"f":1}],"d":1},"b":2}', 'object keys are stored sorted')
  t.same(STRIKE_OPERATORS, ['==', '!=', '>', '>=', '<', '<=', 'between'])
})

t.test('normalizeStrike: invalid rules throw SHADOWS_ERR_VALIDATION', async (t) => {
  const invalid: [string, unknown][] = [
    ['null', null],
    ['a string', 'send'],
    ['an array', [{ task: 'send' }]],
    ['no task and no parameter', {}],
    ['only an operator and value', { operator: '==', value: 1 }],
    ['parameter without value', { parameter: 'customer' }],
    ['parameter with operator but without value', { parameter: 'customer', operator: '>' }],
    ['task with an operator but no parameter', { task: 'send', operator: '!=' }],
    ['task with a value but no parameter', { task: 'send', value: 1 }],
    ['between with a number', { parameter: 'n', operator: 'between', value: 5 }],
    ['between with one element', { parameter: 'n', operator: 'between', value: [1] }],
    ['between with three elements', { parameter: 'n', operator: 'between', value: [1, 2, 3] }],
    ['between with an object', { parameter: 'n', operator: 'between', value: { lo: 1, hi: 2 } }],
    ['between with mixed types', { parameter: 'n', operator: 'between', value: [1, 'z'] }],
    ['between with booleans', { parameter: 'n', operator: 'between', value: [false, true] }],
    ['between with nulls', { parameter: 'n', operator: 'between', value: [null, null] }],
    ['between with lo > hi', { parameter: 'n', operator: 'between', value: [5, 1] }],
    ['between with lo > hi (strings)', { parameter: 'n', operator: 'between', value: ['z', 'a'] }],
    ['unknown operator', { parameter: 'n', operator: 'like', value: 1 }],
    ['= is not an operator', { parameter: 'n', operator: '=', value: 1 }],
    ['operator not a string', { parameter: 'n', operator: 1, value: 1 }],
    ['unknown field', { task: 'send', reason: 'because' }],
    ['unknown field beside a valid parameter rule', { parameter: 'n', value: 1, op: '==' }],
    ['empty task', { task: '' }],
    ['task not a string', { task: 5 }],
    ['task too long', { task: 'x'.repeat(101) }],
    ['empty parameter', { parameter: '', value: 1 }],
    ['parameter not a string', { parameter: 1, value: 1 }],
    ['parameter too long', { parameter: 'p'.repeat(201), value: 1 }],
  ]
  for (const op of ['>', '>=', '<', '<='] as const) {
    invalid.push([`${op} on a boolean`, { parameter: 'n', operator: op, value: true }])
    invalid.push([`${op} on null`, { parameter: 'n', operator: op, value: null }])
    invalid.push([`${op} on an array`, { parameter: 'n', operator: op, value: [1] }])
    invalid.push([`${op} on an object`, { parameter: 'n', operator: op, value: { a: 1 } }])
    invalid.push([`${op} on Infinity`, { parameter: 'n', operator: op, value: Infinity }])
  }
  // JSON has no such numbers: stored, they would turn into null and match nulls
  invalid.push(['== on NaN', { parameter: 'n', value: Number.NaN }])
  invalid.push(['!= on an array holding Infinity', { parameter: 'n', operator: '!=', value: [1, -Infinity] }])
  invalid.push(['== on an object holding Infinity', { parameter: 'n', value: { a: { b: Infinity } } }])
  for (const [what, input] of invalid) {
    const err = throwsCode(t, () => normalizeStrike(input), 'SHADOWS_ERR_VALIDATION', `${what} is refused`)
    t.type(err, ShadowsError, `${what}: a ShadowsError`)
  }
  t.ok(normalizeStrike({ task: 'x'.repeat(100) }), 'a 100-char task name is fine')
  t.ok(normalizeStrike({ parameter: 'p'.repeat(200), value: 1 }), 'a 200-char parameter name is fine')
})

t.test('strikeId: the same rule always gets the same id, different rules different ids', async (t) => {
  const id = strikeId(normalizeStrike({ task: 'send' }))
  t.match(id, /^[0-9a-f]{16}$/)
  t.equal(strikeId(normalizeStrike({ task: 'send', operator: '==' })), id, 'explicit default operator: same id')
  t.equal(
    strikeId(normalizeStrike({ parameter: 'o', value: { a: 1, b: [1, { c: 2, d: 3 }] } })),
    strikeId(normalizeStrike({ parameter: 'o', value: { b: [1, { d: 3, c: 2 }], a: 1 } })),
    'object key order does not change the id',
  )
  const rules = [
    { task: 'send' },
    { task: 'receive' },
    { parameter: 'send', value: 1 },
    { parameter: 'customer', value: 1 },
    { parameter: 'customer', value: '1' },
    { parameter: 'customer', value: true },
    { parameter: 'customer', value: null },
    { parameter: 'customer', value: [1] },
    { parameter: 'customer', operator: '!=', value: 1 },
    { parameter: 'customer', operator: '>', value: 1 },
    { parameter: 'customer', operator: '>=', value: 1 },
    { parameter: 'customer', operator: '<', value: 1 },
    { parameter: 'customer', operator: '<=', value: 1 },
    { parameter: 'customer', operator: 'between', value: [1, 2] },
    { parameter: 'customer', operator: 'between', value: [1, 3] },
    { task: 'send', parameter: 'customer', value: 1 },
    { task: 'receive', parameter: 'customer', value: 1 },
    { parameter: 'client', value: 1 },
  ] as const
  const ids = rules.map((r) => strikeId(normalizeStrike(r)))
  t.equal(new Set(ids).size, rules.length, 'every distinct rule has its own id')
  t.same(
    rules.map((r) => strikeId(normalizeStrike(r))),
    ids,
    'ids are deterministic',
  )
})

t.test('== and != per JSON type', async (t) => {
  const cases: [JsonValue, JsonValue, boolean][] = [
    [1, 1, true],
    [1, 2, false],
    [1.5, 1.5, true],
    [0, -0, true],
    ['a', 'a', true],
    ['a', 'A', false],
    ['', '', true],
    [true, true, true],
    [true, false, false],
    [false, false, true],
    [null, null, true],
    [[1, 2], [1, 2], true],
    [[1, 2], [2, 1], false],
    [[], [], true],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [{ a: 1 }, { a: 1, b: 1 }, false],
    [{ a: [1, { b: null }] }, { a: [1, { b: null }] }, true],
  ]
  for (const [ruleValue, actual, equal] of cases) {
    const label = `${JSON.stringify(actual)} vs ${JSON.stringify(ruleValue)}`
    t.equal(hits(rule('==', ruleValue), actual), equal, `== ${label}`)
    t.equal(hits(rule('!=', ruleValue), actual), !equal, `!= ${label}`)
  }
})

t.test('ordering operators on numbers and strings', async (t) => {
  const numbers: [StrikeOperator, number, number, boolean][] = [
    ['>', 10, 11, true],
    ['>', 10, 10, false],
    ['>', 10, 9, false],
    ['>', 10, 10.001, true],
    ['>', -1, 0, true],
    ['>=', 10, 11, true],
    ['>=', 10, 10, true],
    ['>=', 10, 9, false],
    ['<', 10, 9, true],
    ['<', 10, 10, false],
    ['<', 10, 11, false],
    ['<', 0, -0.5, true],
    ['<=', 10, 9, true],
    ['<=', 10, 10, true],
    ['<=', 10, 11, false],
  ]
  for (const [op, value, actual, expected] of numbers) {
    t.equal(hits(rule(op, value), actual), expected, `${actual} ${op} ${value}`)
  }
  const strings: [StrikeOperator, string, string, boolean][] = [
    ['>', 'm', 'n', true],
    ['>', 'm', 'm', false],
    ['>', 'm', 'a', false],
    ['>', 'm', 'ma', true],
    ['>=', 'm', 'm', true],
    ['>=', 'm', 'l', false],
    ['<', 'm', 'l', true],
    ['<', 'm', 'm', false],
    ['<', 'm', '', true],
    ['<=', 'm', 'm', true],
    ['<=', 'm', 'n', false],
    ['<', 'b', 'B', true],
    ['>', '10', '9', true], // strings compare as text
  ]
  for (const [op, value, actual, expected] of strings) {
    t.equal(hits(rule(op, value), actual), expected, `${JSON.stringify(actual)} ${op} ${JSON.stringify(value)}`)
  }
})

t.test('between is inclusive on both ends, for numbers and strings', async (t) => {
  const numeric = rule('between', [10, 20])
  for (const [actual, expected] of [
    [9, false],
    [9.999, false],
    [10, true],
    [15, true],
    [20, true],
    [20.001, false],
    [21, false],
  ] as const) {
    t.equal(hits(numeric, actual), expected, `${actual} between [10, 20]`)
  }
  const single = rule('between', [7, 7])
  t.equal(hits(single, 7), true, '7 between [7, 7]')
  t.equal(hits(single, 8), false, '8 between [7, 7]')
  const text = rule('between', ['b', 'd'])
  for (const [actual, expected] of [
    ['a', false],
    ['b', true],
    ['c', true],
    ['czz', true],
    ['d', true],
    ['da', false],
    ['e', false],
  ] as const) {
    t.equal(hits(text, actual), expected, `${actual} between ["b", "d"]`)
  }
})

t.test('values of different JSON types never match, whatever the operator', async (t) => {
  const rulesByType: [string, Rule][] = []
  for (const [type, value] of Object.entries(SAMPLES)) {
    rulesByType.push([`== ${type}`, rule('==', value)])
    rulesByType.push([`!= ${type}`, rule('!=', value)])
  }
  for (const op of ['>', '>=', '<', '<='] as const) {
    rulesByType.push([`${op} number`, rule(op, 1)])
    rulesByType.push([`${op} string`, rule(op, '1')])
  }
  rulesByType.push(['between numbers', rule('between', [0, 2])])
  rulesByType.push(['between strings', rule('between', ['0', '2'])])
  for (const [label, r] of rulesByType) {
    const ruleType =
      r.operator === 'between' ? typeof (r.value as JsonValue[])[0] : r.value === null ? 'null' : Array.isArray(r.value) ? 'array' : typeof r.value
    for (const [type, actual] of Object.entries(SAMPLES)) {
      if (type === ruleType) continue
      t.equal(hits(r, actual), false, `${label} does not match a ${type} (${JSON.stringify(actual)})`)
    }
  }
  // the same samples do match within their own type, so the loop above is not vacuous
  t.equal(hits(rule('==', 1), 1), true)
  t.equal(hits(rule('!=', '1'), '2'), true)
  t.equal(hits(rule('between', ['0', '2']), '1'), true)
  t.equal(hits(rule('>=', 1), 1), true)
  // the classic confusions
  t.equal(hits(rule('==', 1), '1'), false, 'customer == 1 does not match customer: "1"')
  t.equal(hits(rule('==', '1'), 1), false, 'customer == "1" does not match customer: 1')
  t.equal(hits(rule('!=', 1), '1'), false, 'customer != 1 does not match customer: "1"')
  t.equal(hits(rule('==', 0), false), false, '0 is not false')
  t.equal(hits(rule('==', null), 0), false, 'null is not 0')
  t.equal(hits(rule('!=', null), 0), false, '!= null does not match a number')
  t.equal(hits(rule('==', [1]), { 0: 1 }), false, 'an array is not an object')
})

t.test('strikeMatches: task, parameter presence and combinations', async (t) => {
  const whole = normalizeStrike({ task: 'send' })
  t.equal(strikeMatches(whole, 'send', {}), true, 'whole task, no params')
  t.equal(strikeMatches(whole, 'send', { customer: 1 }), true, 'whole task, any params')
  t.equal(strikeMatches(whole, 'sendmail', {}), false, 'another task')
  t.equal(strikeMatches(whole, 'Send', {}), false, 'task names are case-sensitive')

  const across = normalizeStrike({ parameter: 'customer', value: 42 })
  t.equal(strikeMatches(across, 'send', { customer: 42 }), true, 'parameter rule, task send')
  t.equal(strikeMatches(across, 'bill', { customer: 42, other: 1 }), true, 'parameter rule, task bill')
  t.equal(strikeMatches(across, 'bill', { customer: 43 }), false, 'other value')
  t.equal(strikeMatches(across, 'bill', { client: 42 }), false, 'task without the parameter')
  t.equal(strikeMatches(across, 'bill', {}), false, 'task with no params')

  const notEqual = normalizeStrike({ parameter: 'customer', operator: '!=', value: 42 })
  t.equal(strikeMatches(notEqual, 'send', { customer: 7 }), true)
  t.equal(strikeMatches(notEqual, 'send', {}), false, '!= matches only tasks that have the parameter')
  t.equal(strikeMatches(notEqual, 'send', { other: 7 }), false, '!= ignores other parameters')
  t.equal(strikeMatches(notEqual, 'send', { customer: null }), false, '!= a number does not match null')
  const inherited = normalizeStrike({ parameter: 'toString', operator: '!=', value: 'x' })
  t.equal(strikeMatches(inherited, 'send', {}), false, 'inherited properties are not parameters')
  const undef = normalizeStrike({ parameter: 'customer', operator: '!=', value: 1 })
  t.equal(strikeMatches(undef, 'send', { customer: undefined }), false, 'an undefined value is no JSON value')

  const both = normalizeStrike({ task: 'send', parameter: 'customer', operator: '>=', value: 100 })
  t.equal(strikeMatches(both, 'send', { customer: 100 }), true, 'task and parameter both match')
  t.equal(strikeMatches(both, 'send', { customer: 99 }), false, 'task matches, parameter does not')
  t.equal(strikeMatches(both, 'bill', { customer: 100 }), false, 'parameter matches, task does not')
  t.equal(strikeMatches(both, 'send', {}), false, 'task matches, parameter absent')

  const nested = normalizeStrike({ parameter: 'target', value: { id: 1, region: 'eu' } })
  t.equal(strikeMatches(nested, 'send', { target: { region: 'eu', id: 1 } }), true, 'objects compare by content')
  t.equal(strikeMatches(nested, 'send', { target: { region: 'us', id: 1 } }), false)
})

t.test('StrikeSet: first matching rule, whole-task rules, empty set', async (t) => {
  const stamp = (r: Rule, createdAt: string): Strike => ({ id: strikeId(r), ...r, createdAt })
  const a = stamp(normalizeStrike({ parameter: 'customer', operator: '>', value: 10 }), '2026-01-01T00:00:00.000Z')
  const b = stamp(normalizeStrike({ task: 'send' }), '2026-01-01T00:00:01.000Z')
  const c = stamp(normalizeStrike({ task: 'bill', parameter: 'customer', value: 5 }), '2026-01-01T00:00:02.000Z')
  const set = new StrikeSet('v1', [a, b, c])
  t.equal(set.version, 'v1')
  t.same(set.rules, [a, b, c])
  t.equal(set.match('send', { customer: 11 })?.id, a.id, 'the first matching rule wins')
  t.equal(set.match('send', { customer: 1 })?.id, b.id)
  t.equal(set.match('send', {})?.id, b.id)
  t.equal(set.match('bill', { customer: 5 })?.id, c.id)
  t.equal(set.match('bill', { customer: 6 }), undefined)
  t.equal(set.match('bill', {}), undefined)
  t.equal(set.match('other', { customer: '11' }), undefined, 'type mismatch in a set')
  t.equal(set.match('send', { anything: 'at all' })?.id, b.id, 'a rule without a parameter strikes the whole task')
  t.equal(set.match('bill', { anything: 'at all' }), undefined, 'a task plus parameter rule does not strike the whole task')
  t.equal(set.match('other', {}), undefined)

  const empty = new StrikeSet('', [])
  t.equal(empty.match('send', { customer: 11 }), undefined)
  t.equal(empty.match('send', {}), undefined)
})
