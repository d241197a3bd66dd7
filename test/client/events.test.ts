/**
 * ShadowsClient.events(): an async iterator over GET /events of a real gateway. It yields the
 * events as they happen, with their ids; after the connection drops (the gateway's socket
 * destroyed) it connects again with Last-Event-ID and goes on with exactly the events missed
 * meanwhile; it starts after a given id; break, return() and the signal end it and close the
 * connection; a refusal rejects.
 */
import t from 'tap'
import type { Socket } from 'node:net'
import { ShadowsClient, ShadowsError, type EventsGap, type ReconnectInfo, type ShadowsEvent } from '../../src/http-client/index.js'
import { closeAdmin, waitFor } from '../helpers/shadow.js'
import { runAll, serve } from '../helpers/client.js'

t.teardown(closeAdmin)

/** `key` of a task event; the rule's id of a strike event. */
const keyOf = (event: ShadowsEvent) => ('key' in event ? event.key : event.strike.id)

t.test('yields the events with their ids, in order; break closes the connection', async (t) => {
  const { app, name, baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl })
  const events = client.events({ task: 'greet' })
  const first = events.next()
  await waitFor(() => app.eventStreams.stats.clients === 1, 10_000, 'the stream open')
  await client.add({ task: 'greet', params: { name: 'a' }, key: 'a' })
  await client.add({ task: 'boom', key: 'other-task' })
  const strike = await client.strike({ task: 'greet', parameter: 'name', value: 'z' })

  const added = await first
  t.match(added.value, { id: /^\d+-\d+$/, type: 'added', key: 'a', task: 'greet', at: String, state: 'queued' }, 'an added event, with its id')
  const struck = await events.next()
  t.match(struck.value, { type: 'strike', task: 'greet', strike: { id: strike.id, parameter: 'name', value: 'z' } }, 'the strike, filtered by task')
  await client.restore(strike.id)
  await runAll(t, name)
  const seen: ShadowsEvent[] = []
  for await (const event of events) {
    seen.push(event)
    if (event.type === 'completed') break
  }
  t.same(
    seen.map((e) => [e.type, keyOf(e)]),
    [
      ['restore', strike.id],
      ['started', 'a'],
      ['completed', 'a'],
    ],
    'then the restore, and the run of a: nothing of the boom task',
  )
  const completed = seen[2]
  t.match(completed, { type: 'completed', key: 'a', attempt: 1, state: 'completed' })
  const ids = [added.value, struck.value, ...seen].map((e: ShadowsEvent) => e.id)
  t.same([...ids].sort(compareIds), ids, 'ids in order')
  await waitFor(() => app.eventStreams.stats.clients === 0, 10_000, 'the connection closed after break')
  t.same(await events.next(), { done: true, value: undefined }, 'and the iterator is done')
})

/** Orders event ids `<ms>-<seq>`. */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am - bm || as - bs
}

t.test('after the connection drops it resumes with Last-Event-ID: no gap, nothing twice', async (t) => {
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  const requests: { lastEventId: string | undefined; socket: Socket }[] = []
  const { app, baseUrl } = await serve(t, {}, (app) => {
    app.addHook('onRequest', async (request) => {
      if (!request.url.startsWith('/events')) return
      requests.push({ lastEventId: request.headers['last-event-id'] as string | undefined, socket: request.raw.socket })
      // the second connection waits, so that the events between surely happen while none is open
      if (requests.length === 2) await held
    })
  })
  const client = new ShadowsClient({ baseUrl })
  const reconnects: ReconnectInfo[] = []
  const events = client.events({ type: ['added'] }, { reconnectDelay: 50, onReconnect: (info) => reconnects.push(info) })
  const next = events.next()
  await waitFor(() => app.eventStreams.stats.clients === 1, 10_000, 'the stream open')
  await client.add({ task: 'greet', params: { name: '1' }, key: 'k1' })
  const k1 = (await next).value as ShadowsEvent
  t.equal(keyOf(k1), 'k1')

  requests[0]?.socket.destroy()
  const afterDrop = events.next()
  await waitFor(() => requests.length === 2, 10_000, 'a second connection')
  await client.add({ task: 'greet', params: { name: '2' }, key: 'k2' })
  await client.add({ task: 'greet', params: { name: '3' }, key: 'k3' })
  release()
  const k2 = (await afterDrop).value as ShadowsEvent
  const k3 = (await events.next()).value as ShadowsEvent
  await client.add({ task: 'greet', params: { name: '4' }, key: 'k4' })
  const k4 = (await events.next()).value as ShadowsEvent
  t.same([k1, k2, k3, k4].map(keyOf), ['k1', 'k2', 'k3', 'k4'], 'the events added while disconnected, then the live ones')
  t.same(new Set([k1, k2, k3, k4].map((e) => e.id)).size, 4, 'nothing twice')
  t.same(
    requests.map((r) => r.lastEventId),
    [undefined, k1.id],
    'the first connection from now; the second with Last-Event-ID: the last event received',
  )
  t.equal(reconnects.length, 1, 'one reconnection')
  t.match(reconnects[0], { failures: 0, delay: 50, lastEventId: k1.id })
  t.same(await events.return?.(), { done: true, value: undefined }, 'return() ends it')
  await waitFor(() => app.eventStreams.stats.clients === 0, 10_000, 'and closes the connection')
  for (const key of ['k1', 'k2', 'k3', 'k4']) await client.cancel(key)
})

t.test('a connection that drops before its first event resumes from where it opened', async (t) => {
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  const requests: { lastEventId: string | undefined; socket: Socket }[] = []
  let opened: string | undefined
  const { baseUrl } = await serve(t, {}, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/events')) return
      requests.push({ lastEventId: request.headers['last-event-id'] as string | undefined, socket: request.raw.socket })
      if (requests.length === 1) {
        // the stream's opening id, once written: written before the socket goes, it reaches the client
        const write = reply.raw.write.bind(reply.raw) as (chunk: unknown) => boolean
        reply.raw.write = ((chunk: unknown) => {
          const text = String(chunk)
          if (text.startsWith('id: ')) opened = text.slice(4).trim()
          return write(chunk)
        }) as typeof reply.raw.write
      }
      if (requests.length === 2) await held
    })
  })
  const client = new ShadowsClient({ baseUrl })
  const events = client.events({ type: ['added'] }, { reconnectDelay: 50 })
  const first = events.next()
  await waitFor(() => opened !== undefined, 10_000, 'the stream open, its opening id written')
  requests[0]?.socket.destroy()
  await waitFor(() => requests.length === 2, 10_000, 'a second connection')
  await client.add({ task: 'greet', params: { name: '1' }, key: 'k1' })
  release()
  const k1 = (await first).value as ShadowsEvent
  await client.add({ task: 'greet', params: { name: '2' }, key: 'k2' })
  const k2 = (await events.next()).value as ShadowsEvent
  t.same([k1, k2].map(keyOf), ['k1', 'k2'], 'the event added while no connection was open, then the live one')
  t.equal(requests[1]?.lastEventId, opened, 'the second connection resumed from the id the first one opened at')
  t.match(opened, /^\d+-\d+$/)
  await events.return?.()
  for (const key of ['k1', 'k2']) await client.cancel(key)
})

t.test('lastEventId: starts just after that event', async (t) => {
  const { app, baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl })
  const live = client.events({ type: 'added' })
  const first = live.next()
  await waitFor(() => app.eventStreams.stats.clients === 1, 10_000, 'the stream open')
  for (const key of ['e1', 'e2', 'e3']) await client.add({ task: 'greet', params: { name: key }, key })
  const e1 = (await first).value as ShadowsEvent
  await live.return?.()

  const replay = client.events({ type: 'added' }, { lastEventId: e1.id })
  const keys: string[] = []
  for await (const event of replay) {
    keys.push(keyOf(event))
    if (keys.length === 2) break
  }
  t.same(keys, ['e2', 'e3'], 'the events after it, from the log')
  for (const key of ['e1', 'e2', 'e3']) await client.cancel(key)
})

t.test('the signal ends a pending next() with its reason and closes the connection', async (t) => {
  const { app, baseUrl } = await serve(t)
  const client = new ShadowsClient({ baseUrl })
  const controller = new AbortController()
  const events = client.events({}, { signal: controller.signal })
  const pending = events.next()
  await waitFor(() => app.eventStreams.stats.clients === 1, 10_000, 'the stream open')
  controller.abort(new Error('enough'))
  await t.rejects(pending, { message: 'enough' }, "rejects with the signal's reason")
  await waitFor(() => app.eventStreams.stats.clients === 0, 10_000, 'the connection closed')
  await t.rejects(client.events({}, { signal: controller.signal }).next(), { message: 'enough' }, 'an aborted signal: at once')
})

t.test('a refusal rejects with its ShadowsError, without retrying', async (t) => {
  const { baseUrl } = await serve(t)
  const reconnects: ReconnectInfo[] = []
  const client = new ShadowsClient({ baseUrl })
  const events = client.events({ type: 'nonsense' }, { onReconnect: (info) => reconnects.push(info) })
  await t.rejects(events.next(), new ShadowsError('SHADOWS_ERR_VALIDATION', 400, ''), 'a bad filter: 400')
  await t.rejects(client.events({}, { lastEventId: 'not-an-id' }).next(), { code: 'SHADOWS_ERR_VALIDATION', status: 400 }, 'a bad lastEventId: 400')
  t.same(reconnects, [], 'no reconnection')
})

t.test('a connection that fails is tried again up to `retries` times in a row', async (t) => {
  const { freePort } = await import('../../src/cli/private-redis.js')
  const port = await freePort()
  const reconnects: ReconnectInfo[] = []
  const client = new ShadowsClient({ baseUrl: `http://127.0.0.1:${port}` })
  const events = client.events({}, { retries: 2, reconnectDelay: 10, onReconnect: (info) => reconnects.push(info) })
  await t.rejects(events.next(), { code: 'SHADOWS_ERR_NETWORK' }, 'then the last error')
  t.same(
    reconnects.map((r) => [r.failures, r.delay]),
    [
      [1, 10],
      [2, 20],
    ],
    'after a doubling backoff',
  )
})

t.test('a connection silent for idleTimeout is replaced, and resumes', async (t) => {
  // keep-alive comments far apart: the stream stays silent
  const { app, baseUrl } = await serve(t, { eventsKeepAlive: 60_000 })
  const client = new ShadowsClient({ baseUrl })
  const reconnects: ReconnectInfo[] = []
  const events = client.events({}, { idleTimeout: 1000, reconnectDelay: 10, onReconnect: (info) => reconnects.push(info) })
  const first = events.next()
  await waitFor(() => app.eventStreams.stats.clients === 1, 10_000, 'the stream open')
  await client.add({ task: 'greet', params: { name: 'x' }, key: 'before-idle' })
  const before = (await first).value as ShadowsEvent
  t.match(before, { type: 'added', key: 'before-idle' })
  const next = events.next()
  await waitFor(() => reconnects.length >= 1, 10_000, 'a reconnection')
  t.match(
    reconnects[0],
    { failures: 0, delay: 10, lastEventId: before.id, error: { code: 'SHADOWS_ERR_NETWORK', message: /nothing from .* for 1000 ms/ } },
    'the silent one given up',
  )
  await client.add({ task: 'greet', params: { name: 'x' }, key: 'after-idle' })
  t.match((await next).value, { type: 'added', key: 'after-idle' }, 'the new connection resumes after the last event')
  await events.return?.()
})

t.test('resuming from an event the capped log no longer holds: onGap, then what the log holds', async (t) => {
  // MAXLEN ~ trims whole stream nodes (100 entries by default): 400 adds with a limit of 50 trim
  const { app, baseUrl } = await serve(t, { eventsLimit: 50 })
  const client = new ShadowsClient({ baseUrl })
  const live = client.events({ type: 'added' })
  const first = live.next()
  await waitFor(() => app.eventStreams.stats.clients === 1, 10_000, 'the stream open')
  await client.add({ task: 'greet', params: { name: 'first' }, key: 'first' })
  const firstId = ((await first).value as ShadowsEvent).id
  await live.return?.()
  for (let i = 0; i < 4; i++) {
    await client.addBatch(Array.from({ length: 100 }, (_, j) => ({ task: 'greet', params: { name: 'n' }, key: `k${i * 100 + j}` })))
  }
  const gaps: EventsGap[] = []
  const resumed = client.events({ type: 'added' }, { lastEventId: firstId, onGap: (gap) => gaps.push(gap) })
  const oldest = (await resumed.next()).value as ShadowsEvent
  await resumed.return?.()
  t.match(gaps, [{ lastEventId: firstId, oldestEventId: oldest.id, message: /may be missing/ }], 'told of the gap')
  t.not(oldest.id, firstId, 'then the oldest event the log still holds')
})
