/**
 * Strikes against the real Redis: the rule store, refusal at add, skipping at execution, restore,
 * visibility across Shadow instances and workers, and the bound on the store.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { DEFAULT_MAX_STRIKES, Shadow, defineTask, type Strike } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { normalizeStrike, strikeId } from '../../src/core/strikes.js'
import { connect } from '../../src/redis/connection.js'
import { StrikeCopy } from '../../src/redis/strike-copy.js'
import { rejectsCode } from '../helpers/engine-rules.js'
import { TEST_URL, adminRedis, closeAdmin, makeShadow, makeWorker, testLogger, waitFor } from '../helpers/shadow.js'

t.teardown(closeAdmin)

/** Two tasks sharing a `customer` parameter, and one without it; each records its runs. */
function makeTasks() {
  const ran: { task: string; params: Record<string, unknown> }[] = []
  const send = defineTask({
    name: 'send',
    params: Type.Object({ customer: Type.Union([Type.Number(), Type.String()]), amount: Type.Optional(Type.Number()) }),
    async run(params) {
      ran.push({ task: 'send', params })
    },
  })
  const bill = defineTask({
    name: 'bill',
    params: Type.Object({ customer: Type.Union([Type.Number(), Type.String()]), amount: Type.Optional(Type.Number()) }),
    async run(params) {
      ran.push({ task: 'bill', params })
    },
  })
  const ping = defineTask({
    name: 'ping',
    params: Type.Object({ amount: Type.Optional(Type.Number()) }),
    async run(params) {
      ran.push({ task: 'ping', params })
    },
  })
  return { ran, send, bill, ping }
}

/** A second client on the same shadow, closed on teardown. */
function sameShadow(t: { teardown(fn: () => unknown): void }, shadow: Shadow): Shadow {
  const other = new Shadow({ name: shadow.name, url: TEST_URL, logger: testLogger })
  t.teardown(() => other.close())
  return other
}

/** Whether any Redis key holds a task record for `key`, and whether schedule or stream has entries. */
async function stored(shadow: Shadow, key: string): Promise<{ record: number; scheduled: number; queued: number }> {
  const redis = adminRedis()
  const [record, scheduled, queued] = await Promise.all([
    redis.exists(shadowContext(shadow).keys.task(key)),
    redis.zcard(shadowContext(shadow).keys.schedule),
    redis.exists(shadowContext(shadow).keys.stream).then((exists) => (exists ? redis.xlen(shadowContext(shadow).keys.stream) : 0)),
  ])
  return { record, scheduled, queued }
}

t.test('strike, the same rule again, list and restore', async (t) => {
  const shadow = makeShadow(t)
  t.same(await shadow.strikes(), [], 'no strikes at first')

  const first = await shadow.strike({ task: 'send' })
  t.equal(first.created, true)
  t.match(first.strike, { id: String, task: 'send', operator: '==' })
  t.notOk('parameter' in first.strike, 'a whole-task strike has no parameter')
  t.notOk('value' in first.strike, 'a whole-task strike has no value')
  t.ok(Number.isFinite(Date.parse(first.strike.createdAt)), 'createdAt is a timestamp')
  t.match(first.strike.createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/, 'createdAt is RFC 3339')
  t.equal(first.strike.id, strikeId(normalizeStrike({ task: 'send' })))

  const again = await shadow.strike({ task: 'send', operator: '==' })
  t.equal(again.created, false, 'the same rule again is not created')
  t.equal(again.strike.id, first.strike.id, 'same id')
  t.equal(again.strike.createdAt, first.strike.createdAt, 'the stored strike is returned unchanged')

  const param = await shadow.strike({ parameter: 'customer', operator: 'between', value: [10, 20] })
  t.equal(param.created, true)
  t.same(
    { parameter: param.strike.parameter, operator: param.strike.operator, value: param.strike.value },
    { parameter: 'customer', operator: 'between', value: [10, 20] },
  )
  t.notOk('task' in param.strike, 'a parameter strike across tasks has no task')
  const both = await shadow.strike({ task: 'bill', parameter: 'customer', operator: '!=', value: 'acme' })
  t.equal(both.created, true)
  t.notSame(both.strike.id, param.strike.id)

  const list = await shadow.strikes()
  t.same(
    list.map((s) => s.id),
    [first.strike.id, param.strike.id, both.strike.id],
    'strikes() lists every rule once, oldest first',
  )
  t.same(list[2], both.strike, 'listed strikes carry every field')

  const removed = await shadow.restore(first.strike.id)
  t.same(removed, first.strike, 'restore by id returns the removed strike')
  await rejectsCode(t, shadow.restore(first.strike.id), 'SHADOWS_ERR_NOT_FOUND', 'restoring it again: not found')
  await rejectsCode(t, shadow.restore('0123456789abcdef'), 'SHADOWS_ERR_NOT_FOUND', 'unknown id: not found')

  const byRule = await shadow.restore({ parameter: 'customer', operator: 'between', value: [10, 20] })
  t.same(byRule, param.strike, 'restore by the same rule object')
  await rejectsCode(t, shadow.restore({ task: 'nothing-struck' }), 'SHADOWS_ERR_NOT_FOUND', 'restoring a rule never struck')
  t.same(
    (await shadow.strikes()).map((s) => s.id),
    [both.strike.id],
  )
  await shadow.restore(both.strike.id)
  t.same(await shadow.strikes(), [], 'all restored')
  t.equal(await adminRedis().exists(shadowContext(shadow).keys.strikes), 0, 'no strikes hash is left behind')
})

t.test('invalid rules are refused with SHADOWS_ERR_VALIDATION and nothing is stored', async (t) => {
  const shadow = makeShadow(t)
  const invalid: [string, unknown][] = [
    ['no task and no parameter', {}],
    ['parameter without value', { parameter: 'customer' }],
    ['between without a 2-array', { parameter: 'customer', operator: 'between', value: [1, 2, 3] }],
    ['between with a scalar', { parameter: 'customer', operator: 'between', value: 1 }],
    ['> on a boolean', { parameter: 'vip', operator: '>', value: true }],
    ['unknown operator', { parameter: 'customer', operator: '~=', value: 1 }],
    ['unknown field', { task: 'send', note: 'oops' }],
  ]
  for (const [what, input] of invalid) {
    await rejectsCode(t, () => shadow.strike(input as never), 'SHADOWS_ERR_VALIDATION', `${what} is refused`)
  }
  await rejectsCode(t, () => shadow.restore({ parameter: 'customer' }), 'SHADOWS_ERR_VALIDATION', 'restore with an invalid rule')
  t.same(await shadow.strikes(), [], 'nothing stored')
  t.equal(await adminRedis().exists(shadowContext(shadow).keys.strikes), 0)
})

t.test('at add: a matching strike refuses the task and stores nothing', async (t) => {
  const shadow = makeShadow(t)
  const { send, bill } = makeTasks()

  await shadow.strike({ task: 'send' })
  await rejectsCode(t, shadow.add(send, { key: 'send-1' })({ customer: 1 }), 'SHADOWS_ERR_STRUCK', 'whole task struck')
  await rejectsCode(t, shadow.add('send', { key: 'send-2', delay: 60_000 })({ customer: 2 }), 'SHADOWS_ERR_STRUCK', 'by name, scheduled')
  await rejectsCode(t, shadow.replace(send, { key: 'send-3' })({ customer: 3 }), 'SHADOWS_ERR_STRUCK', 'replace is refused too')
  for (const key of ['send-1', 'send-2', 'send-3']) {
    t.same(await stored(shadow, key), { record: 0, scheduled: 0, queued: 0 }, `no key for ${key}`)
    t.equal(await shadow.get(key), undefined)
  }
  const other = await shadow.add(bill, { key: 'bill-1' })({ customer: 1 })
  t.equal(other.state, 'queued', 'another task is not struck')
  t.equal(other.duplicate, false)
})

t.test('at add: a parameter value across all tasks, with JSON types kept apart', async (t) => {
  const shadow = makeShadow(t)
  const { send, bill, ping } = makeTasks()
  await shadow.strike({ parameter: 'customer', value: 42 })

  await rejectsCode(t, shadow.add(send, { key: 's42' })({ customer: 42 }), 'SHADOWS_ERR_STRUCK', 'send customer 42')
  await rejectsCode(t, shadow.add(bill, { key: 'b42' })({ customer: 42, amount: 5 }), 'SHADOWS_ERR_STRUCK', 'bill customer 42')
  t.equal((await stored(shadow, 's42')).record, 0)
  t.equal((await stored(shadow, 'b42')).record, 0)

  t.equal((await shadow.add(send, { key: 's43' })({ customer: 43 })).state, 'queued', 'another value')
  t.equal((await shadow.add(send, { key: 's42str' })({ customer: '42' })).state, 'queued', 'the string "42" is not the number 42')
  t.equal((await shadow.add(ping, { key: 'p42' })({ amount: 42 })).state, 'queued', 'a task without the parameter')
  t.equal((await stored(shadow, 's42str')).record, 1)
})

t.test('at add: != and ordering operators match only the same JSON type', async (t) => {
  const shadow = makeShadow(t)
  const { send, ping } = makeTasks()
  await shadow.strike({ parameter: 'customer', operator: '!=', value: 1 })
  await shadow.strike({ parameter: 'amount', operator: '>=', value: 1000 })

  await rejectsCode(t, shadow.add(send)({ customer: 2 }), 'SHADOWS_ERR_STRUCK', 'customer 2 != 1')
  t.equal((await shadow.add(send)({ customer: 1 })).state, 'queued', 'customer 1 is not != 1')
  t.equal((await shadow.add(send)({ customer: '2' })).state, 'queued', '!= a number does not match a string')
  t.equal((await shadow.add(ping)({})).state, 'queued', '!= does not match a task without the parameter')
  await rejectsCode(t, shadow.add(ping)({ amount: 1000 }), 'SHADOWS_ERR_STRUCK', 'amount 1000 >= 1000')
  await rejectsCode(t, shadow.add(ping)({ amount: 5000.5 }), 'SHADOWS_ERR_STRUCK', 'amount 5000.5 >= 1000')
  t.equal((await shadow.add(ping)({ amount: 999.99 })).state, 'queued', 'amount 999.99')
})

t.test('at add: task plus parameter strikes only that task', async (t) => {
  const shadow = makeShadow(t)
  const { send, bill } = makeTasks()
  await shadow.strike({ task: 'send', parameter: 'customer', operator: 'between', value: [100, 200] })

  await rejectsCode(t, shadow.add(send)({ customer: 100 }), 'SHADOWS_ERR_STRUCK', 'send 100 (low end, inclusive)')
  await rejectsCode(t, shadow.add(send)({ customer: 200 }), 'SHADOWS_ERR_STRUCK', 'send 200 (high end, inclusive)')
  t.equal((await shadow.add(send)({ customer: 201 })).state, 'queued', 'send 201')
  t.equal((await shadow.add(send)({ customer: 99 })).state, 'queued', 'send 99')
  t.equal((await shadow.add(bill)({ customer: 150 })).state, 'queued', 'bill 150: another task')

  const results = await shadow.addBatch([
    { task: send, params: { customer: 150 }, key: 'batch-struck' },
    { task: send, params: { customer: 300 }, key: 'batch-ok' },
  ])
  t.equal(results[0]?.ok, false, 'batch: struck item refused')
  if (results[0] && !results[0].ok) t.equal(results[0].error.code, 'SHADOWS_ERR_STRUCK')
  t.equal(results[1]?.ok, true, 'batch: the other item is stored')
  t.equal((await stored(shadow, 'batch-struck')).record, 0, 'batch: nothing stored for the struck item')
})

t.test('at execution: queued and scheduled tasks struck before they run end struck, never called', async (t) => {
  const shadow = makeShadow(t)
  const { ran, send, bill, ping } = makeTasks()
  await shadow.add(send, { key: 'queued-7' })({ customer: 7 })
  await shadow.add(bill, { key: 'scheduled-7', delay: 300 })({ customer: 7 })
  await shadow.add(send, { key: 'queued-8' })({ customer: 8 })
  await shadow.add(ping, { key: 'ping' })({})
  await shadow.add(send, { key: 'whole', delay: 200 })({ customer: 9 })

  await shadow.strike({ parameter: 'customer', value: 7 })
  await shadow.strike({ task: 'send', parameter: 'customer', value: 9 })

  const worker = makeWorker(t, shadow, [send, bill, ping])
  await worker.runUntilFinished()

  t.same(ran.map((r) => r.params.customer ?? r.task).sort(), [8, 'ping'].sort(), 'only the tasks not struck ran')
  for (const key of ['queued-7', 'scheduled-7', 'whole']) {
    const info = await shadow.get(key)
    t.equal(info?.state, 'struck', `${key} ends struck`)
    t.equal(info?.error?.type, 'StruckError', `${key}: error type StruckError`)
    t.equal(info?.result, undefined, `${key}: no result`)
  }
  t.equal((await shadow.get('queued-8'))?.state, 'completed')
  t.equal((await shadow.get('ping'))?.state, 'completed')
  t.equal((await adminRedis().pttl(shadowContext(shadow).keys.task('queued-7'))) > 0, true, 'a struck record expires')
})

t.test('a task waiting for its retry is struck before the next attempt', async (t) => {
  const shadow = makeShadow(t)
  const attempts: number[] = []
  const retried = defineTask({
    name: 'retried',
    params: Type.Object({ customer: Type.Number() }),
    retry: { attempts: 3, delay: 500 },
    async run(_params, ctx) {
      attempts.push(ctx.attempt)
      throw new Error(`attempt ${ctx.attempt} failed`)
    },
  })
  const { key } = await shadow.add(retried)({ customer: 31 })
  const worker = makeWorker(t, shadow, [retried])
  const running = worker.run()
  await waitFor(async () => (await shadow.get(key))?.state === 'scheduled', 5000, 'the retry to be scheduled')
  await shadow.strike({ parameter: 'customer', value: 31 })
  await waitFor(async () => (await shadow.get(key))?.state === 'struck', 5000, 'the retry to be struck')
  await worker.close()
  await running
  t.same(attempts, [1], 'the second attempt never ran')
  const info = await shadow.get(key)
  t.equal(info?.error?.type, 'StruckError', 'the error is the strike, not the earlier failure')
  t.equal(info?.attempt, 2)
})

t.test('restore does not revive skipped tasks; tasks added after restore run', async (t) => {
  const shadow = makeShadow(t)
  const { ran, send } = makeTasks()
  await shadow.add(send, { key: 'before' })({ customer: 5 })
  const { strike } = await shadow.strike({ task: 'send' })
  const worker = makeWorker(t, shadow, [send])
  await worker.runUntilFinished()
  t.equal((await shadow.get('before'))?.state, 'struck')
  t.same(ran, [], 'nothing ran while struck')

  await shadow.restore(strike.id)
  await worker.runUntilFinished()
  t.equal((await shadow.get('before'))?.state, 'struck', 'still struck after restore')
  t.same(ran, [], 'the skipped task did not run after restore')

  const after = await shadow.add(send, { key: 'after' })({ customer: 5 })
  t.equal(after.state, 'queued')
  const again = await shadow.add(send, { key: 'before' })({ customer: 6 })
  t.equal(again.duplicate, false, 'the key of a struck task can be used again')
  await worker.runUntilFinished()
  t.same(ran.map((r) => r.params.customer).sort(), [5, 6], 'tasks added after restore run')
  t.equal((await shadow.get('after'))?.state, 'completed')
  t.equal((await shadow.get('before'))?.state, 'completed')
})

t.test('strikes live in Redis: another Shadow on the same name sees and honours them', async (t) => {
  const a = makeShadow(t)
  const b = sameShadow(t, a)
  const { send } = makeTasks()

  // b reads the (empty) strikes before a strikes, so its cached copy is out of date afterwards
  t.equal((await b.add(send, { key: 'early' })({ customer: 1 })).state, 'queued')
  const { strike } = await a.strike({ parameter: 'customer', operator: '<', value: 10 })

  t.same(await b.strikes(), [strike], 'b lists the strike a made')
  const c = sameShadow(t, a)
  t.same(await c.strikes(), [strike], 'a brand-new Shadow lists it too')

  await rejectsCode(t, b.add(send, { key: 'late' })({ customer: 2 }), 'SHADOWS_ERR_STRUCK', 'b refuses a matching task')
  t.equal((await stored(a, 'late')).record, 0, 'nothing stored by b')

  const again = await b.strike({ parameter: 'customer', operator: '<', value: 10 })
  t.equal(again.created, false, 'the same rule from another client: not created')
  t.equal(again.strike.id, strike.id)

  const removed = await b.restore(strike.id)
  t.same(removed, strike, 'b restores what a struck')
  t.same(await a.strikes(), [])
  t.equal((await a.add(send, { key: 'later' })({ customer: 3 })).state, 'queued', 'a adds again after b restored')
})

t.test('a worker on another Shadow instance honours a strike made elsewhere (pushed change)', async (t) => {
  const a = makeShadow(t)
  const b = sameShadow(t, a)
  const { ran, send } = makeTasks()
  const worker = makeWorker(t, b, [send])
  const running = worker.run()
  await waitFor(async () => (await a.workers()).length === 1, 5000, 'the worker to start')

  // with no task about, only the push can bring a's change into b's cached copy (read without refreshing)
  const unrelated = await a.strike({ task: 'unrelated' })
  await waitFor(async () => (await shadowContext(b).strikes.current()).rules.some((s) => s.id === unrelated.strike.id), 5000, "the strike reaching b's cache")

  await a.add(send, { key: 'soon', delay: 500 })({ customer: 77 })
  await a.add(send, { key: 'kept', delay: 500 })({ customer: 78 })
  const { strike } = await a.strike({ parameter: 'customer', value: 77 })
  await waitFor(async () => (await shadowContext(b).strikes.current()).rules.some((s) => s.id === strike.id), 5000, "the second strike reaching b's cache")

  await waitFor(async () => (await a.get('soon'))?.state === 'struck', 5000, 'soon struck')
  await waitFor(async () => (await a.get('kept'))?.state === 'completed', 5000, 'kept completed')
  t.equal((await a.get('soon'))?.error?.type, 'StruckError')
  t.same(
    ran.map((r) => r.params.customer),
    [78],
    'only the task not struck ran',
  )
  await worker.close()
  await running
})

t.test('a strike whose push was missed is still honoured at start (version check)', async (t) => {
  const shadow = makeShadow(t)
  const { ran, send } = makeTasks()
  const worker = makeWorker(t, shadow, [send])
  const running = worker.run()
  // let the worker load the (empty) strikes
  await shadow.add(send, { key: 'warm-up' })({ customer: 0 })
  await waitFor(async () => (await shadow.get('warm-up'))?.state === 'completed', 5000, 'warm-up')

  await shadow.add(send, { key: 'victim', delay: 500 })({ customer: 13 })
  // another process stores a strike and its push never arrives: write the rule and version only
  const rule = normalizeStrike({ parameter: 'customer', value: 13 })
  const silent: Strike = { id: strikeId(rule), ...rule, createdAt: new Date().toISOString() }
  await adminRedis()
    .multi()
    .hset(shadowContext(shadow).keys.strikes, silent.id, JSON.stringify(silent))
    .set(shadowContext(shadow).keys.strikesVersion, 'silent-version')
    .exec()

  await waitFor(async () => (await shadow.get('victim'))?.state === 'struck', 5000, 'victim struck')
  t.equal((await shadow.get('victim'))?.error?.type, 'StruckError')
  t.same(
    ran.map((r) => r.params.customer),
    [0],
    'the struck task never ran',
  )
  await worker.close()
  await running
})

t.test('maxStrikes bounds the store', async (t) => {
  const plain = makeShadow(t)
  t.equal(DEFAULT_MAX_STRIKES, 1000)
  t.equal(plain.maxStrikes, 1000, 'default 1000')

  const shadow = makeShadow(t, { maxStrikes: 3 })
  for (let i = 0; i < 3; i++) t.equal((await shadow.strike({ parameter: 'customer', value: i })).created, true)
  await rejectsCode(t, shadow.strike({ parameter: 'customer', value: 3 }), 'SHADOWS_ERR_TOO_MANY_STRIKES', 'past the bound')
  t.equal((await shadow.strike({ parameter: 'customer', value: 1 })).created, false, 'an existing rule is still answered when full')
  t.equal((await shadow.strikes()).length, 3, 'nothing more stored')
  t.equal(await adminRedis().hlen(shadowContext(shadow).keys.strikes), 3)

  await shadow.restore({ parameter: 'customer', value: 0 })
  t.equal((await shadow.strike({ parameter: 'customer', value: 3 })).created, true, 'room again after a restore')
  await rejectsCode(t, shadow.strike({ task: 'send' }), 'SHADOWS_ERR_TOO_MANY_STRIKES', 'full again')
})

t.test('a refresh asked for while a read is out waits for a read that follows it', async (t) => {
  const shadow = makeShadow(t)
  const { keys } = shadowContext(shadow)
  await shadow.strike({ parameter: 'customer', value: 'first' })
  // one connection that writes in call order: the copy's read, then the change, then the next read
  const redis = connect(TEST_URL, { autoPipelining: false })
  t.teardown(() => redis.quit())
  const copy = new StrikeCopy(redis, keys)
  const before = await copy.current()
  t.equal(before.rules.length, 1)

  const out = copy.current(true)
  // a change that reaches Redis after the read out (say, from another process, whose push made
  // this one ask for a refresh)
  const rule = normalizeStrike({ parameter: 'customer', value: 'second' })
  const change = redis
    .multi()
    .hset(keys.strikes, strikeId(rule), JSON.stringify({ id: strikeId(rule), ...rule, createdAt: new Date().toISOString() }))
    .set(keys.strikesVersion, 'after-the-read')
    .exec()
  const refreshed = copy.current(true)
  t.equal((await out).version, before.version, 'the read out reached Redis before the change')
  await change
  const after = await refreshed
  t.equal(after.version, 'after-the-read', 'the refresh asked for meanwhile sees the change')
  t.same(
    after.rules.map((r) => r.value),
    ['first', 'second'],
    'with the rule the change stored',
  )
})
