/**
 * fast-check generators of hostile HTTP input for the gateway: task names, keys, params,
 * timestamps and delays, whole bodies (valid, near misses, mangled JSON, bytes that are not UTF-8),
 * path segments, authorization and content-type headers, query strings. Used by
 * test/gateway/fuzz.test.ts.
 */
import fc from 'fast-check'
import { Type } from '@sinclair/typebox'
import { defineTask, type AnyTask } from '../../src/index.js'

/** The tokens of the fuzzed gateway; {@link authorization} presents them, right and wrong. */
export const FUZZ_TOKENS = 'fuzz-enqueue-token:enqueue;fuzz-read-token:read;fuzz-ops-token:ops'

/** Tasks with real schemas: required and optional fields, closed objects, enums, bounds. */
export const FUZZ_TASKS: readonly AnyTask[] = [
  defineTask({
    name: 'greet',
    params: Type.Object({ name: Type.String(), greeting: Type.Optional(Type.String()) }),
    async run() {
      throw new Error('no task may run in this test')
    },
  }),
  defineTask({
    name: 'resize',
    params: Type.Object(
      {
        width: Type.Integer({ minimum: 1, maximum: 10_000 }),
        height: Type.Integer({ minimum: 1, maximum: 10_000 }),
        format: Type.Union([Type.Literal('png'), Type.Literal('jpeg')]),
        tags: Type.Optional(Type.Array(Type.String(), { maxItems: 5 })),
      },
      { additionalProperties: false },
    ),
    async run() {
      throw new Error('no task may run in this test')
    },
  }),
  defineTask({
    name: 'ping',
    async run() {
      throw new Error('no task may run in this test')
    },
  }),
]

/** Strings of every kind: ASCII, any code point, lone surrogates, control characters. */
export const anyString = (maxLength = 40) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), maxLength: 4 }),
    fc.string({ unit: fc.constantFrom('\u0000', '\n', '\r', '\t', '\u2028', '\ufeff', '%', '/', '\\', '"', '{', '}'), maxLength }),
  )

/** A small pool of valid keys, used in bodies and paths alike so that reads and cancels find something. */
export const VALID_KEYS = ['k1', 'k2', 'order-42', 'a.b:c@d_e', '__proto__', 'constructor', 'x'.repeat(200)] as const
/** Task keys a client might send in a body, good and bad. */
export const taskKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALID_KEYS) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:@-]{1,12}$/) },
  { weight: 3, arbitrary: anyString() },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '..', '.', '/', '../etc/passwd', 'a/b', 'a b', '{x}', '*', '?', 'k'.repeat(201), 'k'.repeat(5000)) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 2 })) },
)

/** Task names that look like paths, code or members of Object.prototype, and near misses. */
export const HOSTILE_NAMES = [
  '../../etc/passwd',
  'process.exit',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'greet; rm -rf /',
  '<script>alert(1)</script>',
  '${process.exit()}',
  'GREET',
  'greet ',
  'greet\u0000',
  'require("fs")',
]
/** Task names: registered ones, hostile ones, anything. */
export const taskName = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom('greet', 'resize', 'ping') },
  { weight: 2, arbitrary: fc.constantFrom(...HOSTILE_NAMES) },
  { weight: 2, arbitrary: anyString() },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.constant('greet'), { maxLength: 2 }), fc.jsonValue({ maxDepth: 2 })) },
)

/** Object keys that stress parsers and lookups, mixed with ordinary ones. */
export const objectKey = fc.oneof(
  fc.constantFrom(
    'name',
    'greeting',
    'width',
    'height',
    'format',
    'tags',
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'valueOf',
    'hasOwnProperty',
    '__defineGetter__',
    '',
  ),
  fc.string({ maxLength: 12 }),
)

/** Params: valid ones for each task, near misses, and arbitrary JSON. */
export const params = fc.oneof(
  { weight: 3, arbitrary: fc.record({ name: fc.string({ maxLength: 30 }), greeting: fc.string({ maxLength: 10 }) }, { requiredKeys: ['name'] }) },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        width: fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.double(), fc.string({ maxLength: 5 })),
        height: fc.integer({ min: 1, max: 10_000 }),
        format: fc.constantFrom('png', 'jpeg', 'gif', 'PNG', ''),
        tags: fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 7 }),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 2, arbitrary: fc.dictionary(objectKey, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
)

/** Due times: valid RFC 3339 with offsets, and every way to get one wrong. */
export const timestamp = fc.oneof(
  fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 12_000 }),
      fc.integer({ min: 0, max: 14 }),
      fc.integer({ min: 0, max: 33 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
    )
    .chain(([y, mo, d, h, mi]) =>
      fc.constantFrom(
        `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:00Z`,
        `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:00:${String(mi).padStart(2, '0')}+${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}`,
        `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}T10:00:00`,
        `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`,
      ),
    ),
  fc.constantFrom(
    '2026-11-28t10:00:00z',
    '2026-11-28 10:00:00Z',
    '2026-11-28T10:00:00.123456789+05:30',
    '2026-12-31T23:59:60Z',
    '2026-02-30T00:00:00Z',
    '+010000-01-01T00:00:00Z',
    'now',
    'tomorrow',
    '',
  ),
  anyString(30),
  fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.boolean()),
)

/** Delays: fine ones, negative, fractional, huge, not numbers. */
export const delay = fc.oneof(
  fc.nat({ max: 86_400_000 }),
  fc.double(),
  fc.constantFrom(-1, -0, 0.5, 1e300, 8.64e15, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE),
  fc.oneof(fc.string({ maxLength: 8 }), fc.constant(null), fc.boolean(), fc.array(fc.nat(), { maxLength: 2 })),
)

/** Extra top-level fields a client might add. */
export const extraFields = fc.dictionary(
  fc.constantFrom('priority', 'queue', 'constructor', 'toString', 'Task', 'PARAMS', 'key '),
  fc.jsonValue({ maxDepth: 1 }),
  { maxKeys: 2 },
)

/** A body shaped like POST /tasks, each field present or not, each possibly wrong. */
export const addLike = fc
  .tuple(fc.record({ task: taskName, params, key: taskKey, when: timestamp, delay }, { requiredKeys: [] }), fc.option(extraFields, { freq: 6 }))
  .map(([body, extra]) => ({ ...body, ...(extra ?? {}) }))

/** A body POST /tasks should accept (unless the key is taken or a strike matches): valid fields, some absent. */
export const validAdd = fc
  .record({
    task: fc.constantFrom('greet', 'resize', 'ping'),
    key: fc.option(fc.oneof(fc.constantFrom(...VALID_KEYS), fc.stringMatching(/^[A-Za-z0-9._:@-]{1,40}$/)), { nil: undefined }),
    timing: fc.oneof(
      fc.constant({}),
      fc.nat({ max: 86_400_000 }).map((ms) => ({ delay: ms })),
      fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => ({ when: d.toISOString() })),
    ),
    name: fc.string({ unit: 'binary', maxLength: 30 }),
    size: fc.tuple(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), fc.constantFrom('png', 'jpeg')),
  })
  .map(({ task, key, timing, name, size: [width, height, format] }) => ({
    task,
    ...(task === 'greet' ? { params: { name } } : task === 'resize' ? { params: { width, height, format } } : {}),
    ...(key !== undefined ? { key } : {}),
    ...timing,
  }))

/** JSON text that is not quite JSON: cut short, with a byte changed, or hostile keys spliced in. */
export function mangled(value: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(value, fc.nat()).map(([v, n]) => {
      const text = JSON.stringify(v) ?? ''
      return text.slice(0, n % (text.length + 1))
    }),
    fc.tuple(value, fc.nat(), fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', '\u0000', 'NaN', 'undefined', "'", '//', '/*')).map(([v, n, c]) => {
      const text = JSON.stringify(v) ?? ''
      const at = n % (text.length + 1)
      return text.slice(0, at) + c + text.slice(at)
    }),
    fc
      .tuple(
        value,
        fc.constantFrom('"__proto__":{"polluted":true}', '"constructor":{"prototype":{"polluted":true}}', '"\\u005f\\u005fproto__":{"polluted":true}'),
      )
      .map(([v, hostile]) => {
        const text = JSON.stringify(v) ?? '{}'
        return text.startsWith('{') && text.length > 2 ? `{${hostile},${text.slice(1)}` : `{${hostile}}`
      }),
    fc.nat({ max: 400 }).map((depth) => `{"task":"greet","params":{"name":"x","deep":${'['.repeat(depth)}${']'.repeat(depth)}}}`),
  )
}

/** JSON text with raw bytes spliced in: invalid UTF-8 (lone continuation bytes, overlong forms, surrogates), NUL. */
export function withRawBytes(value: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer> {
  const bytes = fc.oneof(
    fc.constantFrom(
      [0xff],
      [0xfe, 0xff],
      [0x80],
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0xc3],
      [0x00],
      [0xef, 0xbb, 0xbf],
    ),
    fc.uint8Array({ minLength: 1, maxLength: 6 }).map((a) => [...a]),
  )
  return fc.tuple(value, fc.nat(), bytes).map(([v, n, raw]) => {
    const text = Buffer.from(JSON.stringify(v) ?? 'null')
    const at = n % (text.length + 1)
    return Buffer.concat([text.subarray(0, at), Buffer.from(raw), text.subarray(at)])
  })
}

/** A request body: a JSON value (usually shaped like the route's), JSON text gone wrong, raw bytes, or any string. */
export function bodyFor(shaped: fc.Arbitrary<unknown>): fc.Arbitrary<string | Buffer> {
  return fc.oneof(
    { weight: 6, arbitrary: shaped.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: mangled(shaped) },
    { weight: 1, arbitrary: withRawBytes(shaped) },
    { weight: 1, arbitrary: anyString(60) },
  )
}

/** A strike POST /strikes should accept: never on greet or resize as a whole, nor on values the other properties send. */
export const validStrike = fc.oneof(
  fc.constantFrom('ping', 'nope', ...HOSTILE_NAMES).map((task) => ({ task })),
  fc
    .tuple(
      fc.constantFrom('width', 'tags', 'toString', '__proto__', 'constructor', 'colour'),
      fc.constantFrom('==', '!=', '>', '>=', '<', '<='),
      fc.oneof(fc.integer({ min: 20_000 }), fc.constant('mauve')),
    )
    .map(([parameter, operator, value]) => ({ parameter, operator: operator === '!=' ? '==' : operator, value })),
  fc
    .tuple(fc.integer({ min: 20_000, max: 30_000 }), fc.integer({ min: 30_000, max: 40_000 }))
    .map(([lo, hi]) => ({ task: 'resize', parameter: 'height', operator: 'between', value: [lo, hi] })),
)

/** A body shaped like POST /strikes, each field present or not, each possibly wrong. */
export const strikeLike = fc.record(
  {
    // never a whole-task strike on greet or resize: that would refuse every later add of them
    task: fc.oneof(fc.constantFrom('ping', 'nope', ...HOSTILE_NAMES), anyString(), fc.integer(), fc.constant(null)),
    parameter: fc.oneof(fc.constantFrom('name', 'width', 'format', '__proto__', 'constructor', 'toString', ''), anyString(), fc.integer()),
    operator: fc.oneof(fc.constantFrom('==', '!=', '>', '>=', '<', '<=', 'between', '=', 'like', 'BETWEEN'), anyString(6)),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.tuple(fc.integer(), fc.integer()), fc.constant('Jane')),
  },
  { requiredKeys: [] },
)

/** A path segment: a pool key, a generated one written raw or %-escaped, or a malformed escape. */
export const pathSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALID_KEYS) },
  { weight: 3, arbitrary: anyString(30).map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))) },
  { weight: 2, arbitrary: anyString(30).map((s) => s.replace(/[\ud800-\udfff]/g, '')) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '..%2f..%2fetc%2fpasswd',
      'a%2Fb',
      '%00',
      '%',
      '%zz',
      '%E0%A4%A',
      '%FF%FE',
      '%C0%AF',
      '%ED%A0%80',
      'a;b',
      'k?x=1',
      'k#frag',
      '%20',
      'a//b',
      '.%2e/x',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 150, max: 3000 }).map((n) => 'k'.repeat(n)) },
)

/** Authorization headers: valid tokens, odd casing and spacing, garbage. */
export const authorization = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'Bearer fuzz-ops-token',
      'Bearer fuzz-enqueue-token',
      'Bearer fuzz-read-token',
      'bEaReR fuzz-ops-token',
      'Bearer   fuzz-read-token  ',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Bearer',
      'Bearer ',
      'Basic Zm9vOmJhcg==',
      'fuzz-ops-token',
      'Bearer fuzz-ops-token fuzz-ops-token',
      'Bearer fuzz-ops-tokeN',
      'Bearer fuzz-ops-toke',
      'Bearerfuzz-ops-token',
      'Token fuzz-ops-token',
      '',
    ),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, '')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 60 }).map((s) => `Bearer ${s.replace(/[\r\n]/g, '')}`) },
)

/** Content types: JSON in its spellings, near misses, other types, garbage. */
export const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json;charset=latin1',
    'application/json; charset="utf-8"; foo=bar',
    'application/json, text/plain',
    ' application/json',
    'application/jsonx',
    'application/vnd.api+json',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/octet-stream',
    '*/*',
    '',
  ),
  fc.string({ unit: 'binary-ascii', maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')),
)

/** Query strings: nothing, the usual, pollution attempts, and anything. */
export const queryString = fc.oneof(
  fc.constant(''),
  fc.constantFrom(
    '?',
    '?a=1',
    '?a=1&a=2',
    '?__proto__[polluted]=1',
    '?constructor[prototype][polluted]=1',
    '?__proto__.polluted=1',
    '?token=fuzz-ops-token',
    '?%',
    '?%zz=%E0%A4',
    '?a=' + 'b'.repeat(3000),
    '?&&&=&=',
  ),
  anyString(40).map((s) => `?${encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))}`),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }).map((s) => `?${s.replace(/#/g, '')}`),
)

/** Extra headers, as a client might send them; never CR or LF (no transport could carry those). */
export const extraHeaders = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'accept',
      'accept-encoding',
      'x-forwarded-for',
      'host',
      'content-length',
      'transfer-encoding',
      'expect',
      'cookie',
      'x-request-id',
      'accept-version',
    ),
    fc.stringMatching(/^x-[a-z0-9-]{1,12}$/),
  ),
  fc.oneof(
    fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => s.replaceAll('\r', '').replaceAll('\n', '').replaceAll('\u0000', '')),
    fc.constantFrom('gzip', '100-continue', 'chunked', '0', '-1', '99999999', 'identity'),
  ),
  { maxKeys: 3 },
)
