/**
 * Bad input: every refusal is a 4xx in the one error shape with a stable code, never a 5xx, and
 * Redis holds no key of the shadow afterwards (no partial write).
 */
import t, { type Test } from 'tap'
import type { FastifyInstance, InjectOptions } from 'fastify'
import type { ErrorCode } from '../../src/index.js'
import { closeAdmin, shadowKeysIn } from '../helpers/shadow.js'
import { assertError, makeApp } from '../helpers/gateway.js'

t.teardown(closeAdmin)

interface Case {
  readonly what: string
  readonly request: InjectOptions
  readonly status: number
  readonly code: ErrorCode
  /** The message must match this (e.g. name the field). */
  readonly message?: RegExp
}

const JSON_TYPE = { 'content-type': 'application/json' }

/** A POST of `body` as raw JSON text. */
function post(url: string, body: string, headers: Record<string, string> = JSON_TYPE): InjectOptions {
  return { method: 'POST', url, payload: body, headers }
}

/** Runs each case on `app`: the status and code, the error shape, no 5xx, no key written. */
async function refuses(t: Test, app: FastifyInstance, name: string, cases: readonly Case[]): Promise<void> {
  for (const c of cases) {
    const res = await app.inject(c.request)
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${c.what}: a 4xx (got ${res.statusCode})`)
    const body = assertError(t, res, c.status, c.code, c.what)
    if (c.message) t.match(body.message, c.message, `${c.what}: the message says what is wrong`)
    t.same(await shadowKeysIn(name), [], `${c.what}: nothing written to Redis`)
  }
}

t.test('unknown task, bad params, body not an object, extra fields', async (t) => {
  const { app, name } = await makeApp(t)
  await refuses(t, app, name, [
    { what: 'unknown task', request: post('/tasks', '{"task":"nope"}'), status: 400, code: 'SHADOWS_ERR_UNKNOWN_TASK', message: /nope/ },
    { what: 'unknown task on PUT', request: { method: 'PUT', url: '/tasks/k', payload: { task: 'nope' } }, status: 400, code: 'SHADOWS_ERR_UNKNOWN_TASK' },
    {
      what: 'a param of the wrong type',
      request: post('/tasks', '{"task":"greet","params":{"name":42}}'),
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /name/,
    },
    {
      what: 'a missing param',
      request: post('/tasks', '{"task":"greet","params":{"greeting":"hi"}}'),
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /name/,
    },
    {
      what: 'an optional param of the wrong type',
      request: post('/tasks', '{"task":"greet","params":{"name":"x","greeting":["hi"]}}'),
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /greeting/,
    },
    {
      what: 'params an array',
      request: post('/tasks', '{"task":"greet","params":["Jane"]}'),
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /params/,
    },
    {
      what: 'params a string',
      request: post('/tasks', '{"task":"greet","params":"Jane"}'),
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /params/,
    },
    { what: 'params null', request: post('/tasks', '{"task":"greet","params":null}'), status: 400, code: 'SHADOWS_ERR_INVALID_PARAMS', message: /params/ },
    {
      what: 'a number too large for a double',
      request: post('/tasks', '{"task":"greet","params":{"name":"x","big":1e400}}'),
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /out of range/,
    },
    {
      what: 'a strike value too large for a double',
      request: post('/strikes', '{"parameter":"n","value":-1e400}'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /out of range/,
    },
    {
      what: 'bad params on PUT',
      request: { method: 'PUT', url: '/tasks/k', payload: { task: 'greet', params: { name: 1 } } },
      status: 400,
      code: 'SHADOWS_ERR_INVALID_PARAMS',
      message: /name/,
    },
    { what: 'body an array', request: post('/tasks', '[{"task":"greet"}]'), status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'body a string', request: post('/tasks', '"greet"'), status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'body a number', request: post('/tasks', '42'), status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'body null', request: post('/tasks', 'null'), status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'body true', request: post('/tasks', 'true'), status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'PUT body an array', request: { method: 'PUT', url: '/tasks/k', payload: '[]', headers: JSON_TYPE }, status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'strike body a string', request: post('/strikes', '"greet"'), status: 400, code: 'SHADOWS_ERR_VALIDATION' },
    { what: 'no task', request: post('/tasks', '{"params":{"name":"x"}}'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /task/ },
    { what: 'task not a string', request: post('/tasks', '{"task":7}'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /task/ },
    { what: 'task empty', request: post('/tasks', '{"task":""}'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /task/ },
    {
      what: 'an unknown field',
      request: post('/tasks', '{"task":"greet","params":{"name":"x"},"priority":1}'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /priority|additional/,
    },
    {
      what: 'a key in a PUT body',
      request: { method: 'PUT', url: '/tasks/k', payload: { task: 'greet', params: { name: 'x' }, key: 'other' } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
    },
  ])
})

t.test('malformed JSON, wrong content types, bodies over the limit', async (t) => {
  const { app, name } = await makeApp(t)
  await refuses(t, app, name, [
    { what: 'truncated JSON', request: post('/tasks', '{"task":"greet",'), status: 400, code: 'SHADOWS_ERR_MALFORMED_JSON' },
    { what: 'not JSON at all', request: post('/tasks', 'task=greet'), status: 400, code: 'SHADOWS_ERR_MALFORMED_JSON' },
    { what: 'single quotes', request: post('/tasks', "{'task':'greet'}"), status: 400, code: 'SHADOWS_ERR_MALFORMED_JSON' },
    { what: 'an empty JSON body', request: post('/tasks', ''), status: 400, code: 'SHADOWS_ERR_MALFORMED_JSON' },
    { what: 'malformed JSON in a batch', request: post('/tasks/batch', '{"tasks":[{]}'), status: 400, code: 'SHADOWS_ERR_MALFORMED_JSON' },
    {
      what: 'malformed JSON on PUT',
      request: { method: 'PUT', url: '/tasks/k', payload: '{', headers: JSON_TYPE },
      status: 400,
      code: 'SHADOWS_ERR_MALFORMED_JSON',
    },
    {
      what: 'text/plain',
      request: post('/tasks', '{"task":"greet","params":{"name":"x"}}', { 'content-type': 'text/plain' }),
      status: 415,
      code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
      message: /application\/json/,
    },
    { what: 'no content type', request: post('/tasks', '{"task":"greet","params":{"name":"x"}}', {}), status: 415, code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE' },
    {
      what: 'a JSON-like vendor type',
      request: post('/tasks', '{"task":"greet","params":{"name":"x"}}', { 'content-type': 'application/vnd.api+json' }),
      status: 415,
      code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      what: 'a form',
      request: post('/tasks', 'task=greet', { 'content-type': 'application/x-www-form-urlencoded' }),
      status: 415,
      code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      what: 'XML',
      request: post('/tasks', '<task>greet</task>', { 'content-type': 'application/xml' }),
      status: 415,
      code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      what: 'text/plain on PUT',
      request: { method: 'PUT', url: '/tasks/k', payload: '{"task":"greet"}', headers: { 'content-type': 'text/plain' } },
      status: 415,
      code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      what: 'text/plain on strikes',
      request: post('/strikes', '{"task":"greet"}', { 'content-type': 'text/plain' }),
      status: 415,
      code: 'SHADOWS_ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      what: 'a body over 1 MiB',
      request: post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x'.repeat(1024 * 1024) } })),
      status: 413,
      code: 'SHADOWS_ERR_PAYLOAD_TOO_LARGE',
    },
    {
      what: 'a batch over 1 MiB',
      request: post('/tasks/batch', JSON.stringify({ tasks: Array.from({ length: 10 }, () => ({ task: 'greet', params: { name: 'y'.repeat(120_000) } })) })),
      status: 413,
      code: 'SHADOWS_ERR_PAYLOAD_TOO_LARGE',
    },
  ])
  const justUnder = await app.inject(post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x'.repeat(1024 * 1024 - 100) } })))
  t.equal(justUnder.statusCode, 202, 'a body just under 1 MiB is accepted')
})

t.test('a smaller configured bodyLimit', async (t) => {
  const { app, name } = await makeApp(t, { bodyLimit: 1000 })
  await refuses(t, app, name, [
    {
      what: 'a body over 1000 bytes',
      request: post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x'.repeat(1000) } })),
      status: 413,
      code: 'SHADOWS_ERR_PAYLOAD_TOO_LARGE',
    },
    {
      what: 'PUT over 1000 bytes',
      request: { method: 'PUT', url: '/tasks/k', payload: { task: 'greet', params: { name: 'x'.repeat(1000) } } },
      status: 413,
      code: 'SHADOWS_ERR_PAYLOAD_TOO_LARGE',
    },
  ])
  const small = await app.inject(post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x'.repeat(900) } })))
  t.equal(small.statusCode, 202, 'a body under the limit is accepted')
})

t.test('timing: when and delay together, naive timestamps, bad delays', async (t) => {
  const { app, name } = await makeApp(t)
  const add = (extra: string) => post('/tasks', `{"task":"greet","params":{"name":"x"},${extra}}`)
  await refuses(t, app, name, [
    {
      what: 'when and delay together',
      request: add('"when":"2099-01-01T00:00:00Z","delay":1000'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /when|delay/,
    },
    { what: 'a timestamp without an offset', request: add('"when":"2099-01-01T10:00:00"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    { what: 'a date only', request: add('"when":"2099-01-01"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    { what: 'not a time', request: add('"when":"tomorrow"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    { what: 'an impossible date', request: add('"when":"2099-13-45T10:00:00Z"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    {
      what: 'February 30',
      request: add('"when":"2099-02-30T10:00:00Z"'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /when names a day the calendar lacks/,
    },
    {
      what: 'April 31',
      request: add('"when":"2099-04-31T10:00:00+02:00"'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /when names a day the calendar lacks/,
    },
    {
      what: 'February 29 of a common year',
      request: add('"when":"2099-02-29T10:00:00Z"'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /when names a day the calendar lacks/,
    },
    {
      what: 'day 00',
      request: add('"when":"2099-01-00T10:00:00Z"'),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /when names a day the calendar lacks/,
    },
    { what: 'when a number', request: add('"when":4102444800000'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    { what: 'a negative delay', request: add('"delay":-1'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /delay/ },
    { what: 'a delay as a string', request: add('"delay":"1000"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /delay/ },
    { what: 'a huge delay', request: add('"delay":1e300'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /delay/ },
    { what: 'a delay past the year 9999', request: add('"delay":8.64e15'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /delay/ },
    {
      what: 'a delay just past the year 9999',
      request: add(`"delay":${Date.UTC(10000, 0, 1) - Date.now()}`),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /delay/,
    },
    { what: 'a year past 9999', request: add('"when":"10000-01-01T00:00:00Z"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    { what: 'an impossible offset', request: add('"when":"2099-01-01T00:00:00+99:99"'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /when/ },
    {
      what: 'PUT with a delay past the year 9999',
      request: { method: 'PUT', url: '/tasks/k', payload: { task: 'greet', params: { name: 'x' }, delay: 8e15 } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /delay/,
    },
    {
      what: 'PUT with a naive timestamp',
      request: { method: 'PUT', url: '/tasks/k', payload: { task: 'greet', params: { name: 'x' }, when: '2099-01-01 10:00:00' } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /when/,
    },
    {
      what: 'PUT with when and delay',
      request: { method: 'PUT', url: '/tasks/k', payload: { task: 'greet', params: { name: 'x' }, when: '2099-01-01T00:00:00Z', delay: 5 } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
    },
  ])
})

t.test('a batch item with a delay past the year 9999 is refused alone', async (t) => {
  const { app, name } = await makeApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/tasks/batch',
    payload: { tasks: [{ task: 'greet', params: { name: 'x' }, delay: 8.64e15 }, { task: 'nope' }] },
  })
  t.equal(res.statusCode, 200)
  t.match(JSON.parse(res.body), {
    results: [
      { status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /delay/ },
      { status: 400, code: 'SHADOWS_ERR_UNKNOWN_TASK' },
    ],
  })
  t.same(await shadowKeysIn(name), [], 'nothing written')
  const latest = await app.inject(post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x' }, when: '9999-12-31T23:59:59.999Z' })))
  t.equal(latest.statusCode, 202, 'the latest RFC 3339 time is fine')
  t.equal(JSON.parse(latest.body).when, '9999-12-31T23:59:59.999Z')
  const leap = await app.inject(post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x' }, when: '2096-02-29T10:00:00Z' })))
  t.equal(leap.statusCode, 202, 'February 29 of a leap year is fine')
  t.equal(JSON.parse(leap.body).when, '2096-02-29T10:00:00.000Z', 'and kept as written')
})

t.test('JSON nested too deeply is a 400, not a stack overflow', async (t) => {
  const { app, name } = await makeApp(t)
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`
  await refuses(t, app, name, [
    {
      what: 'params nesting 5000 levels',
      request: post('/tasks', `{"task":"greet","params":{"name":"x","deep":${nested(5000)}}}`),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /nest/,
    },
    {
      what: 'params nesting 200000 levels',
      request: post('/tasks', `{"task":"greet","params":{"name":"x","deep":${nested(200_000)}}}`),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /nest/,
    },
    {
      what: 'objects nesting 50000 levels',
      request: post('/tasks', `{"task":"greet","params":{"name":"x","deep":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}}`),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /nest/,
    },
    {
      what: 'a batch nesting 5000 levels',
      request: post('/tasks/batch', `{"tasks":[{"task":"greet","params":{"name":"x","deep":${nested(5000)}}}]}`),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /nest/,
    },
    {
      what: 'a strike value nesting 5000 levels',
      request: post('/strikes', `{"parameter":"p","value":${nested(5000)}}`),
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /nest/,
    },
    {
      what: 'a PUT nesting 5000 levels',
      request: { method: 'PUT', url: '/tasks/k', payload: `{"task":"greet","params":{"name":"x","d":${nested(5000)}}}`, headers: JSON_TYPE },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /nest/,
    },
  ])
  const fine = await app.inject(post('/tasks', `{"task":"greet","key":"nested","params":{"name":"${'['.repeat(5000)}","deep":${nested(90)}}}`))
  t.equal(fine.statusCode, 202, 'brackets inside strings do not count; 90 levels are fine')
  const read = JSON.parse((await app.inject({ method: 'GET', url: '/tasks/nested' })).body)
  t.equal(read.params.name, '['.repeat(5000), 'the params come back intact')
})

t.test('bad keys, in a body and in a path', async (t) => {
  const { app, name } = await makeApp(t)
  const add = (key: unknown) => post('/tasks', JSON.stringify({ task: 'greet', params: { name: 'x' }, key }))
  const long = 'k'.repeat(201)
  await refuses(t, app, name, [
    { what: 'a key with spaces', request: add('has space'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'a key of 201 chars', request: add(long), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'a key with a slash', request: add('a/b'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'an empty key', request: add(''), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'a key with a newline', request: add('a\nb'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'a key with a brace', request: add('{x}'), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'a key that is a number', request: add(42), status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    {
      what: 'PUT a key with spaces',
      request: { method: 'PUT', url: '/tasks/has%20space', payload: { task: 'greet', params: { name: 'x' } } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /key/,
    },
    {
      what: 'PUT a key of 201 chars',
      request: { method: 'PUT', url: `/tasks/${long}`, payload: { task: 'greet', params: { name: 'x' } } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /key/,
    },
    {
      what: 'PUT an escaped slash',
      request: { method: 'PUT', url: '/tasks/a%2Fb', payload: { task: 'greet', params: { name: 'x' } } },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /key/,
    },
    {
      what: 'PUT a slash',
      request: { method: 'PUT', url: '/tasks/a/b', payload: { task: 'greet', params: { name: 'x' } } },
      status: 404,
      code: 'SHADOWS_ERR_NOT_FOUND',
    },
    { what: 'GET a key with spaces', request: { method: 'GET', url: '/tasks/has%20space' }, status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'GET a key of 201 chars', request: { method: 'GET', url: `/tasks/${long}` }, status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'DELETE a key with spaces', request: { method: 'DELETE', url: '/tasks/has%20space' }, status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    { what: 'DELETE an escaped slash', request: { method: 'DELETE', url: '/tasks/a%2Fb' }, status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /key/ },
    {
      what: 'GET a key of 5000 chars',
      request: { method: 'GET', url: `/tasks/${'k'.repeat(5000)}` },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /key/,
    },
    {
      what: 'DELETE a key of 5000 chars',
      request: { method: 'DELETE', url: `/tasks/${'k'.repeat(5000)}` },
      status: 400,
      code: 'SHADOWS_ERR_VALIDATION',
      message: /key/,
    },
    { what: 'a bad escape in the path', request: { method: 'GET', url: '/tasks/%E0%A4%A' }, status: 400, code: 'SHADOWS_ERR_VALIDATION' },
  ])

  const batch = await app.inject(
    post(
      '/tasks/batch',
      JSON.stringify({
        tasks: [
          { task: 'greet', params: { name: 'x' }, key: 'a b' },
          { task: 'greet', params: { name: 'x' }, key: long },
        ],
      }),
    ),
  )
  t.equal(batch.statusCode, 200)
  t.match(
    JSON.parse(batch.body),
    {
      results: [
        { status: 400, code: 'SHADOWS_ERR_VALIDATION' },
        { status: 400, code: 'SHADOWS_ERR_VALIDATION' },
      ],
    },
    'batch items with bad keys are refused',
  )
  t.same(await shadowKeysIn(name), [], 'nothing written by the batch')
})

t.test('unknown routes and methods', async (t) => {
  const { app, name } = await makeApp(t)
  await refuses(t, app, name, [
    { what: 'an unknown path', request: { method: 'GET', url: '/nowhere' }, status: 404, code: 'SHADOWS_ERR_NOT_FOUND', message: /nowhere/ },
    { what: 'an unknown POST', request: post('/task', '{"task":"greet"}'), status: 404, code: 'SHADOWS_ERR_NOT_FOUND' },
    { what: 'a wrong method', request: { method: 'PATCH', url: '/tasks/k', payload: { task: 'greet' } }, status: 404, code: 'SHADOWS_ERR_NOT_FOUND' },
    { what: 'GET /tasks without a state', request: { method: 'GET', url: '/tasks' }, status: 400, code: 'SHADOWS_ERR_VALIDATION', message: /state/ },
    { what: 'the root', request: { method: 'GET', url: '/' }, status: 404, code: 'SHADOWS_ERR_NOT_FOUND' },
    { what: 'a query string', request: { method: 'GET', url: '/nowhere?x=1' }, status: 404, code: 'SHADOWS_ERR_NOT_FOUND' },
  ])
})

t.test('prototype pollution payloads are refused and pollute nothing', async (t) => {
  const { app, name } = await makeApp(t)
  const cases: Case[] = [
    {
      what: '__proto__ at the top',
      request: post('/tasks', '{"task":"greet","params":{"name":"x"},"__proto__":{"polluted":true}}'),
      status: 400,
      code: 'SHADOWS_ERR_MALFORMED_JSON',
    },
    {
      what: '__proto__ in params',
      request: post('/tasks', '{"task":"greet","params":{"name":"x","__proto__":{"polluted":true}}}'),
      status: 400,
      code: 'SHADOWS_ERR_MALFORMED_JSON',
    },
    {
      what: 'constructor.prototype in params',
      request: post('/tasks', '{"task":"greet","params":{"name":"x","constructor":{"prototype":{"polluted":true}}}}'),
      status: 400,
      code: 'SHADOWS_ERR_MALFORMED_JSON',
    },
    {
      what: '__proto__ in a batch item',
      request: post('/tasks/batch', '{"tasks":[{"task":"greet","params":{"name":"x"},"__proto__":{"polluted":true}}]}'),
      status: 400,
      code: 'SHADOWS_ERR_MALFORMED_JSON',
    },
    {
      what: '__proto__ in a strike',
      request: post('/strikes', '{"task":"greet","__proto__":{"polluted":true}}'),
      status: 400,
      code: 'SHADOWS_ERR_MALFORMED_JSON',
    },
  ]
  await refuses(t, app, name, cases)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched')

  // a key that merely spells __proto__ is a valid key, stored under the task namespace
  const protoKey = await app.inject(post('/tasks', '{"task":"greet","params":{"name":"x"},"key":"__proto__"}'))
  t.equal(protoKey.statusCode, 202, 'the key __proto__ is a plain key')
  const read = await app.inject({ method: 'GET', url: '/tasks/__proto__' })
  t.match(JSON.parse(read.body), { key: '__proto__', params: { name: 'x' } })
  const constructorTask = await app.inject(post('/tasks', '{"task":"constructor"}'))
  assertError(t, constructorTask, 400, 'SHADOWS_ERR_UNKNOWN_TASK', 'a task named constructor is not registered')
  const protoTask = await app.inject(post('/tasks', '{"task":"__proto__"}'))
  assertError(t, protoTask, 400, 'SHADOWS_ERR_UNKNOWN_TASK', 'a task named __proto__ is not registered')
  const toStringTask = await app.inject(post('/tasks', '{"task":"toString"}'))
  assertError(t, toStringTask, 400, 'SHADOWS_ERR_UNKNOWN_TASK', 'a task named toString is not registered')
})
