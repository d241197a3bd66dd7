/**
 * shadow.add and shadow.addBatch: immediate and scheduled adds, due times, validation (nothing
 * written on rejection), idempotent keys, and batches judged item by item.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, type AddOptions, type Execution, type Replacement } from '../../src/index.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { newTaskKey, storedKey } from '../../src/redis/keys.js'
import { messageHead } from '../../src/redis/stream.js'
import {
  addScript,
  storedStates,
  assertNoKeys,
  gate,
  heardEvents,
  rawRecord,
  rejectsWith,
  runInBackground,
  scheduled,
  streamLength,
  type AddScriptTask,
} from '../helpers/engine-state.js'
import { shadowContext } from '../../src/client/shadow.js'

t.teardown(closeAdmin)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A `greet` task that records the params of every run. */
function greeter(runs: Record<string, unknown>[] = []) {
  const task = defineTask({
    name: 'greet',
    params: Type.Object({ name: Type.String(), greeting: Type.Optional(Type.String()) }),
    async run(params) {
      runs.push(params)
      return `hello ${params.name}`
    },
  })
  return { task, runs }
}

t.test('an immediate add is queued on the stream with a new UUID key', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const before = Date.now()
  const execution = await shadow.add(task)({ name: 'Jane' })
  const after = Date.now()
  t.match(execution.key, UUID, 'key is a UUID')
  t.equal(execution.task, 'greet')
  t.equal(execution.state, 'queued')
  t.equal(execution.duplicate, false)
  t.notOk('params' in execution, 'params only come back on a duplicate')
  t.ok(execution.when instanceof Date)
  t.ok(execution.when.getTime() >= before && execution.when.getTime() <= after, 'when is now')
  t.equal(await streamLength(shadow), 1, 'one entry on the stream')
  t.same(await scheduled(shadow), {}, 'nothing in the schedule')
  const info = await shadow.get(execution.key)
  t.equal(info?.state, 'queued')
  t.same(info?.params, { name: 'Jane' })
  t.equal(info?.task, 'greet')
  const other = await shadow.add(task)({ name: 'John' })
  t.not(other.key, execution.key, 'each add without a key gets its own key')
})

t.test('a future when or a delay schedules the task', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const at = new Date(Date.now() + 60_000)
  const byDate = await shadow.add(task, { when: at, key: 'by-date' })({ name: 'a' })
  t.equal(byDate.state, 'scheduled')
  t.equal(byDate.when.getTime(), at.getTime(), 'when is the given time')
  t.equal(byDate.duplicate, false)

  const before = Date.now()
  const byDelay = await shadow.add(task, { delay: 30_000, key: 'by-delay' })({ name: 'b' })
  const after = Date.now()
  t.equal(byDelay.state, 'scheduled')
  t.ok(byDelay.when.getTime() >= before + 30_000 && byDelay.when.getTime() <= after + 30_000, 'when is now + delay')

  const iso = '2099-11-28T10:00:00+02:00'
  const byString = await shadow.add(task, { when: iso, key: 'by-string' })({ name: 'c' })
  t.equal(byString.state, 'scheduled')
  t.equal(byString.when.getTime(), Date.parse(iso), 'an RFC 3339 string with an offset is accepted')

  const epoch = Date.now() + 45_000
  const byNumber = await shadow.add(task, { when: epoch, key: 'by-number' })({ name: 'd' })
  t.equal(byNumber.when.getTime(), epoch, 'epoch milliseconds are accepted')

  t.same(await scheduled(shadow), { 'by-date': at.getTime(), 'by-delay': byDelay.when.getTime(), 'by-string': Date.parse(iso), 'by-number': epoch })
  t.equal(await streamLength(shadow), 0, 'nothing on the stream yet')
  const info = await shadow.get('by-date')
  t.equal(info?.state, 'scheduled')
  t.equal(info?.when.getTime(), at.getTime())
})

t.test('a past when, or delay 0, runs at once: queued, and the past when is kept in the answer and the record', async (t) => {
  const { task, runs } = greeter()
  const shadow = makeShadow(t)
  const past = await shadow.add(task, { when: new Date('2001-01-01T00:00:00Z'), key: 'past' })({ name: 'past' })
  t.equal(past.state, 'queued')
  t.equal(past.when.toISOString(), '2001-01-01T00:00:00.000Z', 'the answer keeps the time given')
  t.equal((await shadow.get('past'))?.when.toISOString(), '2001-01-01T00:00:00.000Z', 'and so does the record: lateness shows')
  const zero = await shadow.add(task, { delay: 0 })({ name: 'zero' })
  t.equal(zero.state, 'queued')
  t.same(await scheduled(shadow), {})
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs.map((p) => p.name).sort(), ['past', 'zero'])
})

t.test('bad options are rejected with SHADOWS_ERR_VALIDATION and nothing is written', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const cases: [string, AddOptions][] = [
    ['when and delay together', { when: new Date(Date.now() + 1000), delay: 1000 }],
    ['negative delay', { delay: -1 }],
    ['delay not a number', { delay: Number.NaN }],
    ['when without offset', { when: '2026-11-28T10:00:00' }],
    ['when not a date', { when: 'tomorrow' }],
    ['invalid Date', { when: new Date('nonsense') }],
    ['empty key', { key: '' }],
    ['key of 201 chars', { key: 'k'.repeat(201) }],
    ['key with a space', { key: 'a b' }],
    ['key with a slash', { key: 'a/b' }],
    ['key with braces', { key: '{x}' }],
    ['key with a non-ASCII letter', { key: 'caf\u00e9' }],
  ]
  for (const [what, options] of cases) {
    await rejectsWith(t, () => shadow.add(task, options)({ name: 'x' }), 'SHADOWS_ERR_VALIDATION', what)
  }
  await assertNoKeys(t, shadow)
})

t.test('a key of exactly 200 allowed chars is accepted', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const key = 'aZ09._:@-'.repeat(23).slice(0, 200)
  t.equal(key.length, 200)
  const execution = await shadow.add(task, { key, delay: 60_000 })({ name: 'x' })
  t.equal(execution.key, key)
  t.equal((await shadow.get(key))?.state, 'scheduled')
})

t.test('params failing the schema: SHADOWS_ERR_INVALID_PARAMS naming the field, nothing written', async (t) => {
  const profile = defineTask({
    name: 'profile',
    params: Type.Object({
      name: Type.String(),
      age: Type.Optional(Type.Integer()),
      address: Type.Optional(Type.Object({ city: Type.String() })),
    }),
    async run() {},
  })
  const shadow = makeShadow(t)
  const cases: [string, unknown, string][] = [
    ['missing field', {}, 'params.name'],
    ['misspelled field', { nam: 'x' }, 'params.name'],
    ['wrong type', { name: 42 }, 'params.name'],
    ['wrong type of an optional field', { name: 'x', age: 'old' }, 'params.age'],
    ['nested field', { name: 'x', address: {} }, 'params.address.city'],
  ]
  for (const [what, params, field] of cases) {
    const err = await rejectsWith(t, () => shadow.add(profile)(params as never), 'SHADOWS_ERR_INVALID_PARAMS', what)
    t.match(err?.message ?? '', field, `${what}: the message names ${field}`)
  }
  await rejectsWith(t, () => shadow.add('free')(null as never), 'SHADOWS_ERR_INVALID_PARAMS', 'params null')
  await rejectsWith(t, () => shadow.add('free')([] as never), 'SHADOWS_ERR_INVALID_PARAMS', 'params an array')
  // JSON has no NaN or Infinity: JSON.stringify would store them as null, params never sent
  for (const [what, params] of [
    ['NaN', { n: Number.NaN }],
    ['Infinity nested in an array', { list: [1, [Number.POSITIVE_INFINITY]] }],
    ['-Infinity in an object', { o: { n: Number.NEGATIVE_INFINITY, s: null } }],
  ] as const) {
    const err = await rejectsWith(t, () => shadow.add('free')(params as never), 'SHADOWS_ERR_INVALID_PARAMS', `a param ${what}`)
    t.match(err?.message ?? '', /NaN or out of range/, `${what}: the message says why`)
  }
  await assertNoKeys(t, shadow)
  const fine = await shadow.add('free', { key: 'nulls-and-dates' })({ n: null, at: new Date(0), big: 1e308 })
  t.same((await shadow.get(fine.key))?.params, { n: null, at: '1970-01-01T00:00:00.000Z', big: 1e308 }, 'null, a Date and a large finite number are fine')
})

t.test('with a task registry: unknown names are refused, names are validated against their schema', async (t) => {
  const { task, runs } = greeter()
  const shadow = makeShadow(t, { tasks: [task] })
  await rejectsWith(t, () => shadow.add('nope')({ name: 'x' }), 'SHADOWS_ERR_UNKNOWN_TASK', 'unregistered name')
  const err = await rejectsWith(t, () => shadow.add('greet')({ nam: 'x' }), 'SHADOWS_ERR_INVALID_PARAMS', 'registered name, bad params')
  t.match(err?.message ?? '', 'params.name')
  await assertNoKeys(t, shadow)
  const ok = await shadow.add('greet')({ name: 'by-name' })
  t.equal(ok.state, 'queued')
  t.equal(ok.task, 'greet')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [{ name: 'by-name' }])
})

t.test('idempotent key: future then future keeps the first params and when', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const first = await shadow.add(task, { key: 'ff', delay: 60_000 })({ name: 'first' })
  const second = await shadow.add(task, { key: 'ff', delay: 120_000 })({ name: 'second' })
  t.equal(first.duplicate, false)
  t.equal(second.duplicate, true)
  t.equal(second.key, 'ff')
  t.equal(second.state, 'scheduled')
  t.equal(second.task, 'greet')
  t.equal(second.when.getTime(), first.when.getTime(), 'the first when is returned')
  t.same(second.params, { name: 'first' }, 'the existing params are returned')
  const info = await shadow.get('ff')
  t.same(info?.params, { name: 'first' })
  t.equal(info?.when.getTime(), first.when.getTime())
  t.same(await scheduled(shadow), { ff: first.when.getTime() }, 'the schedule is unchanged')
  const other = defineTask({ name: 'other', async run() {} })
  const third = await shadow.add(other, { key: 'ff' })({})
  t.equal(third.duplicate, true, 'a different task under the same key is a duplicate too')
  t.equal(third.task, 'greet', 'and reports the existing task')
  t.equal((await shadow.get('ff'))?.task, 'greet')
})

t.test('idempotent key: future then immediate stays scheduled and is not queued', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const first = await shadow.add(task, { key: 'fi', delay: 60_000 })({ name: 'first' })
  const second = await shadow.add(task, { key: 'fi' })({ name: 'second' })
  t.equal(second.duplicate, true)
  t.equal(second.state, 'scheduled')
  t.equal(second.when.getTime(), first.when.getTime())
  t.same(second.params, { name: 'first' })
  t.equal(await streamLength(shadow), 0, 'nothing was queued')
  t.same(await scheduled(shadow), { fi: first.when.getTime() })
  const info = await shadow.get('fi')
  t.equal(info?.state, 'scheduled')
  t.same(info?.params, { name: 'first' })
})

t.test('idempotent key: immediate then immediate runs once with the first params', async (t) => {
  const { task, runs } = greeter()
  const shadow = makeShadow(t)
  const first = await shadow.add(task, { key: 'ii' })({ name: 'first' })
  const second = await shadow.add(task, { key: 'ii' })({ name: 'second' })
  const third = await shadow.add(task, { key: 'ii', delay: 60_000 })({ name: 'third' })
  t.equal(first.duplicate, false)
  t.equal(second.duplicate, true)
  t.equal(second.state, 'queued')
  t.same(second.params, { name: 'first' })
  t.equal(third.duplicate, true, 'a scheduled add of a queued key is a duplicate too')
  t.equal(third.state, 'queued')
  t.equal(third.when.getTime(), first.when.getTime())
  t.equal(await streamLength(shadow), 1, 'one entry on the stream')
  t.same(await scheduled(shadow), {})
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [{ name: 'first' }], 'ran once, with the first params')
  t.equal((await shadow.get('ii'))?.state, 'completed')
})

t.test('idempotent key: adding while the task runs is a duplicate and does not run it again', async (t) => {
  const runs: Record<string, unknown>[] = []
  const release = gate(t)
  const slow = defineTask({
    name: 'slow',
    params: Type.Object({ v: Type.Number() }),
    async run(params) {
      runs.push(params)
      await release.promise
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(slow, { key: 'busy' })({ v: 1 })
  const worker = makeWorker(t, shadow, [slow])
  const draining = worker.runUntilFinished()
  await waitFor(async () => (await shadow.get('busy'))?.state === 'running', 5000, 'the task to run')
  const dup = await shadow.add(slow, { key: 'busy' })({ v: 2 })
  t.equal(dup.duplicate, true)
  t.equal(dup.state, 'running')
  t.same(dup.params, { v: 1 })
  const dupLater = await shadow.add(slow, { key: 'busy', delay: 60_000 })({ v: 3 })
  t.equal(dupLater.duplicate, true)
  t.equal(dupLater.state, 'running')
  t.same(await scheduled(shadow), {}, 'nothing was scheduled')
  release.open()
  await draining
  t.same(runs, [{ v: 1 }], 'ran once')
  const info = await shadow.get('busy')
  t.equal(info?.state, 'completed')
  t.same(info?.params, { v: 1 })
})

t.test('after the task completed, its key can be used again', async (t) => {
  const { task, runs } = greeter()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [task])
  await shadow.add(task, { key: 'again' })({ name: 'one' })
  await worker.runUntilFinished()
  t.equal((await shadow.get('again'))?.state, 'completed')
  const second = await shadow.add(task, { key: 'again' })({ name: 'two' })
  t.equal(second.duplicate, false)
  t.equal(second.state, 'queued')
  const queued = await shadow.get('again')
  t.equal(queued?.state, 'queued')
  t.same(queued?.params, { name: 'two' })
  t.notOk(queued && 'result' in queued, 'the old result is gone')
  t.notOk(queued && 'finishedAt' in queued, 'the old finish time is gone')
  await worker.runUntilFinished()
  t.same(runs, [{ name: 'one' }, { name: 'two' }])
  const info = await shadow.get('again')
  t.equal(info?.state, 'completed')
  t.same(info?.result, 'hello two')
})

t.test('addBatch: results in order, each item judged as if added alone', async (t) => {
  const { task, runs } = greeter()
  const shadow = makeShadow(t, { tasks: [task] })
  const results = await shadow.addBatch([
    { task, params: { name: 'a' }, key: 'b-0' },
    { task, params: { nam: 'x' } },
    { task, params: { name: 'c' }, key: 'bad key' },
    { task, params: { name: 'd' }, key: 'b-later', delay: 60_000 },
    { task, params: { name: 'e' }, key: 'b-0' },
    { task: 'nope', params: { name: 'f' } },
    { task, params: { name: 'g' }, when: new Date(), delay: 5 },
    { task: 'greet', params: { name: 'h' }, when: '2001-01-01T00:00:00Z' },
    { task, params: { name: 'i' }, when: '2026-11-28T10:00:00' },
  ])
  t.equal(results.length, 9)
  const summary = results.map((r) => (r.ok ? `${r.execution.state}${r.execution.duplicate ? '+dup' : ''}` : r.error.code))
  t.same(summary, [
    'queued',
    'SHADOWS_ERR_INVALID_PARAMS',
    'SHADOWS_ERR_VALIDATION',
    'scheduled',
    'queued+dup',
    'SHADOWS_ERR_UNKNOWN_TASK',
    'SHADOWS_ERR_VALIDATION',
    'queued',
    'SHADOWS_ERR_VALIDATION',
  ])
  const r0 = results[0]
  const r4 = results[4]
  t.equal(r0?.ok && r0.execution.key, 'b-0')
  t.same(r4?.ok && r4.execution.params, { name: 'a' }, 'the duplicate reports the first params')
  const r1 = results[1]
  t.match(!r1?.ok ? r1?.error.message : '', 'params.name')
  t.same(await scheduled(shadow), { 'b-later': (results[3] as { ok: true; execution: { when: Date } }).execution.when.getTime() })
  t.equal(await streamLength(shadow), 2, 'two queued entries')
  await shadow.cancel('b-later')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs.map((p) => p.name).sort(), ['a', 'h'], 'only the accepted immediate items ran, once each')
  t.same(await shadow.addBatch([]), [], 'an empty batch')
})

t.test('a worker running while tasks are added picks up immediate and due tasks', async (t) => {
  const { task, runs } = greeter()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [task])
  const stop = runInBackground(worker)
  await shadow.add(task, { key: 'now' })({ name: 'now' })
  await shadow.add(task, { key: 'soon', delay: 200 })({ name: 'soon' })
  await waitFor(async () => (await shadow.get('soon'))?.state === 'completed', 10_000, 'the scheduled task to complete')
  await waitFor(async () => (await shadow.get('now'))?.state === 'completed', 10_000, 'the immediate task to complete')
  await stop()
  t.same(runs.map((p) => p.name).sort(), ['now', 'soon'])
  const raw = await rawRecord(shadow, 'soon')
  t.equal(raw.state, 'completed')
})

t.test('a scheduled task keeps one due time, in the schedule; it follows the task when moved, cancelled or a duplicate is added', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const later = Date.now() + 3_600_000
  await shadow.add(task, { key: 'later', when: later })({ name: 'l' })
  const raw = await rawRecord(shadow, 'later')
  t.equal(raw.when, undefined, 'the record does not repeat the due time')
  t.equal((await shadow.get('later'))?.when.getTime(), later, 'get() reads it from the schedule')
  const duplicate = await shadow.add(task, { key: 'later' })({ name: 'other' })
  t.equal(duplicate.duplicate && duplicate.when.getTime(), later, 'a duplicate add answers the due time')
  await shadow.cancel('later')
  t.equal((await shadow.get('later'))?.when.getTime(), later, 'a cancelled scheduled task keeps its due time')

  const empty = defineTask({ name: 'empty', async run() {} })
  const soon = Date.now() + 150
  await shadow.add(empty, { key: 'soon', when: soon })({})
  t.equal((await rawRecord(shadow, 'soon')).params, undefined, 'empty params are not stored')
  const worker = makeWorker(t, shadow, [empty])
  const stop = runInBackground(worker)
  await waitFor(async () => (await shadow.get('soon'))?.state === 'completed', 10_000, 'the task to run')
  await stop()
  const done = await shadow.get('soon')
  t.equal(done?.when.getTime(), soon, 'once moved onto the stream the record holds the due time')
  t.same(done?.params, {}, 'and its params read as {}')
})

t.test('adds made together go out together, each judged alone and in order', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  await shadow.strike({ task: 'greet', parameter: 'name', operator: '==', value: 'struck' })
  const results = await Promise.allSettled([
    shadow.add(task, { key: 'same' })({ name: 'first' }),
    shadow.add(task, { key: 'same' })({ name: 'second' }),
    shadow.replace(task, { key: 'same' })({ name: 'third' }),
    shadow.add(task, { key: 'later', delay: 60_000 })({ name: 'later' }),
    shadow.add(task, { key: 'struck' })({ name: 'struck' }),
    ...Array.from({ length: 600 }, (_, i) => shadow.add(task, { key: `many-${i}` })({ name: String(i) })),
  ])
  const value = (i: number) => {
    const result = results[i]
    return result?.status === 'fulfilled' ? (result.value as Partial<Execution & Replacement>) : undefined
  }
  t.equal(value(0)?.duplicate, false, 'the first add of a key is stored')
  t.equal(value(1)?.duplicate, true, 'the second, made in the same turn, is a duplicate')
  t.same(value(1)?.params, { name: 'first' }, 'of the first')
  t.equal(value(2)?.replaced, true, 'a replace in the same turn replaces it')
  t.equal(value(3)?.state, 'scheduled')
  t.equal(results[4]?.status, 'rejected', 'a struck add is refused')
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 604, 'every other add is stored')
  t.same((await shadow.get('same'))?.params, { name: 'third' })
  t.equal(await streamLength(shadow), 601, 'one message per queued key')

  // an add made just before close() is still stored
  const closing = makeShadow(t)
  const lastAdd = closing.add(task, { key: 'last' })({ name: 'last' })
  await closing.close()
  t.equal((await lastAdd).state, 'queued')
  t.equal(await shadowContext(shadow).redis.hget(shadowContext(closing).keys.task('last'), 'state'), 'queued', 'and is in Redis')
})

t.test('adds and replaces made together keep their order', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const [first, replaced, after] = await Promise.all([
    shadow.add(task, { key: 'k' })({ name: 'first' }),
    shadow.replace(task, { key: 'k' })({ name: 'replaced' }),
    shadow.add(task, { key: 'k' })({ name: 'after' }),
  ])
  t.equal(first.duplicate, false)
  t.equal(replaced.replaced, true, 'the replace found the first add')
  t.equal(after.duplicate, true, 'the add made after the replace is a duplicate')
  t.same(after.duplicate && after.params, { name: 'replaced' }, 'of the replacement, not of the first add')
})

t.test('a UUID key is stored compact in Redis; every API answer still shows the UUID', async (t) => {
  const runs: string[] = []
  const noted = defineTask({
    name: 'noted',
    async run(_params, ctx) {
      runs.push(ctx.key)
    },
  })
  const shadow = makeShadow(t)
  const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e'
  const compact = '~D4-tW9nLRp-hZXCGdyiVDg'
  const later = await shadow.add(noted, { key: uuid, delay: 60_000 })({})
  t.equal(later.key, uuid)
  t.same(Object.keys(await scheduled(shadow)), [compact], 'the schedule holds the compact form')
  t.equal(await adminRedis().hget(`{${shadow.name}}:task:${compact}`, 'state'), 'scheduled', 'so does the record key')
  t.equal((await shadow.get(uuid))?.key, uuid, 'get answers with the UUID')
  t.same(
    (await shadow.snapshot()).scheduled.map((s) => s.key),
    [uuid],
    'snapshot lists the UUID',
  )
  t.equal((await shadow.add(noted, { key: uuid })({})).duplicate, true, 'the UUID finds its task again')
  t.equal((await shadow.cancel(uuid)).key, uuid, 'cancel finds it')

  const upper = '0F8FAD5B-D9CB-469F-A165-70867728950E'
  await shadow.add(noted, { key: upper, delay: 60_000 })({})
  t.same(Object.keys(await scheduled(shadow)), [upper], 'an uppercase UUID is another key, stored as it is')
  await shadow.cancel(upper)

  const now = await shadow.add(noted)({})
  const entries = await adminRedis().xrange(shadowContext(shadow).keys.stream, '-', '+')
  t.equal(messageHead(entries.at(-1)?.[1])?.key, storedKey(now.key), 'the stream entry carries the compact form')
  const stop = runInBackground(makeWorker(t, shadow, [noted]))
  await waitFor(async () => (await shadow.get(now.key))?.state === 'completed', 5000, 'the task completed')
  await stop()
  t.same(runs, [now.key], 'the task sees its UUID in ctx.key')
})

t.test('a batch made just before close() is stored whole, and a bad item fails alone', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const items = Array.from({ length: 1200 }, (_, i) => ({ task, params: { name: String(i) } }))
  const batch = shadow.addBatch(items)
  await shadow.close()
  const results = await batch
  t.equal(results.filter((r) => r.ok).length, 1200, 'every task of the batch was stored, past the first chunk too')
  t.equal(await streamLength(shadow), 1200)

  const open = makeShadow(t)
  const mixed = [...items.slice(0, 700), null, ...items.slice(700, 710)] as unknown as Parameters<typeof open.addBatch>[0]
  const answered = await open.addBatch(mixed)
  t.equal(answered[700]?.ok, false, 'the null item fails')
  t.equal(answered[700]?.ok === false && answered[700].error.code, 'SHADOWS_ERR_VALIDATION')
  t.equal(answered.filter((r) => r.ok).length, 710, 'the others are stored')
})

t.test('two replaces of one key in one call wake the schedulers for the one that stands', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const heard = await heardEvents(t, shadow)
  const soon = Date.now() + 60_000
  // made in the same turn: one add-script call, in order
  await Promise.all([
    shadow.replace(task, { key: 'moving', when: new Date(soon) })({ name: 'a' }),
    shadow.replace(task, { key: 'moving', when: new Date(soon + 1000) })({ name: 'b' }),
  ])
  await waitFor(() => heard.some((m) => m.startsWith('due ')), 2000, 'a wake-up')
  t.same(
    heard.filter((m) => m.startsWith('due ')),
    [`due ${soon + 1000}`],
    'the wake-up names the due time that stands',
  )
})

t.test('a batch of made-up keys is scheduled whole, and wakes schedulers only when it holds the next task due', async (t) => {
  const { task } = greeter()
  const shadow = makeShadow(t)
  const heard = await heardEvents(t, shadow)
  const base = Date.now() + 600_000
  await shadow.add(task, { when: new Date(base) })({ name: 'head' })
  await waitFor(() => heard.length === 1, 2000, 'the first wake-up')

  // later than the head: stored, nobody woken
  const later = await shadow.addBatch(Array.from({ length: 700 }, (_, i) => ({ task, params: { name: `l${i}` }, when: new Date(base + 1000 + i) })))
  t.ok(
    later.every((r) => r.ok && r.execution.state === 'scheduled'),
    'every later task scheduled',
  )
  const redis = adminRedis()
  for (const [i, r] of later.entries()) {
    if (!r.ok) continue
    const score = await redis.zscore(shadowContext(shadow).keys.schedule, storedKey(r.execution.key))
    if (score !== String(base + 1000 + i)) t.fail(`task ${i} is due at ${score}, not ${base + 1000 + i}`)
  }
  t.equal(await redis.zcard(shadowContext(shadow).keys.schedule), 701, 'the head and the 700')

  // one of them earlier than the head: one wake-up, for it
  const earlier = await shadow.addBatch([
    { task, params: { name: 'e0' }, when: new Date(base + 5000) },
    { task, params: { name: 'e1' }, when: new Date(base - 500) },
    { task, params: { name: 'e2' }, key: 'named', when: new Date(base + 6000) },
    { task, params: { name: 'e3' }, when: new Date(base - 400) },
  ])
  t.ok(
    earlier.every((r) => r.ok),
    'all four stored',
  )
  await waitFor(() => heard.length === 2, 2000, 'a second wake-up')
  t.same(heard, [`due ${base}`, `due ${base - 500}`], 'woken for the head, then for the batch task due before it')
  t.equal(await redis.zscore(shadowContext(shadow).keys.schedule, 'named'), String(base + 6000), 'a named key among them scheduled too')
})

t.test('an add-script call that fails half way leaves no record scheduled without its place in the schedule', async (t) => {
  const shadow = makeShadow(t)
  const redis = adminRedis()
  const { schedule, taskPrefix } = shadowContext(shadow).keys
  const later = Date.now() + 600_000
  const [, first] = newTaskKey()
  const [, second] = newTaskKey()
  // two made-up keys, the second with a due time the script cannot read: it fails there
  const call = addScript(shadow, [
    [first, 'greet', '{}', later, true],
    [second, 'greet', '{}', 'soon' as unknown as number, true],
  ])
  await t.rejects(call, 'the call fails')
  t.equal(await redis.hget(taskPrefix + first, 'state'), 'scheduled', 'the task before the failure was written')
  t.equal(await redis.zscore(schedule, first), String(later), 'and has its place in the schedule')
  t.equal(await redis.exists(taskPrefix + second), 0, 'the failing task wrote nothing')
})

t.test('an add-script call sent again after a dropped connection queues nothing twice', async (t) => {
  const shadow = makeShadow(t)
  const redis = adminRedis()
  const { schedule, stream, taskPrefix } = shadowContext(shadow).keys
  const later = Date.now() + 600_000
  const [, queued] = newTaskKey()
  const [, scheduled] = newTaskKey()
  // a user key first: the made-up keys after it tell whether the call ran
  const tasks: AddScriptTask[] = [
    ['named', 'greet', '{"name":"n"}', Date.now(), false],
    [queued, 'greet', '{}', Date.now(), true],
    [scheduled, 'greet', '{}', later, true],
  ]
  const call = async () => storedStates(await addScript(shadow, tasks))
  t.same(await call(), ['queued', 'queued', 'scheduled'], 'the first call stores a queued, a queued and a scheduled task')
  const records = async () => Promise.all(['named', queued, scheduled].map((key) => redis.hgetall(taskPrefix + key)))
  const before = await records()
  // what ioredis does when the connection drops before the reply: it sends the call again
  t.same(await call(), ['queued', 'queued', 'scheduled'], 'sent again, it answers the same')
  t.equal(await redis.xlen(stream), 2, 'the queued tasks are on the stream once each')
  t.equal(await redis.zcard(schedule), 1, 'the scheduled task is in the schedule once')
  t.same(await records(), before, 'and no record changed')
})
