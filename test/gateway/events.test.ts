/**
 * GET /events, Server-Sent Events over a real listening gateway on the real Redis: headers at once,
 * the event shape, filters, resuming with Last-Event-ID (exactly the missed events, also while
 * events keep coming), keep-alive comments, a slow client dropped with a last `dropped` event, one
 * shared reader for many clients, close() with clients open, and hostile filters and ids.
 */
import t, { type Test } from 'tap'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { Shadow, type ErrorCode } from '../../src/index.js'
import { buildApp, type AppOptions } from '../../src/gateway/app.js'
import { listen } from '../../src/gateway/server.js'
import { connect as connectRedis } from '../../src/redis/connection.js'
import { shadowKeys } from '../../src/redis/keys.js'
import { TEST_URL, adminRedis, closeAdmin, makeWorker, shadowKeysIn, testLogger, uniqueName, waitFor } from '../helpers/shadow.js'
import { TASKS, assertError, makeApp } from '../helpers/gateway.js'
import { logEvents } from '../helpers/history.js'

t.teardown(closeAdmin)

/** One event as a client parsed it. */
interface SseEvent {
  readonly id?: string
  readonly event?: string
  readonly data: Record<string, unknown>
}

/** An open SSE stream: what came so far. */
interface Stream {
  readonly response: IncomingMessage
  readonly events: SseEvent[]
  readonly comments: string[]
  /** Resolves when the server ended the stream. */
  readonly ended: Promise<void>
  /** Resolves with the first event (from the start) that `match` accepts. */
  until(match: (event: SseEvent) => boolean, what?: string): Promise<SseEvent>
  close(): void
}

/** Opens `path` as an SSE stream; resolves once the status and headers arrived. */
function openStream(base: string, path: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
      const events: SseEvent[] = []
      const comments: string[] = []
      let buffer = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        buffer += chunk
        let end: number
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const fields: Record<string, string> = {}
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else {
              const colon = line.indexOf(':')
              fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '')
            }
          }
          if (fields.data !== undefined) {
            events.push({
              ...(fields.id !== undefined ? { id: fields.id } : {}),
              ...(fields.event !== undefined ? { event: fields.event } : {}),
              data: JSON.parse(fields.data) as Record<string, unknown>,
            })
          }
        }
      })
      const ended = new Promise<void>((done) => {
        response.on('end', done)
        response.on('close', done)
        response.on('error', () => done())
      })
      resolve({
        response,
        events,
        comments,
        ended,
        until: async (match, what = 'an event') => {
          await waitFor(() => events.some(match), 10_000, what)
          return events.find(match) as SseEvent
        },
        close: () => req.destroy(),
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** A listening gateway on its own shadow; on teardown: closed, the leak check, keys removed. */
async function serve(t: Test, options: Partial<AppOptions> = {}): Promise<{ app: FastifyInstance; name: string; base: string }> {
  const { app, name } = await makeApp(t, options)
  const base = await listen(app, { host: '127.0.0.1', port: 0, authenticated: options.tokens !== undefined })
  return { app, name, base }
}

/** Adds a task through the API. */
async function add(app: FastifyInstance, task: string, key: string, params: Record<string, unknown> = {}): Promise<void> {
  const res = await app.inject({ method: 'POST', url: '/tasks', payload: { task, key, params } })
  if (res.statusCode !== 202) throw new Error(`add ${key}: ${res.statusCode} ${res.body}`)
}

/** Runs every queued task with a worker on the same shadow. */
async function runAll(t: Test, name: string): Promise<void> {
  const shadow = new Shadow({ name, url: TEST_URL, logger: testLogger })
  t.teardown(() => shadow.close())
  const worker = makeWorker(t, shadow, TASKS)
  await worker.runUntilFinished()
  await worker.close()
}

/** The ids of the events of the log after `after`, oldest first. */
async function logIdsAfter(name: string, after: string): Promise<string[]> {
  return (await logEvents(name, after)).map((event) => event.id)
}

const eventOf = (type: string, key: string) => (e: SseEvent) => e.event === type && e.data.key === key

t.test('headers at once; one event per transition, with id, type and data', async (t) => {
  const { app, name, base } = await serve(t)
  const stream = await openStream(base, '/events')
  t.equal(stream.response.statusCode, 200, 'the status comes before any event')
  t.match(stream.response.headers['content-type'], /^text\/event-stream/)
  t.equal(stream.response.headers['cache-control'], 'no-cache, no-transform')
  t.same(stream.events, [], 'from now: no replay of the past')

  await add(app, 'greet', 'hello', { name: 'Jane' })
  await add(app, 'boom', 'bad')
  await runAll(t, name)
  const added = await stream.until(eventOf('added', 'hello'))
  t.match(added.id, /^\d+-\d+$/, 'an id')
  t.same(Object.keys(added.data).sort(), ['at', 'key', 'state', 'task', 'type'])
  t.match(added.data, { type: 'added', key: 'hello', task: 'greet', state: 'queued' })
  t.ok(!Number.isNaN(Date.parse(String(added.data.at))), 'at is a time')
  t.match((await stream.until(eventOf('started', 'hello'))).data, { attempt: 1, state: 'running' })
  t.match((await stream.until(eventOf('completed', 'hello'))).data, { type: 'completed', state: 'completed', attempt: 1 })
  t.match((await stream.until(eventOf('failed', 'bad'))).data, {
    type: 'failed',
    task: 'boom',
    state: 'failed',
    error: { type: 'TypeError', message: 'kaput' },
  })

  await app.inject({ method: 'POST', url: '/strikes', payload: { task: 'boom' } })
  const strike = await stream.until((e) => e.event === 'strike')
  t.match(strike.data, { type: 'strike', task: 'boom', strike: { task: 'boom', operator: '==' } })
  t.notOk('key' in strike.data, 'a strike event has no key')
  const ids = stream.events.map((e) => e.id as string)
  t.same(ids, await logIdsAfter(name, '0-0'), 'every event of the log, once, in order')
  stream.close()
})

t.test('filters: task, key, type (comma-separated)', async (t) => {
  const { app, name, base } = await serve(t)
  const byTask = await openStream(base, '/events?task=greet')
  const byKey = await openStream(base, '/events?key=k1')
  const byType = await openStream(base, '/events?type=failed,completed')
  // in the log, in this order: k2 fails; then k1 completes; then k3 fails
  await add(app, 'boom', 'k2')
  await runAll(t, name)
  await add(app, 'greet', 'k1', { name: 'x' })
  await runAll(t, name)
  await add(app, 'boom', 'k3')
  await runAll(t, name)

  // each stream's events come in log order: when its last expected event is there, the rest came before
  await byTask.until(eventOf('completed', 'k1'))
  t.same(
    byTask.events.map((e) => `${e.event} ${String(e.data.key)}`),
    ['added k1', 'started k1', 'completed k1'],
    'task=greet: only greet',
  )
  await byKey.until(eventOf('completed', 'k1'))
  t.same(
    byKey.events.map((e) => `${e.event} ${String(e.data.key)}`),
    ['added k1', 'started k1', 'completed k1'],
    'key=k1: only k1',
  )
  await byType.until(eventOf('failed', 'k3'))
  t.same(
    byType.events.map((e) => `${e.event} ${String(e.data.key)}`),
    ['failed k2', 'completed k1', 'failed k3'],
    'type=failed,completed: only those',
  )
  for (const stream of [byTask, byKey, byType]) stream.close()
})

t.test('Last-Event-ID resumes with exactly the missed events, then live ones', async (t) => {
  const { app, name, base } = await serve(t)
  const first = await openStream(base, '/events')
  for (const key of ['e1', 'e2', 'e3']) await add(app, 'greet', key, { name: key })
  const e1 = await first.until(eventOf('added', 'e1'))
  await first.until(eventOf('added', 'e3'))
  first.close()
  await waitFor(() => app.eventStreams.stats.clients === 0, 10_000, 'the first client to be gone')
  for (const key of ['e4', 'e5', 'e6']) await add(app, 'greet', key, { name: key })

  const resumed = await openStream(base, '/events', { 'last-event-id': e1.id as string })
  t.equal(resumed.response.statusCode, 200)
  await add(app, 'greet', 'e7', { name: 'e7' })
  await resumed.until(eventOf('added', 'e7'))
  t.same(
    resumed.events.map((e) => String(e.data.key)),
    ['e2', 'e3', 'e4', 'e5', 'e6', 'e7'],
    'the missed events once each, in order, then the live one',
  )
  t.same(
    resumed.events.map((e) => e.id),
    await logIdsAfter(name, e1.id as string),
    'exactly the ids of the log after Last-Event-ID',
  )

  const filtered = await openStream(base, '/events?key=e5', { 'last-event-id': e1.id as string })
  await filtered.until(eventOf('added', 'e5'))
  t.same(
    filtered.events.map((e) => String(e.data.key)),
    ['e5'],
    'a resume is filtered too',
  )
  const fromStart = await openStream(base, '/events', { 'last-event-id': '0-0' })
  await fromStart.until(eventOf('added', 'e7'))
  t.equal(fromStart.events.length, 7, '0-0: everything the log holds')
  const future = await openStream(base, '/events', { 'last-event-id': '99999999999999-0' })
  await add(app, 'greet', 'e8', { name: 'e8' })
  await future.until(eventOf('added', 'e8'))
  t.same(
    future.events.map((e) => String(e.data.key)),
    ['e8'],
    'an id past the newest: from now',
  )
  for (const stream of [resumed, filtered, fromStart, future]) stream.close()
  for (let i = 1; i <= 8; i++) await app.shadow.cancel(`e${i}`)
})

t.test('resuming while events keep coming: no gap, no duplicate', async (t) => {
  const { app, name, base } = await serve(t)
  const watcher = await openStream(base, '/events')
  await add(app, 'greet', 'start', { name: 'x' })
  const start = await watcher.until(eventOf('added', 'start'))
  watcher.close()
  const keys = Array.from({ length: 150 }, (_, i) => `busy-${i}`)
  const adding = (async () => {
    for (const key of keys) await add(app, 'greet', key, { name: key })
  })()
  const streams: Stream[] = []
  // several clients resume at different moments of the burst
  for (let i = 0; i < 5; i++) {
    await waitFor(async () => (await logIdsAfter(name, start.id as string)).length >= i * 25, 10_000, 'some events')
    streams.push(await openStream(base, '/events', { 'last-event-id': start.id as string }))
  }
  await adding
  await add(app, 'greet', 'sentinel', { name: 'x' })
  const expected = await logIdsAfter(name, start.id as string)
  for (const [i, stream] of streams.entries()) {
    await stream.until(eventOf('added', 'sentinel'))
    t.same(
      stream.events.map((e) => e.id),
      expected,
      `client ${i}: every event after Last-Event-ID, once, in order`,
    )
    stream.close()
  }
  for (const key of [...keys, 'start', 'sentinel']) await app.shadow.cancel(key)
})

t.test('a keep-alive comment comes every eventsKeepAlive ms', async (t) => {
  const { base } = await serve(t, { eventsKeepAlive: 20 })
  const stream = await openStream(base, '/events')
  await waitFor(() => stream.comments.includes('keep-alive'), 10_000, 'a keep-alive comment')
  t.pass('seen')
  stream.close()
})

t.test('a client that reads too slowly gets a last dropped event and is closed; the others go on', async (t) => {
  const { app, name, base } = await serve(t, { eventsClientBuffer: 64 * 1024 })
  const port = Number(new URL(base).port)
  const healthy = await openStream(base, '/events?type=added')
  const socket = connect(port, '127.0.0.1')
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  socket.write('GET /events?type=progress HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n')
  await waitFor(() => Buffer.concat(received).includes('\r\n\r\n'), 10_000, 'the headers')
  socket.pause()

  // big progress events straight into the log, until the paused client is dropped
  const log = shadowKeys(name).eventLog
  const message = 'x'.repeat(60_000)
  const redis = adminRedis()
  await waitFor(
    async () => {
      const batch = redis.pipeline()
      for (let i = 0; i < 20; i++) {
        batch.xadd(
          log,
          'MAXLEN',
          '~',
          '100',
          '*',
          'type',
          'progress',
          'key',
          'slow',
          'task',
          'greet',
          'attempt',
          '1',
          'state',
          '',
          'data',
          JSON.stringify({ current: i, message }),
        )
      }
      await batch.exec()
      return app.eventStreams.stats.dropped === 1
    },
    60_000,
    'the slow client to be dropped',
  )
  t.equal(app.eventStreams.stats.clients, 1, 'the healthy client is still connected')
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  socket.resume()
  await closed
  const text = Buffer.concat(received).toString('utf8')
  const blocks = text.trimEnd().split('\n\n')
  const last = blocks.at(-1) ?? ''
  t.match(last, /^event: dropped\ndata: \{/, 'the last thing sent is a dropped event')
  t.match(JSON.parse(last.split('data: ')[1] as string), { type: 'dropped', message: /too slowly/ })

  await add(app, 'greet', 'after-drop', { name: 'x' })
  await healthy.until(eventOf('added', 'after-drop'))
  t.pass('the healthy client goes on')
  healthy.close()
  await app.shadow.cancel('after-drop')
})

t.test('one shared reader: 20 clients, one blocking events connection', async (t) => {
  const connectionName = uniqueName('sse-conn')
  const redis = connectRedis(TEST_URL, { connectionName })
  t.teardown(() => redis.disconnect())
  const { app, base } = await serve(t, { redis })
  /** This gateway's connections: all share the name (duplicates copy it); `b` = blocked. */
  const connections = async () => {
    const list = String(await adminRedis().call('CLIENT', 'LIST'))
    const mine = list.split('\n').filter((line) => line.includes(` name=${connectionName} `))
    return { total: mine.length, blocked: mine.filter((line) => / flags=\S*b/.test(line)).length }
  }
  const one = await openStream(base, '/events')
  await waitFor(async () => (await connections()).blocked === 1, 10_000, 'the reader to block')
  const withOne = await connections()
  const more: Stream[] = []
  for (let i = 0; i < 19; i++) more.push(await openStream(base, `/events${i % 2 === 0 ? '?type=added' : ''}`, i % 3 === 0 ? { 'last-event-id': '0-0' } : {}))
  t.equal(app.eventStreams.stats.clients, 20, '20 clients')
  await add(app, 'greet', 'fan-out', { name: 'x' })
  for (const stream of [one, ...more]) await stream.until(eventOf('added', 'fan-out'))
  await waitFor(async () => (await connections()).blocked === 1, 10_000, 'the reader to block again')
  const withTwenty = await connections()
  t.equal(withTwenty.blocked, 1, 'one blocking events reader for 20 clients')
  t.equal(withTwenty.total, withOne.total, 'no connection per client')
  t.equal(withOne.total, 2, 'the gateway holds two connections: its own and the events reader')
  for (const stream of [one, ...more]) stream.close()
  await app.shadow.cancel('fan-out')
})

t.test('close() ends every stream and does not hang with clients open', { timeout: 30_000 }, async (t) => {
  const name = uniqueName('gw')
  const app = await buildApp({ tasks: TASKS, url: TEST_URL, name, logger: testLogger, eventsKeepAlive: 60_000 })
  t.teardown(async () => {
    await app.close()
    const keys = await shadowKeysIn(name)
    if (keys.length > 0) await adminRedis().del(...keys)
  })
  await app.ready()
  const base = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  const streams = [
    await openStream(base, '/events'),
    await openStream(base, '/events?type=failed'),
    await openStream(base, '/events', { 'last-event-id': '0-0' }),
  ]
  t.equal(app.eventStreams.stats.clients, 3)
  await app.close()
  await Promise.all(streams.map((stream) => stream.ended))
  t.pass('closed, and every stream ended')
  t.equal(app.eventStreams.stats.clients, 0)
})

t.test('hostile filters and Last-Event-ID: 400 with a stable code, before any stream starts', async (t) => {
  const { app, name } = await makeApp(t)
  const V: ErrorCode = 'SHADOWS_ERR_VALIDATION'
  const get = (url: string, lastEventId?: string): InjectOptions => ({
    method: 'GET',
    url,
    ...(lastEventId !== undefined ? { headers: { 'last-event-id': lastEventId } } : {}),
  })
  const cases: [string, InjectOptions][] = [
    ['an unknown type', get('/events?type=bogus')],
    ['type empty', get('/events?type=')],
    ['an empty type in the list', get('/events?type=added,,failed')],
    ['type=__proto__', get('/events?type=__proto__')],
    ['type=constructor', get('/events?type=constructor')],
    ['type=toString', get('/events?type=toString')],
    ['type twice', get('/events?type=added&type=failed')],
    ['a huge type list', get(`/events?type=${'added,'.repeat(2000)}x`)],
    ['task empty', get('/events?task=')],
    ['task=__proto__', get('/events?task=__proto__')],
    ['task like a path', get('/events?task=../../x')],
    ['task huge', get(`/events?task=${'t'.repeat(5000)}`)],
    ['key empty', get('/events?key=')],
    ['key=..', get('/events?key=..')],
    ['key with a space', get('/events?key=a%20b')],
    ['key huge', get(`/events?key=${'k'.repeat(201)}`)],
    ['key twice', get('/events?key=a&key=b')],
    ['Last-Event-ID garbage', get('/events', 'garbage')],
    ['Last-Event-ID negative', get('/events', '-1-0')],
    ['Last-Event-ID with a negative part', get('/events', '1--1')],
    ['Last-Event-ID a float', get('/events', '1.5-0')],
    ['Last-Event-ID an exponent', get('/events', '1e3-0')],
    ['Last-Event-ID without a sequence', get('/events', '1712345678901')],
    ['Last-Event-ID with three parts', get('/events', '1-2-3')],
    ['Last-Event-ID past 64 bits', get('/events', '18446744073709551616-0')],
    ['Last-Event-ID sequence past 64 bits', get('/events', '0-99999999999999999999')],
    ['Last-Event-ID of 21 digits', get('/events', '123456789012345678901-0')],
    ['Last-Event-ID huge', get('/events', '1'.repeat(8000))],
    ['Last-Event-ID __proto__', get('/events', '__proto__')],
    ['Last-Event-ID constructor', get('/events', 'constructor.prototype')],
    ['Last-Event-ID +', get('/events', '+')],
    ['Last-Event-ID $', get('/events', '$')],
    ['Last-Event-ID a list', get('/events', '1-0, 2-0')],
  ]
  const before = await shadowKeysIn(name)
  for (const [what, request] of cases) {
    const res = await app.inject(request)
    t.ok(res.statusCode < 500, `${what}: not a 5xx (${res.statusCode})`)
    assertError(t, res, 400, V, what)
  }
  t.same(await shadowKeysIn(name), before, 'nothing written')
  t.equal(app.eventStreams.stats.clients, 0, 'no stream opened')
})

t.test('a client resuming from an event the capped log no longer holds is told with a gap event, then gets what is left', async (t) => {
  // the log keeps the last 50 events, trimmed every 5: 400 adds trim the first event off
  const { app, name, base } = await serve(t, { eventsLimit: 50 })
  await add(app, 'greet', 'first', { name: 'first' })
  const firstId = (await logEvents(name))[0]!.id
  const never = await openStream(base, '/events', { 'last-event-id': firstId })
  await add(app, 'greet', 'not-trimmed-yet', { name: 'x' })
  await never.until(eventOf('added', 'not-trimmed-yet'))
  t.notOk(
    never.events.some((e) => e.event === 'gap'),
    'nothing trimmed yet: no gap',
  )
  never.close()
  for (let i = 0; i < 400; i++) await app.shadow.add('greet', { key: `k${i}` })({ name: 'n' })
  const oldest = (await logEvents(name))[0]!.id
  t.not(oldest, firstId, 'the log was trimmed past the first event')

  const resumed = await openStream(base, '/events', { 'last-event-id': firstId })
  await resumed.until(eventOf('added', 'k399'))
  const [gap, ...rest] = resumed.events
  t.match(gap, { event: 'gap', id: undefined, data: { type: 'gap', lastEventId: firstId, oldestEventId: oldest } }, 'first a gap event, without an id')
  t.equal(rest[0]?.id, oldest, 'then the oldest event the log holds')
  t.same(
    rest.map((e) => e.id),
    await logIdsAfter(name, firstId),
    'and every event it holds after it',
  )
  resumed.close()
  for (const key of ['first', 'not-trimmed-yet', ...Array.from({ length: 400 }, (_, i) => `k${i}`)]) await app.shadow.cancel(key)
})
