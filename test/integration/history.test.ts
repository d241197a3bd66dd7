/**
 * shadow.list against the real Redis: every state listable, the order of each, the task filter,
 * limits and cursors (every task once across pages, hostile cursors refused), and the history
 * indexes themselves: trimmed to `historyLimit`, gone with the records (`executionTtl`), always
 * with a TTL, none with `historyLimit: 0`; a page is one script call.
 */
import t from 'tap'
import fc from 'fast-check'
import { Type } from '@sinclair/typebox'
import { defineTask, isShadowsError, type Shadow, type TaskState } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { closeAdmin, makeShadow, makeWorker, waitFor, shadowContents } from '../helpers/shadow.js'
import { gate, rejectsWith, runInBackground } from '../helpers/engine-state.js'
import { allPages, countCommands, historyKeys, indexedKeys, jobTask, listed, tick } from '../helpers/history.js'

t.teardown(closeAdmin)

/** A task `hold` that runs until the gate opens. */
function holdTask(release: { promise: Promise<void> }) {
  return defineTask({
    name: 'hold',
    params: Type.Object({}),
    async run() {
      await release.promise
      return 'released'
    },
  })
}

/** Runs `key` of `job` to its end (failing when `fail`), each at a later millisecond than the one before. */
async function finishOne(shadow: Shadow, worker: { runUntilFinished(): Promise<void> }, task: ReturnType<typeof jobTask>['task'], key: string, fail: boolean) {
  await shadow.add(task, { key })({ v: 1, fail })
  await worker.runUntilFinished()
  await tick(3)
}

t.test('every one of the seven states is listable', async (t) => {
  const release = gate(t)
  const { task: job } = jobTask()
  const hold = holdTask(release)
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'c1' })({ v: 1 })
  await shadow.add(job, { key: 'f1' })({ v: 2, fail: true })
  await shadow.add(job, { key: 's1' })({ v: 99 })
  await shadow.add(job, { key: 'x1', delay: 3_600_000 })({ v: 3 })
  await shadow.cancel('x1')
  await shadow.strike({ task: 'job', parameter: 'v', operator: '==', value: 99 })
  const worker = makeWorker(t, shadow, [job])
  await worker.runUntilFinished()
  await shadow.restore({ task: 'job', parameter: 'v', operator: '==', value: 99 })

  // one task running (the worker's only slot taken), then one queued and one scheduled
  await shadow.add(hold, { key: 'r1' })({})
  const holder = makeWorker(t, shadow, [hold], { concurrency: 1 })
  const stop = runInBackground(holder)
  await waitFor(async () => (await shadow.get('r1'))?.state === 'running', 10_000, 'r1 running')
  await shadow.add(hold, { key: 'q1' })({})
  await shadow.add(job, { key: 'd1', delay: 3_600_000 })({ v: 4 })

  const expected: Record<TaskState, string> = { scheduled: 'd1', queued: 'q1', running: 'r1', completed: 'c1', failed: 'f1', cancelled: 'x1', struck: 's1' }
  for (const [state, key] of Object.entries(expected) as [TaskState, string][]) {
    const page = await shadow.list({ state })
    t.same(
      page.tasks.map((info) => info.key),
      [key],
      `${state}: ${key}`,
    )
    t.equal(page.next, undefined, `${state}: nothing follows`)
    const [info] = page.tasks
    t.same(info, await shadow.get(key), `${state}: the record as get() answers it`)
  }
  const [failed] = (await shadow.list({ state: 'failed' })).tasks
  t.has(failed, { task: 'job', params: { v: 2, fail: true }, error: { type: 'Error', message: 'boom 2' } }, 'a failed task is listed with its error')
  const [completed] = (await shadow.list({ state: 'completed' })).tasks
  t.same(completed?.result, { v: 1 }, 'a completed task is listed with its result')
  const [scheduled] = (await shadow.list({ state: 'scheduled' })).tasks
  t.ok(scheduled && scheduled.when.getTime() > Date.now(), 'a scheduled task is listed with its due time')
  release.open()
  await stop()
})

t.test('order: finished newest first, scheduled by due time, queued and running oldest first', async (t) => {
  const release = gate(t)
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  for (const key of ['f-a', 'f-b', 'f-c']) await finishOne(shadow, worker, job, key, true)
  for (const key of ['c-a', 'c-b']) await finishOne(shadow, worker, job, key, false)
  t.same(await listed(shadow, 'failed'), ['f-c', 'f-b', 'f-a'], 'failed: newest first')
  t.same(await listed(shadow, 'completed'), ['c-b', 'c-a'], 'completed: newest first')
  for (const key of ['x-a', 'x-b', 'x-c']) {
    await shadow.add(job, { key, delay: 3_600_000 })({ v: 1 })
    await shadow.cancel(key)
    await tick(3)
  }
  t.same(await listed(shadow, 'cancelled'), ['x-c', 'x-b', 'x-a'], 'cancelled: newest first')

  const now = Date.now()
  await shadow.add(job, { key: 'late', when: new Date(now + 3 * 3_600_000) })({ v: 1 })
  await shadow.add(job, { key: 'soon', when: new Date(now + 3_600_000) })({ v: 1 })
  await shadow.add(job, { key: 'middle', when: new Date(now + 2 * 3_600_000) })({ v: 1 })
  t.same(await listed(shadow, 'scheduled'), ['soon', 'middle', 'late'], 'scheduled: by due time')

  const hold = holdTask(release)
  for (const key of ['r-b', 'r-a', 'r-c']) await shadow.add(hold, { key })({})
  const holder = makeWorker(t, shadow, [hold], { concurrency: 3 })
  const stop = runInBackground(holder)
  await waitFor(async () => (await listed(shadow, 'running')).length === 3, 10_000, 'three running')
  t.same(await listed(shadow, 'running'), ['r-b', 'r-a', 'r-c'], 'running: oldest first')
  for (const key of ['q-3', 'q-1', 'q-2']) await shadow.add(hold, { key })({})
  t.same(await listed(shadow, 'queued'), ['q-3', 'q-1', 'q-2'], 'queued: oldest first')
  t.same(await listed(shadow, 'running'), ['r-b', 'r-a', 'r-c'], 'queued tasks are not listed as running')
  release.open()
  await stop()
})

t.test('the task filter, in every kind of state', async (t) => {
  const { task: job } = jobTask('job')
  const { task: other } = jobTask('other')
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job, other])
  await shadow.add(job, { key: 'j-f' })({ v: 1, fail: true })
  await shadow.add(other, { key: 'o-f' })({ v: 1, fail: true })
  await shadow.add(job, { key: 'j-c' })({ v: 1 })
  await shadow.add(other, { key: 'o-c' })({ v: 1 })
  await worker.runUntilFinished()
  t.same(await listed(shadow, 'failed', 'other'), ['o-f'], 'failed of one task')
  t.same(await listed(shadow, 'failed', 'job'), ['j-f'], 'failed of the other task')
  t.same((await listed(shadow, 'failed')).sort(), ['j-f', 'o-f'], 'failed of every task')
  t.same(await listed(shadow, 'completed', 'other'), ['o-c'])
  t.same(await listed(shadow, 'failed', 'nobody'), [], 'a task name never seen: nothing')
  await shadow.add(job, { key: 'j-q' })({ v: 1 })
  await shadow.add(other, { key: 'o-q' })({ v: 1 })
  await shadow.add(job, { key: 'j-s', delay: 3_600_000 })({ v: 1 })
  await shadow.add(other, { key: 'o-s', delay: 3_600_000 })({ v: 1 })
  t.same(await listed(shadow, 'queued', 'other'), ['o-q'], 'queued of one task')
  t.same(await listed(shadow, 'scheduled', 'job'), ['j-s'], 'scheduled of one task')
  await shadow.cancel('o-q')
  await shadow.cancel('j-s')
  t.same(await listed(shadow, 'cancelled', 'other'), ['o-q'], 'cancelled of one task')
  t.same(await listed(shadow, 'cancelled', 'job'), ['j-s'])
  t.same(await listed(shadow, 'queued', 'other'), [], 'a cancelled task is no longer queued')
})

t.test('limit: 1 to 1000, default 100', async (t) => {
  const shadow = makeShadow(t)
  await shadow.addBatch(Array.from({ length: 150 }, (_, i) => ({ task: 'job', key: `k${String(i).padStart(3, '0')}`, params: { v: i } })))
  const first = await shadow.list({ state: 'queued' })
  t.equal(first.tasks.length, 100, 'default limit 100')
  t.ok(first.next, 'a next page')
  const second = await shadow.list({ state: 'queued', cursor: first.next as string })
  t.equal(second.tasks.length, 50, 'the rest')
  t.equal(second.next, undefined, 'nothing after the rest')
  t.same(
    [...first.tasks, ...second.tasks].map((info) => info.key),
    Array.from({ length: 150 }, (_, i) => `k${String(i).padStart(3, '0')}`),
    'oldest first, each once',
  )
  const one = await shadow.list({ state: 'queued', limit: 1 })
  t.same(
    one.tasks.map((info) => info.key),
    ['k000'],
    'limit 1',
  )
  t.ok(one.next, 'limit 1 has a next')
  t.equal((await shadow.list({ state: 'queued', limit: 1000 })).tasks.length, 150, 'limit 1000')
  t.equal((await shadow.list({ state: 'queued', limit: 150 })).next, undefined, 'a page that holds the last task has no next')
})

t.test('bad state, limit or cursor: SHADOWS_ERR_VALIDATION, nothing changed', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  await shadow.add(job, { key: 'f1' })({ v: 1, fail: true })
  await worker.runUntilFinished()
  await shadow.add(job, { key: 'q1' })({ v: 1 })
  await shadow.add(job, { key: 's1', delay: 3_600_000 })({ v: 1 })
  const before = await shadowContents(shadow.name)
  const bad: [string, unknown][] = [
    ['no state', {}],
    ['state ""', { state: '' }],
    ['state done', { state: 'done' }],
    ['state Failed', { state: 'Failed' }],
    ['state __proto__', { state: '__proto__' }],
    ['state toString', { state: 'toString' }],
    ['state a number', { state: 1 }],
    ['query null', null],
    ['query a string', 'failed'],
    ['limit 0', { state: 'failed', limit: 0 }],
    ['limit 1001', { state: 'failed', limit: 1001 }],
    ['limit -1', { state: 'failed', limit: -1 }],
    ['limit 1.5', { state: 'failed', limit: 1.5 }],
    ['limit NaN', { state: 'failed', limit: Number.NaN }],
    ['limit Infinity', { state: 'failed', limit: Number.POSITIVE_INFINITY }],
    ['limit "10"', { state: 'failed', limit: '10' }],
    ['limit null', { state: 'failed', limit: null }],
    ['task ""', { state: 'failed', task: '' }],
    ['task a number', { state: 'failed', task: 7 }],
    ['cursor ""', { state: 'failed', cursor: '' }],
    ['cursor a number', { state: 'failed', cursor: 12 }],
    ['cursor an object', { state: 'failed', cursor: { score: 1, member: 'f1' } }],
  ]
  for (const [what, query] of bad) {
    const err = await rejectsWith(t, () => shadow.list(query as never), 'SHADOWS_ERR_VALIDATION', what)
    t.ok(err === undefined || (isShadowsError(err) && typeof err.details?.field === 'string'), `${what}: names the field`)
  }
  t.same(await shadowContents(shadow.name), before, 'nothing changed')
})

t.test('hostile cursors are refused cleanly', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  for (let i = 0; i < 3; i++) await shadow.add(job, { key: `f${i}` })({ v: i, fail: true })
  await worker.runUntilFinished()
  for (let i = 0; i < 3; i++) await shadow.add(job, { key: `q${i}` })({ v: i })
  for (let i = 0; i < 3; i++) await shadow.add(job, { key: `s${i}`, delay: 3_600_000 + i })({ v: i })
  const b64 = (text: string) => Buffer.from(text).toString('base64url')
  const json = (value: unknown) => b64(JSON.stringify(value))
  const failedCursor = (await shadow.list({ state: 'failed', limit: 1 })).next as string
  const queuedCursor = (await shadow.list({ state: 'queued', limit: 1 })).next as string
  t.ok(failedCursor && queuedCursor, 'real cursors to mangle')
  const before = await shadowContents(shadow.name)
  const hostile: [string, TaskState, string, string?][] = [
    ['garbage', 'failed', 'not a cursor!'],
    ['spaces', 'failed', 'a b c'],
    ['base64 of junk', 'failed', b64('junk \u0000\uffff')],
    ['base64 of a number', 'failed', b64('1')],
    ['base64 of null', 'failed', b64('null')],
    ['base64 of an object', 'failed', json({ state: 'failed', score: 1, member: 'f1' })],
    ['__proto__ object', 'failed', b64('{"__proto__":{"polluted":true}}')],
    ['__proto__ inside', 'failed', b64('[1,"failed","",{"__proto__":{"polluted":true}}]')],
    ['constructor', 'failed', json([1, 'failed', '', ['constructor', 'prototype']])],
    ['another version', 'failed', json([2, 'failed', '', [1, 'f1']])],
    ['made for another state', 'completed', failedCursor],
    ['made for another task', 'failed', failedCursor, 'job'],
    ['queued cursor on failed', 'failed', queuedCursor],
    ['failed cursor on queued', 'queued', failedCursor],
    ['huge', 'failed', 'A'.repeat(100_000)],
    ['just too long', 'failed', 'A'.repeat(1025)],
    ['truncated', 'failed', failedCursor.slice(0, -3)],
    ['score not a number', 'failed', json([1, 'failed', '', ['1', 'f1']])],
    ['score huge', 'failed', json([1, 'failed', '', [1e300, 'f1']])],
    ['score fractional', 'failed', json([1, 'failed', '', [1.5, 'f1']])],
    ['member with a space', 'failed', json([1, 'failed', '', [1, 'f1 +inf']])],
    ['member empty', 'failed', json([1, 'failed', '', [1, '']])],
    ['member too long', 'failed', json([1, 'failed', '', [1, 'x'.repeat(201)]])],
    ['member a Lua pattern', 'failed', json([1, 'failed', '', [1, '(%d+)']])],
    ['three parts', 'failed', json([1, 'failed', '', [1, 'f1', 'x']])],
    ['stream id with letters', 'queued', json([1, 'queued', '', '1-a'])],
    ['stream id past the largest', 'queued', json([1, 'queued', '', '99999999999999999999-0'])],
    ['stream id sequence past the largest', 'queued', json([1, 'queued', '', '1-99999999999999999999'])],
    ['the largest stream id', 'queued', json([1, 'queued', '', '18446744073709551615-18446744073709551615'])],
    ['stream id for scheduled', 'scheduled', json([1, 'scheduled', '', '1-0'])],
    ['position for queued', 'queued', json([1, 'queued', '', [1, 'q1']])],
    ['schedule position on failed', 'failed', json([1, 'failed', '', [1, 'f1']])],
    ['history entry not a stream id', 'failed', json([1, 'failed', '', ['f1', 1]])],
    ['history place 0', 'failed', json([1, 'failed', '', ['1-0', 0]])],
    ['history place past an entry', 'failed', json([1, 'failed', '', ['1-0', 101]])],
    ['history place fractional', 'failed', json([1, 'failed', '', ['1-0', 1.5]])],
    ['history place a string', 'failed', json([1, 'failed', '', ['1-0', '1']])],
    ['history position for scheduled', 'scheduled', json([1, 'scheduled', '', ['1-0', 1]])],
  ]
  for (const [what, state, cursor, task] of hostile) {
    await rejectsWith(t, () => shadow.list({ state, cursor, ...(task !== undefined ? { task } : {}) }), 'SHADOWS_ERR_VALIDATION', what)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype polluted')
  t.same(await shadowContents(shadow.name), before, 'nothing changed')
  // a cursor of a position that does not exist, but is well formed, is a place in the order
  const far = await shadow.list({ state: 'failed', cursor: json([1, 'failed', '', ['0-1', 1]]) })
  t.same(far.tasks, [], 'a position past the oldest: an empty page')
  const early = await shadow.list({ state: 'scheduled', cursor: json([1, 'scheduled', '', [0, 'a']]) })
  t.same(
    early.tasks.map((info) => info.key),
    ['s0', 's1', 's2'],
    'a position before the earliest: every scheduled task',
  )
})

t.test('pages visit every task exactly once, whatever the limit (property)', async (t) => {
  const { task: job } = jobTask('job')
  const { task: other } = jobTask('other')
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job, other])
  // failed tasks in a few batches: many share their finish time (one finish call ends several)
  const expected: Record<string, Record<string, string[]>> = {
    failed: { '': [], job: [], other: [] },
    scheduled: { '': [], job: [], other: [] },
    queued: { '': [], job: [], other: [] },
  }
  const note = (state: string, task: string, key: string) => {
    expected[state]?.['']?.push(key)
    expected[state]?.[task]?.push(key)
  }
  for (let round = 0; round < 4; round++) {
    const items = Array.from({ length: 12 }, (_, i) => {
      const task = i % 3 === 0 ? 'other' : 'job'
      const key = `f-${round}-${i}`
      note('failed', task, key)
      return { task, key, params: { v: i, fail: true } }
    })
    await shadow.addBatch(items)
    await worker.runUntilFinished()
    await tick(2)
  }
  const now = Date.now()
  const scheduledItems = Array.from({ length: 37 }, (_, i) => {
    const task = i % 4 === 0 ? 'other' : 'job'
    const key = `s-${i}`
    note('scheduled', task, key)
    // several share a due time
    return { task, key, params: { v: i }, when: new Date(now + 3_600_000 + Math.floor(i / 3) * 1000) }
  })
  await shadow.addBatch(scheduledItems)
  const queuedItems = Array.from({ length: 41 }, (_, i) => {
    const task = i % 5 === 0 ? 'other' : 'job'
    const key = `q-${i}`
    note('queued', task, key)
    return { task, key, params: { v: i } }
  })
  await shadow.addBatch(queuedItems)

  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('failed', 'scheduled', 'queued'),
      fc.constantFrom(undefined, 'job', 'other'),
      fc.integer({ min: 1, max: 20 }),
      async (state, task, limit) => {
        const { keys, pages } = await allPages(shadow, { state: state as TaskState, limit, ...(task !== undefined ? { task } : {}) })
        const want = expected[state]?.[task ?? ''] ?? []
        if (new Set(keys).size !== keys.length) throw new Error(`a task listed twice: ${keys.join(' ')}`)
        if ([...keys].sort().join() !== [...want].sort().join()) throw new Error(`listed ${keys.length} of ${want.length}`)
        for (const page of pages) if (page.tasks.length > limit) throw new Error('a page longer than its limit')
        for (const page of pages.slice(0, -1)) if (page.tasks.length !== limit) throw new Error('a page short of its limit before the last')
      },
    ),
    { numRuns: 40 },
  )
  t.pass('every listing visits each task once')
})

t.test('pages stay exact while listed tasks leave between pages', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  await shadow.addBatch(Array.from({ length: 30 }, (_, i) => ({ task: 'job', key: `f${i}`, params: { v: i, fail: true } })))
  await worker.runUntilFinished()
  const all = (await shadow.list({ state: 'failed', limit: 1000 })).tasks.map((info) => info.key)
  t.equal(all.length, 30)
  const seen: string[] = []
  let cursor: string | undefined
  do {
    const page = await shadow.list({ state: 'failed', limit: 4, ...(cursor !== undefined ? { cursor } : {}) })
    seen.push(...page.tasks.map((info) => info.key))
    // the last task of the page (the cursor's own member) leaves the index: retried, queued again
    const last = page.tasks[page.tasks.length - 1]
    if (last) await shadow.retry(last.key)
    cursor = page.next
  } while (cursor !== undefined)
  t.same(seen, all, 'every task once, in order, although the cursor positions left the index')
})

t.test('historyLimit trims each index, oldest first', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t, { historyLimit: 3 })
  const worker = makeWorker(t, shadow, [job])
  for (const key of ['h1', 'h2', 'h3', 'h4', 'h5']) await finishOne(shadow, worker, job, key, true)
  t.same(await listed(shadow, 'failed'), ['h5', 'h4', 'h3'], 'the newest three')
  t.same(await listed(shadow, 'failed', 'job'), ['h5', 'h4', 'h3'], 'the newest three of the task')
  const keys = shadowContext(shadow).keys
  // the index trims once in a tenth of its limit (here: every task), entries whole
  t.same(await indexedKeys(keys.history('failed')), ['h3', 'h4', 'h5'], 'the index holds three')
  t.same(await indexedKeys(keys.history('failed', 'job')), ['h3', 'h4', 'h5'], 'the index of the task holds three')
  t.equal((await shadow.get('h1'))?.state, 'failed', 'the record itself stays (until it expires)')
  for (const key of ['x1', 'x2', 'x3', 'x4']) {
    await shadow.add(job, { key, delay: 3_600_000 })({ v: 1 })
    await shadow.cancel(key)
    await tick(3)
  }
  t.same(await listed(shadow, 'cancelled'), ['x4', 'x3', 'x2'], 'cancel trims too')
  t.same(await indexedKeys(keys.history('cancelled', 'job')), ['x2', 'x3', 'x4'])
})

t.test('how many tasks each index was given is counted beside it, and taken again from the index when the count is lost', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t, { historyLimit: 3 })
  const worker = makeWorker(t, shadow, [job])
  const keys = shadowContext(shadow).keys
  const counts = keys.historyPrefix.slice(0, -1)
  for (const key of ['h1', 'h2', 'h3']) await finishOne(shadow, worker, job, key, true)
  const redis = shadowContext(shadow).redis
  t.same(await redis.hgetall(counts), { failed: '3', 'failed:job': '3' }, 'one count per index')
  t.ok((await redis.pttl(counts)) > 0, 'the counts expire')
  await redis.del(counts)
  for (const key of ['h4', 'h5']) await finishOne(shadow, worker, job, key, true)
  t.same(await redis.hgetall(counts), { failed: '5', 'failed:job': '5' }, 'counted on from what the indexes were given')
  t.same(await listed(shadow, 'failed'), ['h5', 'h4', 'h3'], 'still the newest three')
  t.same(await indexedKeys(keys.history('failed')), ['h3', 'h4', 'h5'], 'and the index trimmed to them')
})

t.test('history goes with the records: every index has a TTL, and expires', async (t) => {
  const { task: job } = jobTask()
  const ttl = 400
  const shadow = makeShadow(t, { executionTtl: ttl })
  const worker = makeWorker(t, shadow, [job])
  await shadow.add(job, { key: 'old' })({ v: 1, fail: true })
  await shadow.add(job, { key: 'gone' })({ v: 1 })
  await worker.runUntilFinished()
  await shadow.add(job, { key: 'x', delay: 3_600_000 })({ v: 1 })
  await shadow.cancel('x')
  const indexes = await historyKeys(shadow)
  const keys = shadowContext(shadow).keys
  t.same(
    Object.keys(indexes).sort(),
    [
      keys.history('cancelled'),
      keys.history('cancelled', 'job'),
      keys.history('completed'),
      keys.history('completed', 'job'),
      keys.history('failed'),
      keys.history('failed', 'job'),
    ].sort(),
    'one index per finished state, and per state and task',
  )
  for (const [index, pttl] of Object.entries(indexes)) t.ok(pttl > 0 && pttl <= ttl, `${index} has a TTL (${pttl})`)
  t.same(await listed(shadow, 'failed'), ['old'])
  await waitFor(async () => (await shadow.get('old')) === undefined, 10_000, 'the record to expire')
  t.same(await listed(shadow, 'failed'), [], 'an expired record is not listed')
  // a later finish trims the entries whose records expired
  await shadow.add(job, { key: 'new' })({ v: 2, fail: true })
  await worker.runUntilFinished()
  t.same(await indexedKeys(keys.history('failed')), ['new'], 'the expired entry left the index')
  await waitFor(async () => Object.keys(await historyKeys(shadow)).length === 0, 10_000, 'every index to expire')
  t.pass('the indexes expired with their records')
})

t.test('historyLimit 0 keeps no history; executionTtl 0 neither', async (t) => {
  const { task: job } = jobTask()
  for (const options of [{ historyLimit: 0 }, { executionTtl: 0 }]) {
    const shadow = makeShadow(t, options)
    const worker = makeWorker(t, shadow, [job])
    await shadow.add(job, { key: 'f' })({ v: 1, fail: true })
    await shadow.add(job, { key: 'c' })({ v: 1 })
    await worker.runUntilFinished()
    await shadow.add(job, { key: 'x', delay: 3_600_000 })({ v: 1 })
    await shadow.cancel('x')
    const what = JSON.stringify(options)
    t.same(await historyKeys(shadow), {}, `${what}: no history index`)
    for (const state of ['failed', 'completed', 'cancelled'] as const) t.same(await listed(shadow, state), [], `${what}: no ${state} listed`)
    if (options.historyLimit === 0) t.equal((await shadow.get('f'))?.state, 'failed', `${what}: the record is kept all the same`)
  }
})

t.test('a page is one script call, however many tasks it holds', async (t) => {
  const { task: job } = jobTask()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [job])
  await shadow.addBatch(Array.from({ length: 120 }, (_, i) => ({ task: 'job', key: `f${i}`, params: { v: i, fail: true } })))
  await worker.runUntilFinished()
  await shadow.addBatch(Array.from({ length: 120 }, (_, i) => ({ task: 'job', key: `q${i}`, params: { v: i } })))
  await shadow.addBatch(Array.from({ length: 120 }, (_, i) => ({ task: 'job', key: `s${i}`, params: { v: i }, delay: 3_600_000 })))
  for (const state of ['failed', 'queued', 'scheduled'] as const) {
    await shadow.list({ state, limit: 1 }) // scripts loaded
    const counter = countCommands(shadow)
    const page = await shadow.list({ state, limit: 500 })
    counter.stop()
    t.equal(page.tasks.length, 120, `${state}: the whole page`)
    const total = [...counter.counts.values()].reduce((a, b) => a + b, 0)
    t.equal(total, 1, `${state}: one command (${JSON.stringify(Object.fromEntries(counter.counts))})`)
  }
})
