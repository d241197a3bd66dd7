/**
 * Hostile input, case by case: prototype pollution, JSON nested 10,000 deep, 10 MB bodies (through
 * inject and through a listening server), slowloris clients against the request timeout, bytes
 * that are not UTF-8 in bodies and paths, and task names that look like paths or code. Each is
 * refused cleanly in the one error shape, stores nothing, runs nothing.
 */
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { Type } from '@sinclair/typebox'
import { defineTask, type ErrorCode } from '../../src/index.js'
import { DEFAULT_TIMEOUTS } from '../../src/gateway/app.js'
import { listen } from '../../src/gateway/server.js'
import { shadowKeys } from '../../src/redis/keys.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, shadowKeysIn, waitFor } from '../helpers/shadow.js'
import { assertError, json, makeApp, type Answer } from '../helpers/gateway.js'

t.teardown(closeAdmin)

const JSON_TYPE = { 'content-type': 'application/json' }

/** A POST of raw JSON text (or bytes). */
function post(url: string, payload: string | Buffer): InjectOptions {
  return { method: 'POST', url, payload, headers: JSON_TYPE }
}

/** Whether anything has been written to Object.prototype by a payload. */
function prototypeIsClean(): boolean {
  const probe = {} as Record<string, unknown>
  return probe.polluted === undefined && !Object.hasOwn(Object.prototype, 'polluted') && probe.isAdmin === undefined
}

/** Sends each request; each must be a 4xx in the one error shape with `code`, and Redis must stay empty. */
async function refused(
  t: Test,
  app: FastifyInstance,
  name: string,
  cases: readonly [what: string, request: InjectOptions, status: number, code: ErrorCode][],
): Promise<void> {
  for (const [what, request, status, code] of cases) {
    assertError(t, await app.inject(request), status, code, what)
    t.same(await shadowKeysIn(name), [], `${what}: nothing stored`)
  }
}

/** Starts the app on 127.0.0.1, a free port; returns its base URL and port. */
async function listening(app: FastifyInstance): Promise<{ url: string; port: number }> {
  const url = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  return { url, port: Number(new URL(url).port) }
}

/** An answer read from a raw socket: status, headers and body of the first response. */
function parseRaw(text: string): Answer {
  const [head = '', ...rest] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers: Record<string, unknown> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') }
}

/** Writes `bytes` on a raw connection and reads until the server closes it (or `wait` ms pass). */
function rawExchange(port: number, bytes: Buffer, wait = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => socket.destroy(), wait)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('utf8'))
    })
    socket.write(bytes)
  })
}

t.test('__proto__, constructor and prototype payloads are refused and pollute nothing', async (t) => {
  const { app, name } = await makeApp(t)
  const proto = '"__proto__":{"polluted":true,"isAdmin":true}'
  const escapedProto = '"\\u005f\\u005fproto\\u005f\\u005f":{"polluted":true}'
  const ctor = '"constructor":{"prototype":{"polluted":true}}'
  const MALFORMED = 'SHADOWS_ERR_MALFORMED_JSON'
  await refused(t, app, name, [
    ['__proto__ at the top of POST /tasks', post('/tasks', `{${proto},"task":"greet","params":{"name":"x"}}`), 400, MALFORMED],
    ['__proto__ last at the top', post('/tasks', `{"task":"greet","params":{"name":"x"},${proto}}`), 400, MALFORMED],
    ['__proto__ spelled with escapes', post('/tasks', `{"task":"greet","params":{"name":"x"},${escapedProto}}`), 400, MALFORMED],
    ['__proto__ in params', post('/tasks', `{"task":"greet","params":{"name":"x",${proto}}}`), 400, MALFORMED],
    ['__proto__ deep in params', post('/tasks', `{"task":"greet","params":{"name":"x","a":[{"b":{${proto}}}]}}`), 400, MALFORMED],
    ['constructor.prototype at the top', post('/tasks', `{"task":"greet","params":{"name":"x"},${ctor}}`), 400, MALFORMED],
    ['constructor.prototype in params', post('/tasks', `{"task":"greet","params":{"name":"x",${ctor}}}`), 400, MALFORMED],
    ['__proto__ in a PUT', { method: 'PUT', url: '/tasks/k', payload: `{"task":"greet","params":{"name":"x",${proto}}}`, headers: JSON_TYPE }, 400, MALFORMED],
    ['constructor.prototype in a PUT', { method: 'PUT', url: '/tasks/k', payload: `{${ctor},"task":"greet"}`, headers: JSON_TYPE }, 400, MALFORMED],
    ['__proto__ in a batch envelope', post('/tasks/batch', `{${proto},"tasks":[]}`), 400, MALFORMED],
    ['__proto__ in a batch item', post('/tasks/batch', `{"tasks":[{"task":"greet","params":{"name":"x",${proto}}}]}`), 400, MALFORMED],
    ['constructor.prototype in a batch item', post('/tasks/batch', `{"tasks":[{"task":"greet",${ctor}}]}`), 400, MALFORMED],
    ['__proto__ in a strike', post('/strikes', `{"task":"greet",${proto}}`), 400, MALFORMED],
    ['__proto__ in a strike value', post('/strikes', `{"parameter":"name","value":{${proto}}}`), 400, MALFORMED],
    ['constructor.prototype in a strike value', post('/strikes', `{"parameter":"name","value":{${ctor}}}`), 400, MALFORMED],
  ])
  t.ok(prototypeIsClean(), 'Object.prototype is not polluted')
  t.equal(({} as Record<string, unknown>).polluted, undefined, '({}).polluted is undefined')

  // query strings are parsed too, though no route reads them
  for (const query of ['__proto__[polluted]=1', '__proto__.polluted=1', 'constructor[prototype][polluted]=1', 'constructor.prototype.polluted=1']) {
    const res = await app.inject({ method: 'GET', url: `/snapshot?${query}` })
    t.equal(res.statusCode, 200, `GET /snapshot?${query}: answered as usual`)
  }
  t.ok(prototypeIsClean(), 'Object.prototype is still clean after query strings')

  // a key merely called constructor (without prototype) is plain data: stored as an own field
  const plain = await app.inject(post('/tasks', '{"task":"greet","key":"ctor","params":{"name":"x","constructor":{"name":"y"}}}'))
  t.equal(plain.statusCode, 202, 'a params field named constructor is plain data')
  const read = json<{ params: Record<string, unknown> }>(await app.inject({ method: 'GET', url: '/tasks/ctor' }))
  t.ok(Object.hasOwn(read.params, 'constructor'), 'and comes back as an own field')
  t.same(read.params.constructor, { name: 'y' })
  t.ok(prototypeIsClean(), 'Object.prototype is still clean')
})

t.test('JSON nested 10,000 deep is a 400, not a stack overflow', async (t) => {
  const { app, name } = await makeApp(t)
  const arrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`
  const objects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
  const V = 'SHADOWS_ERR_VALIDATION'
  await refused(t, app, name, [
    ['a body of arrays 10,000 deep', post('/tasks', arrays(10_000)), 400, V],
    ['a body of objects 10,000 deep', post('/tasks', objects(10_000)), 400, V],
    ['params of arrays 10,000 deep', post('/tasks', `{"task":"greet","params":{"name":"x","deep":${arrays(10_000)}}}`), 400, V],
    ['params of objects 10,000 deep', post('/tasks', `{"task":"greet","params":{"name":"x","deep":${objects(10_000)}}}`), 400, V],
    ['params 10,000 deep, not even closed', post('/tasks', `{"task":"greet","params":{"name":"x","deep":${'['.repeat(10_000)}}}`), 400, V],
    ['a batch 10,000 deep', post('/tasks/batch', `{"tasks":[{"task":"greet","params":{"name":"x","d":${arrays(10_000)}}}]}`), 400, V],
    [
      'a PUT 10,000 deep',
      { method: 'PUT', url: '/tasks/k', payload: `{"task":"greet","params":{"name":"x","d":${objects(10_000)}}}`, headers: JSON_TYPE },
      400,
      V,
    ],
    ['a strike value 10,000 deep', post('/strikes', `{"parameter":"p","value":${arrays(10_000)}}`), 400, V],
  ])
  const res = await app.inject(post('/tasks', arrays(10_000)))
  t.match(json(res).message, /nest/, 'the message says the JSON nests too deeply')
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the gateway is still up')
})

t.test('a 10 MB body is a 413, through inject and through a listening server', async (t) => {
  const { app, name } = await makeApp(t)
  const tenMegabytes = JSON.stringify({ task: 'greet', params: { name: 'x'.repeat(10 * 1024 * 1024) } })
  await refused(t, app, name, [
    ['a 10 MB POST /tasks', post('/tasks', tenMegabytes), 413, 'SHADOWS_ERR_PAYLOAD_TOO_LARGE'],
    ['a 10 MB batch', post('/tasks/batch', `{"tasks":[${tenMegabytes}]}`), 413, 'SHADOWS_ERR_PAYLOAD_TOO_LARGE'],
    ['a 10 MB PUT', { method: 'PUT', url: '/tasks/k', payload: tenMegabytes, headers: JSON_TYPE }, 413, 'SHADOWS_ERR_PAYLOAD_TOO_LARGE'],
    ['a 10 MB strike', post('/strikes', JSON.stringify({ parameter: 'p', value: 'x'.repeat(10 * 1024 * 1024) })), 413, 'SHADOWS_ERR_PAYLOAD_TOO_LARGE'],
  ])

  const { url } = await listening(app)
  const answer = async (res: Response): Promise<Answer> => ({ statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() })
  const withLength = await fetch(`${url}/tasks`, { method: 'POST', headers: JSON_TYPE, body: tenMegabytes })
  assertError(t, await answer(withLength), 413, 'SHADOWS_ERR_PAYLOAD_TOO_LARGE', 'a 10 MB body over HTTP with a Content-Length')

  // chunked, without a Content-Length: the limit is enforced while the body streams in
  const encoder = new TextEncoder()
  const megabyte = 'x'.repeat(1024 * 1024)
  const chunked = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`{"task":"greet","params":{"name":"`))
      for (let i = 0; i < 10; i++) controller.enqueue(encoder.encode(megabyte))
      controller.enqueue(encoder.encode('"}}'))
      controller.close()
    },
  })
  const streamed = await fetch(`${url}/tasks`, { method: 'POST', headers: JSON_TYPE, body: chunked, duplex: 'half' } as RequestInit)
  assertError(t, await answer(streamed), 413, 'SHADOWS_ERR_PAYLOAD_TOO_LARGE', 'a 10 MB chunked body over HTTP')

  t.same(await shadowKeysIn(name), [], 'nothing stored')
  t.equal((await fetch(`${url}/health/live`)).status, 200, 'the server is still up')
})

t.test('timeouts: sane defaults, and the configured ones reach the HTTP server', async (t) => {
  const { app: defaults } = await makeApp(t)
  t.equal(DEFAULT_TIMEOUTS.requestTimeout, 30_000, 'a request must arrive within 30 s by default')
  t.equal(defaults.server.requestTimeout, DEFAULT_TIMEOUTS.requestTimeout, 'requestTimeout')
  t.ok(
    defaults.server.headersTimeout > 0 && defaults.server.headersTimeout <= defaults.server.requestTimeout,
    'the headers have to arrive within the request timeout',
  )
  t.equal(defaults.server.timeout, DEFAULT_TIMEOUTS.connectionTimeout, 'connectionTimeout (idle socket)')
  t.equal(defaults.server.keepAliveTimeout, DEFAULT_TIMEOUTS.keepAliveTimeout, 'keepAliveTimeout')

  const { app: short } = await makeApp(t, { requestTimeout: 1000, connectionTimeout: 5000, keepAliveTimeout: 2000 })
  t.equal(short.server.requestTimeout, 1000)
  t.equal(short.server.headersTimeout, 1000)
  t.equal(short.server.timeout, 5000)
  t.equal(short.server.keepAliveTimeout, 2000)
  await t.rejects(makeApp(t, { requestTimeout: -1 }), { code: 'SHADOWS_ERR_VALIDATION' }, 'a negative timeout is refused')
  await t.rejects(makeApp(t, { connectionTimeout: 1.5 }), { code: 'SHADOWS_ERR_VALIDATION' }, 'a fractional timeout is refused')
})

/**
 * A slowloris client: sends `head` at once, then one byte of `rest` every `everyMs`; resolves with
 * how many bytes of `rest` it sent before the server closed the connection, and what it answered.
 */
function slowloris(port: number, head: string, rest: string, everyMs: number): Promise<{ sent: number; received: string; elapsed: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let sent = 0
    const dribble = setInterval(() => {
      if (sent < rest.length && socket.writable) socket.write(rest[sent++] as string)
    }, everyMs)
    // a safety net far beyond any timeout configured here: the test fails instead of hanging
    const giveUp = setTimeout(() => socket.destroy(new Error('the server never closed the connection')), 60_000)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', (err) => {
      // a reset after the server's answer is a close too
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'EPIPE') reject(err)
    })
    socket.on('close', () => {
      clearInterval(dribble)
      clearTimeout(giveUp)
      resolve({ sent, received: Buffer.concat(chunks).toString('utf8'), elapsed: Date.now() - started })
    })
    socket.write(head)
  })
}

t.test('slowloris: a body dribbled a byte a second is cut off at the request timeout', async (t) => {
  const { app, name } = await makeApp(t, { requestTimeout: 1000 })
  const { url, port } = await listening(app)
  const body = '{"task":"greet","p":1}'.slice(0, 20)
  const head = `POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`
  const { sent, received, elapsed } = await slowloris(port, head, body, 1000)
  t.ok(sent < body.length, `the server closed the connection before the ${body.length}-byte body finished (after ${sent} bytes)`)
  t.ok(elapsed < 20_000, 'well before the body could have finished')
  assertError(t, parseRaw(received), 400, 'SHADOWS_ERR_VALIDATION', 'the timeout answer')
  t.match(json(parseRaw(received)).message, /did not arrive within 1000 ms/, 'the message names the timeout')
  t.same(await shadowKeysIn(name), [], 'nothing stored')
  t.equal((await fetch(`${url}/health/live`)).status, 200, 'the server still answers others')
})

t.test('slowloris: headers dribbled slowly are cut off at the request timeout too', async (t) => {
  const { app } = await makeApp(t, { requestTimeout: 1000 })
  const { url, port } = await listening(app)
  const headers = `GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(40)}\r\n\r\n`
  const { sent, received } = await slowloris(port, 'G', headers.slice(1), 250)
  t.ok(sent < headers.length - 1, `the server closed the connection before the headers finished (after ${sent} of ${headers.length} bytes)`)
  assertError(t, parseRaw(received), 400, 'SHADOWS_ERR_VALIDATION', 'the timeout answer')
  t.equal((await fetch(`${url}/health/live`)).status, 200, 'the server still answers others')
})

t.test('bytes that are not UTF-8, in a JSON body and in a path: 4xx, never 5xx', async (t) => {
  const { app, name } = await makeApp(t)
  const withBytes = (before: string, bytes: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)])
  const MALFORMED = 'SHADOWS_ERR_MALFORMED_JSON'
  const invalid: [string, number[]][] = [
    ['a lone 0xFF', [0xff]],
    ['a lone continuation byte', [0x80]],
    ['an overlong slash', [0xc0, 0xaf]],
    ['a UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
  ]
  for (const [what, bytes] of invalid) {
    await refused(t, app, name, [
      [`${what} in a param`, post('/tasks', withBytes('{"task":"greet","params":{"name":"', bytes, '"}}')), 400, MALFORMED],
      [`${what} in the task name`, post('/tasks', withBytes('{"task":"gr', bytes, 'eet"}')), 400, MALFORMED],
      [`${what} in a key`, post('/tasks', withBytes('{"task":"greet","params":{"name":"x"},"key":"k', bytes, '"}')), 400, MALFORMED],
      [
        `${what} in a PUT`,
        { method: 'PUT', url: '/tasks/k', payload: withBytes('{"task":"greet","params":{"name":"', bytes, '"}}'), headers: JSON_TYPE },
        400,
        MALFORMED,
      ],
      [`${what} in a batch`, post('/tasks/batch', withBytes('{"tasks":[{"task":"greet","params":{"name":"', bytes, '"}}]}')), 400, MALFORMED],
      [`${what} in a strike`, post('/strikes', withBytes('{"parameter":"name","value":"', bytes, '"}')), 400, MALFORMED],
    ])
  }
  const valid = await app.inject(post('/tasks', Buffer.from('{"task":"greet","key":"utf8","params":{"name":"Zoë 😀 \u00e9"}}', 'utf8')))
  t.equal(valid.statusCode, 202, 'valid multi-byte UTF-8 is fine')
  t.equal(json<{ params: { name: string } }>(await app.inject({ method: 'GET', url: '/tasks/utf8' })).params.name, 'Zoë 😀 \u00e9', 'and comes back intact')

  // escapes that decode to bytes that are not UTF-8
  for (const path of ['/tasks/%FF%FE', '/tasks/%C0%AF', '/tasks/%ED%A0%80', '/tasks/k%80', '/strikes/%FF']) {
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await app.inject({ method, url: path })
      // refused before routing: even GET /strikes/{id}, which is no route, is a 400
      assertError(t, res, 400, 'SHADOWS_ERR_VALIDATION', `${method} ${path}`)
    }
  }

  // raw bytes on the wire, which no client library would send: Node's parser refuses them
  const { port } = await listening(app)
  for (const [what, bytes] of invalid) {
    const request = Buffer.concat([Buffer.from('GET /tasks/k'), Buffer.from(bytes), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')])
    const res = parseRaw(await rawExchange(port, request))
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${what} raw in a path: a 4xx (got ${res.statusCode})`)
    assertError(t, res, 400, 'SHADOWS_ERR_VALIDATION', `${what} raw in a path`)
  }
  const header = parseRaw(
    await rawExchange(
      port,
      Buffer.concat([Buffer.from('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: '), Buffer.from([0x00, 0x7f]), Buffer.from('\r\n\r\n')]),
    ),
  )
  assertError(t, header, 400, 'SHADOWS_ERR_VALIDATION', 'control bytes in a header')
  const overLong = parseRaw(await rawExchange(port, Buffer.from(`GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)))
  assertError(t, overLong, 400, 'SHADOWS_ERR_VALIDATION', 'headers over the size limit')
  t.same(
    (await shadowKeysIn(name)).sort(),
    [`{${name}}:events:log`, `{${name}}:events:log:count`, `{${name}}:stream`, `{${name}}:task:utf8`],
    'only the valid task was stored (and its added event)',
  )
})

/** Task names that look like paths, shell, code, markup, or members of Object.prototype. */
const HOSTILE_NAMES = [
  '../../etc/passwd',
  '/etc/passwd',
  '..\\..\\windows\\system32',
  'process.exit',
  'process.exit()',
  'require("child_process").exec("id")',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
  'greet; rm -rf /',
  'greet && curl evil.example',
  '$(id)',
  '`id`',
  '${process.exit()}',
  '<script>alert(1)</script>',
  'greet\u0000',
  'GREET',
  ' greet',
]

t.test('task names that look like paths or code are unknown tasks, and nothing is stored', async (t) => {
  const { app, name } = await makeApp(t)
  for (const task of HOSTILE_NAMES) {
    const what = JSON.stringify(task)
    await refused(t, app, name, [
      [`POST /tasks ${what}`, post('/tasks', JSON.stringify({ task, params: {} })), 400, 'SHADOWS_ERR_UNKNOWN_TASK'],
      [`POST /tasks ${what} with a key and a delay`, post('/tasks', JSON.stringify({ task, key: 'k', delay: 60_000 })), 400, 'SHADOWS_ERR_UNKNOWN_TASK'],
      [`PUT /tasks/k ${what}`, { method: 'PUT', url: '/tasks/k', payload: JSON.stringify({ task }), headers: JSON_TYPE }, 400, 'SHADOWS_ERR_UNKNOWN_TASK'],
    ])
    const batch = await app.inject(post('/tasks/batch', JSON.stringify({ tasks: [{ task }, { task, key: 'b' }] })))
    t.equal(batch.statusCode, 200, `a batch of ${what}: judged item by item`)
    t.match(json(batch), {
      results: [
        { status: 400, code: 'SHADOWS_ERR_UNKNOWN_TASK' },
        { status: 400, code: 'SHADOWS_ERR_UNKNOWN_TASK' },
      ],
    })
    t.same(await shadowKeysIn(name), [], `a batch of ${what}: nothing stored`)
  }
  t.ok(prototypeIsClean(), 'Object.prototype is not touched')
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'the gateway is still up')
})

t.test('a worker never runs a message naming a member of Object.prototype or a path: deferred as unknown', async (t) => {
  const ran: string[] = []
  const greet = defineTask({
    name: 'greet',
    params: Type.Object({ name: Type.String() }),
    async run({ name }) {
      ran.push(`greet:${name}`)
    },
  })
  const shadow = makeShadow(t, { tasks: [greet] })
  const keys = shadowKeys(shadow.name)
  const redis = adminRedis()
  const names = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', '../../etc/passwd', 'process.exit']

  // messages written straight into the stream, as a rogue client with Redis access could: each
  // with a record, as the add script would have made it
  const inject = async (key: string, task: string) => {
    const id = (await redis.xadd(keys.stream, '*', 'key', key, 'gen', '1', 'task', task)) as string
    await redis.hset(keys.task(key), 'task', task, 'params', '{"name":"intruder"}', 'when', String(Date.now()), 'state', 'queued', 'gen', '1', 'sid', id)
  }
  for (const [i, task] of names.entries()) await inject(`rogue-${i}`, task)
  // a message without a task field at all, and one whose fields spell __proto__
  const noneId = (await redis.xadd(keys.stream, '*', 'key', 'rogue-none', 'gen', '1')) as string
  await redis.hset(keys.task('rogue-none'), 'params', '{}', 'when', String(Date.now()), 'state', 'queued', 'gen', '1', 'sid', noneId)
  // the control: a registered task, injected the same way, does run
  await inject('control', 'greet')

  const started: string[] = []
  const worker = makeWorker(t, shadow, [greet], { unknownTaskDelay: 60_000, observer: { taskStarted: (task) => started.push(task) } })
  const running = worker.run()
  const stateOf = (key: string) => redis.hget(keys.task(key), 'state')
  await waitFor(async () => (await stateOf('control')) === 'completed', 10_000, 'the control task to complete')
  await waitFor(
    async () => (await Promise.all([...names.map((_, i) => stateOf(`rogue-${i}`)), stateOf('rogue-none')])).every((state) => state === 'scheduled'),
    10_000,
    'every rogue message to be deferred',
  )
  await worker.close()
  await running

  t.same(ran, ['greet:intruder'], 'only the registered task ran')
  t.same(started, ['greet'], 'no other task was started')
  for (const [i, task] of names.entries()) {
    const record = await redis.hgetall(keys.task(`rogue-${i}`))
    t.equal(record.state, 'scheduled', `${JSON.stringify(task)}: deferred for a worker that knows it`)
    t.notOk(record.worker, `${JSON.stringify(task)}: no worker ever took it`)
    t.notOk(record.attempt, `${JSON.stringify(task)}: no attempt counted`)
    t.ok(Number(await redis.zscore(keys.schedule, `rogue-${i}`)) > Date.now() + 30_000, `${JSON.stringify(task)}: offered again only after unknownTaskDelay`)
  }
  t.ok(prototypeIsClean(), 'Object.prototype is not touched')
  t.equal(typeof ({} as { toString: unknown }).toString, 'function', 'Object.prototype.toString is intact')
})
