/**
 * shadow.events and the events log against the real Redis: every transition with its fields, the
 * filters, resuming with `since` (no gap, no duplicate), starting from now, the log's cap and
 * `eventsLimit: 0`, the reader's connection closed when the loop breaks, perpetual runs.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, eventMatcher, type EventFilter, type EventsOptions, type Shadow, type ShadowEvent, type TaskContext } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { rejectsWith } from '../helpers/engine-state.js'
import { connectionsOf, jobTask, logEvents } from '../helpers/history.js'
import { EVENTS_PER_ENTRY } from '../../src/redis/event-log.js'
import { compareEventIds } from '../../src/core/events.js'

t.teardown(closeAdmin)

/**
 * Starts reading `shadow.events(options)` now, in the background, until `until` holds for what was
 * read (then the loop breaks); `done` resolves with the events.
 */
function readEvents(
  shadow: Shadow,
  options: EventsOptions,
  until: (events: ShadowEvent[]) => boolean,
): { events: ShadowEvent[]; done: Promise<ShadowEvent[]> } {
  const events: ShadowEvent[] = []
  const iterator = shadow.events(options)
  const done = (async () => {
    for await (const event of iterator) {
      events.push(event)
      if (until(events)) break
    }
    return events
  })()
  return { events, done }
}

/** Resolves with `promise`, or rejects after `ms` naming `what` (a stuck reader fails its test, not the run). */
function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const withoutId = ({ id: _id, at: _at, ...rest }: ShadowEvent) => rest

t.test('every transition appears, with its fields', async (t) => {
  const job = defineTask({
    name: 'job',
    params: Type.Object({ v: Type.Number() }),
    // long enough for the next attempt to wait in the schedule
    retry: { attempts: 2, delay: 500 },
    async run({ v }, ctx: TaskContext) {
      await ctx.progress(ctx.attempt, 2, `try ${ctx.attempt}`)
      if (ctx.attempt === 1) throw new Error(`fail ${v} ${ctx.attempt}`)
      return v
    },
  })
  const once = defineTask({
    name: 'once',
    params: Type.Object({}),
    async run() {
      throw new TypeError('once only')
    },
  })
  const shadow = makeShadow(t)
  const before = Date.now()
  const reader = readEvents(shadow, {}, (events) => events.some((e) => e.type === 'retrying' && e.attempt === 1))
  await shadow.add(job, { key: 'r' })({ v: 1 })
  await shadow.add(once, { key: 'f' })({})
  await shadow.add(job, { key: 'x', delay: 3_600_000 })({ v: 2 })
  await shadow.cancel('x')
  await shadow.add(job, { key: 's' })({ v: 99 })
  const { strike } = await shadow.strike({ task: 'job', parameter: 'v', operator: '==', value: 99 })
  await makeWorker(t, shadow, [job, once]).runUntilFinished()
  await shadow.restore(strike.id)
  await shadow.retry('f')
  const events = await within(reader.done, 'every event')
  const after = Date.now()
  for (const event of events) {
    t.match(event.id, /^\d+-\d+$/, `${event.type}: an id`)
    t.ok(event.at.getTime() >= before - 1 && event.at.getTime() <= after + 1, `${event.type}: at`)
  }
  const of = (key: string) => events.filter((e) => 'key' in e && e.key === key).map(withoutId)
  t.same(
    of('r'),
    [
      { type: 'added', key: 'r', task: 'job', state: 'queued' },
      { type: 'started', key: 'r', task: 'job', attempt: 1, state: 'running' },
      { type: 'progress', key: 'r', task: 'job', attempt: 1, state: 'running', progress: { current: 1, total: 2, message: 'try 1' } },
      { type: 'retrying', key: 'r', task: 'job', attempt: 2, state: 'scheduled', error: { type: 'Error', message: 'fail 1 1' } },
      { type: 'started', key: 'r', task: 'job', attempt: 2, state: 'running' },
      { type: 'progress', key: 'r', task: 'job', attempt: 2, state: 'running', progress: { current: 2, total: 2, message: 'try 2' } },
      { type: 'completed', key: 'r', task: 'job', attempt: 2, state: 'completed' },
    ],
    'a task that failed once, then completed',
  )
  t.same(
    of('f'),
    [
      { type: 'added', key: 'f', task: 'once', state: 'queued' },
      { type: 'started', key: 'f', task: 'once', attempt: 1, state: 'running' },
      { type: 'failed', key: 'f', task: 'once', attempt: 1, state: 'failed', error: { type: 'TypeError', message: 'once only' } },
      { type: 'retrying', key: 'f', task: 'once', attempt: 1, state: 'queued' },
    ],
    'a task that failed, then retried by hand',
  )
  t.same(
    of('x'),
    [
      { type: 'added', key: 'x', task: 'job', state: 'scheduled' },
      { type: 'cancelled', key: 'x', task: 'job', attempt: 1, state: 'cancelled' },
    ],
    'a task cancelled',
  )
  // the worker judges the strikes once the start script took the task (running), and never runs it
  const struck = of('s')
  t.same(struck.slice(0, 2), [
    { type: 'added', key: 's', task: 'job', state: 'queued' },
    { type: 'started', key: 's', task: 'job', attempt: 1, state: 'running' },
  ])
  t.has(struck[2], { type: 'struck', key: 's', task: 'job', attempt: 1, state: 'struck', error: { type: 'StruckError' } }, 'a task struck')
  t.equal(struck.length, 3)
  const rules = events.filter((e) => e.type === 'strike' || e.type === 'restore').map(withoutId)
  t.same(
    rules,
    [
      { type: 'strike', task: 'job', strike },
      { type: 'restore', task: 'job', strike },
    ],
    'the strike and its restore, with the rule',
  )
  t.same(
    [...new Set(events.map((e) => e.type))].sort(),
    ['added', 'cancelled', 'completed', 'failed', 'progress', 'restore', 'retrying', 'started', 'strike', 'struck'],
    'all ten types',
  )
  t.ok(
    events.every((e, i) => i === 0 || (events[i - 1] as ShadowEvent).id < e.id || (events[i - 1] as ShadowEvent).id.length < e.id.length),
    'in log order',
  )
})

t.test('filters by task, key and types, as the matcher says', async (t) => {
  const { task: job } = jobTask('job')
  const { task: other } = jobTask('other')
  const shadow = makeShadow(t)
  const done = (events: ShadowEvent[]) => events.some((e) => e.type === 'restore')
  const filters: EventFilter[] = [
    { task: 'job' },
    { task: 'other' },
    { key: 'o1' },
    { types: ['failed', 'completed'] },
    { task: 'job', types: ['added'] },
    { key: 'j1', types: ['started'] },
  ]
  // a restore ends every reader: each keeps it only when its filter does, so each ends at its own last event
  const everything = readEvents(shadow, {}, done)
  const filtered = filters.map((filter) => ({ filter, reader: readEvents(shadow, filter, () => false) }))
  await shadow.add(job, { key: 'j1' })({ v: 1 })
  await shadow.add(other, { key: 'o1' })({ v: 2, fail: true })
  await shadow.add(job, { key: 'j2' })({ v: 3, fail: true })
  await makeWorker(t, shadow, [job, other]).runUntilFinished()
  const { strike } = await shadow.strike({ task: 'other' })
  await shadow.strike({ parameter: 'v', value: 1000 })
  await shadow.restore(strike.id)
  const all = await within(everything.done, 'every event')
  for (const { filter, reader } of filtered) {
    const want = all.filter(eventMatcher(filter))
    await waitFor(() => reader.events.length >= want.length, 10_000, `the events of ${JSON.stringify(filter)}`)
    t.same(reader.events, want, `${JSON.stringify(filter)}: ${want.length} events`)
    t.ok(want.length > 0, `${JSON.stringify(filter)} keeps some`)
  }
  t.ok(
    all.filter(eventMatcher({ task: 'job' })).some((e) => e.type === 'strike' && e.task === undefined),
    'a task filter keeps a strike on a parameter alone',
  )
  t.notOk(
    all.filter(eventMatcher({ task: 'job' })).some((e) => e.type === 'strike' && e.task === 'other'),
    "a task filter drops another task's strike",
  )
  await shadow.close()
  for (const { reader } of filtered) await within(reader.done, 'the readers to end when the shadow closes')
  t.pass('every reader ended with the shadow')
})

t.test('since resumes right after the event given: no gap, no duplicate', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  // 20 added, 20 started, 20 completed
  const reader = readEvents(shadow, {}, (events) => events.length === 60)
  await shadow.addBatch(Array.from({ length: 20 }, (_, i) => ({ task: 'job', key: `k${i}`, params: { v: i } })))
  await makeWorker(t, shadow, [job]).runUntilFinished()
  const events = await within(reader.done, 'sixty events')
  for (const cut of [0, 1, 17, 58]) {
    const since = (events[cut] as ShadowEvent).id
    const rest = events.slice(cut + 1)
    const resumed = await within(readEvents(shadow, { since }, (got) => got.length === rest.length).done, `resuming after ${cut}`)
    t.same(resumed, rest, `after event ${cut}: the ${rest.length} that follow, in order`)
  }
  // resuming after the last one reads what comes next, first
  const last = (events[events.length - 1] as ShadowEvent).id
  const next = readEvents(shadow, { since: last }, (got) => got.length === 1)
  await shadow.add(job, { key: 'later' })({ v: 1 })
  const [first] = await within(next.done, 'the next event')
  t.has(first, { type: 'added', key: 'later' }, 'the event after since comes first')
  // since the start of time: every event the log holds
  const fromStart = await within(readEvents(shadow, { since: '0-0' }, (got) => got.length === 61).done, 'every event')
  t.same(fromStart.slice(0, 60), events, 'since 0-0 replays the log')
})

t.test('without since: only events from now, an add made before the loop starts included', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'old' })({ v: 1 })
  const iterator = shadow.events({})
  // the loop starts only after this add: the add came after events() was called, so it is seen
  await shadow.add(job, { key: 'new' })({ v: 2 })
  const first = await within(iterator.next(), 'the first event')
  t.has(first, { done: false, value: { type: 'added', key: 'new' } }, 'the first event is the add after events(); none before it')
  await iterator.return(undefined)
})

t.test('bad filters and since are refused at once', async (t) => {
  const shadow = makeShadow(t)
  const bad: [string, unknown][] = [
    ['null', null],
    ['types empty', { types: [] }],
    ['types unknown', { types: ['added', 'exploded'] }],
    ['types a string', { types: 'added' }],
    ['key invalid', { key: 'no spaces' }],
    ['task empty', { task: '' }],
    ['since junk', { since: 'yesterday' }],
    ['since a number', { since: 5 }],
    ['since past the largest id', { since: '99999999999999999999-0' }],
    ['since sequence past the largest', { since: '1-18446744073709551616' }],
  ]
  for (const [what, options] of bad) {
    await rejectsWith(t, async () => shadow.events(options as never), 'SHADOWS_ERR_VALIDATION', what)
  }
  const log = shadow.eventLog()
  await rejectsWith(t, () => log.read({ after: '18446744073709551616-0' }), 'SHADOWS_ERR_VALIDATION', 'read after an id past the largest')
  await rejectsWith(t, () => log.read({ after: '0-0', count: 0 }), 'SHADOWS_ERR_VALIDATION', 'count 0')
  t.same(
    await log.read({ after: '18446744073709551615-18446744073709551615' }),
    { events: [], next: '18446744073709551615-18446744073709551615' },
    'the largest id reads nothing',
  )
  log.close()
  t.equal(await adminRedis().exists(shadowContext(shadow).keys.eventLog), 0, 'nothing written')
})

t.test('the log keeps the last eventsLimit events, in entries of one script call each', async (t) => {
  const eventsLimit = 50
  // trimmed each tenth of eventsLimit, by whole entries of up to EVENTS_PER_ENTRY events
  const most = eventsLimit + eventsLimit / 10 + EVENTS_PER_ENTRY
  const shadow = makeShadow(t, { eventsLimit })
  const { keys } = shadowContext(shadow)
  for (let i = 0; i < 10; i++) await shadow.addBatch(Array.from({ length: 100 }, (_, j) => ({ task: 'job', key: `k${i}-${j}`, params: { v: j } })))
  t.equal(await adminRedis().get(keys.eventCount), '1000', 'every event was counted')
  let held = await logEvents(shadow.name)
  t.ok(held.length >= eventsLimit && held.length <= most, `batches: at least eventsLimit kept, at most ${most} (${held.length})`)
  t.same(
    held.slice(-eventsLimit).map((event) => 'key' in event && event.key),
    Array.from({ length: eventsLimit }, (_, j) => `k9-${100 - eventsLimit + j}`),
    'the newest ones, in order',
  )
  t.equal(await adminRedis().xlen(keys.eventLog), Math.ceil(held.length / 100), 'one entry per batch of 100')

  for (let i = 0; i < 120; i++) await shadow.add('job', { key: `one${i}` })({ v: i })
  held = await logEvents(shadow.name)
  t.ok(
    held.length >= eventsLimit && held.length <= eventsLimit + eventsLimit / 10,
    `one add at a time: at least eventsLimit kept, at most a tenth more (${held.length})`,
  )
  t.match(held.at(-1), { type: 'added', key: 'one119' }, 'the newest last')
  const log = shadow.eventLog()
  const oldest = await log.oldest()
  t.equal(oldest, held[0]?.id, 'oldest: the first event held')
  t.same(await log.read({ after: await log.latest() }), { events: [], next: await log.latest() }, 'nothing after the latest')
  log.close()
})

t.test('the log keeps to eventsLimit events however few each entry holds', async (t) => {
  // entries of two events each: between two trims (a tenth of eventsLimit) the log gets more
  // entries than a trim of a fixed number of them would remove
  const eventsLimit = 5000
  const shadow = makeShadow(t, { eventsLimit })
  for (let i = 0; i < 7500; i++) {
    await shadow.addBatch([
      { task: 'job', key: `a${i}`, params: { v: i } },
      { task: 'job', key: `b${i}`, params: { v: i } },
    ])
  }
  const held = (await logEvents(shadow.name)).length
  t.ok(held >= eventsLimit && held <= eventsLimit * 1.1 + EVENTS_PER_ENTRY, `15,000 events given, ${held} kept`)
})

t.test('events of one entry: each has its own id, in order, and reading resumes within an entry', async (t) => {
  const shadow = makeShadow(t)
  const { keys } = shadowContext(shadow)
  await shadow.addBatch(Array.from({ length: 250 }, (_, j) => ({ task: 'job', key: `b${j}`, params: { v: j } })))
  t.equal(await adminRedis().xlen(keys.eventLog), 3, '250 events of one call: entries of 100, 100 and 50')
  const all = await logEvents(shadow.name)
  t.same(
    all.map((event) => 'key' in event && event.key),
    Array.from({ length: 250 }, (_, j) => `b${j}`),
    'every event, in order',
  )
  t.equal(new Set(all.map((event) => event.id)).size, 250, 'each its own id')
  const sorted = [...all].sort((a, b) => compareEventIds(a.id, b.id))
  t.same(sorted, all, 'ids in the order of the log')
  const log = shadow.eventLog()
  for (const from of [0, 41, 99, 100, 248]) {
    const batch = await log.read({ after: all[from]!.id, count: 30 })
    t.same(
      batch.events.map((event) => event.id),
      all.slice(from + 1, from + 31).map((event) => event.id),
      `after event ${from}: the next 30, however the entries fall`,
    )
  }
  const rest = await log.read({ after: all[120]!.id, count: 1000 })
  t.equal(rest.events.length, 129, 'count beyond the log: everything after')
  t.same(await log.read({ after: rest.next }), { events: [], next: rest.next }, 'and nothing after where it ended')
  log.close()
})

t.test('eventsLimit 0 writes no events', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t, { eventsLimit: 0 })
  const progress = defineTask({
    name: 'progress',
    params: Type.Object({}),
    async run(_params, ctx) {
      await ctx.progress(1, 2)
      throw new Error('no')
    },
  })
  await shadow.add(job, { key: 'c' })({ v: 1 })
  await shadow.add(job, { key: 'f' })({ v: 1, fail: true })
  await shadow.add(progress, { key: 'p' })({})
  await shadow.add(job, { key: 'x', delay: 3_600_000 })({ v: 1 })
  await shadow.cancel('x')
  await shadow.add(job, { key: 's' })({ v: 9 })
  const { strike } = await shadow.strike({ task: 'job', parameter: 'v', value: 9 })
  await makeWorker(t, shadow, [job, progress]).runUntilFinished()
  await shadow.restore(strike.id)
  await shadow.retry('f')
  t.equal((await shadow.get('s'))?.state, 'struck', 'every transition happened')
  t.equal((await shadow.get('p'))?.state, 'failed')
  t.equal(await adminRedis().exists(shadowContext(shadow).keys.eventLog), 0, 'no events log')
})

t.test('breaking out of the loop closes the reader connection', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'warm' })({ v: 0 })
  const baseline = await connectionsOf(shadow)
  const reader = readEvents(shadow, {}, (events) => events.length === 1)
  await waitFor(async () => (await connectionsOf(shadow)) === baseline + 1, 10_000, 'the reader connection')
  await shadow.add(job, { key: 'one' })({ v: 1 })
  await within(reader.done, 'the first event')
  await waitFor(async () => (await connectionsOf(shadow)) === baseline, 10_000, 'the reader connection to close')
  t.pass('the connection closed when the loop broke')
  // and a reader that never reads opens none
  shadow.events({})
  t.equal(await connectionsOf(shadow), baseline, 'no connection before the first read')
})

t.test('a perpetual run emits completed with the state it went back to', async (t) => {
  let runs = 0
  const ticker = defineTask({
    name: 'ticker',
    params: Type.Object({}),
    perpetual: { every: 20 },
    async run(_params, ctx) {
      runs += 1
      if (runs === 3) ctx.perpetual?.cancel()
      return runs
    },
  })
  const shadow = makeShadow(t)
  const reader = readEvents(shadow, { types: ['completed', 'failed'] }, (events) => events.some((e) => e.type === 'completed' && e.state === 'completed'))
  await shadow.add(ticker, { key: 'tick' })({})
  await makeWorker(t, shadow, [ticker]).runUntilFinished()
  const events = await within(reader.done, 'the last run')
  // the next run is due `every` after the last one was due: scheduled, or queued when that is past
  const back = (state: string) => (state === 'queued' ? 'scheduled' : state)
  t.same(
    events.map((e) => [e.type, 'key' in e ? e.key : '', 'state' in e ? back(e.state) : '']),
    [
      ['completed', 'tick', 'scheduled'],
      ['completed', 'tick', 'scheduled'],
      ['completed', 'tick', 'completed'],
    ],
    'two runs went back to wait for the next, the last one ended',
  )
  t.same((await shadow.get('tick'))?.state, 'completed')
})
