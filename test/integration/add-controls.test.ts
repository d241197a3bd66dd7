/**
 * The add options `debounce` and `throttle`, through shadow.add, addBatch and replace: a burst of
 * debounced adds runs once with the last params; a throttle window makes every add of its key a
 * duplicate, even once the task finished, is not extended by duplicates, and ends; bad values are
 * refused with nothing written. Waits are on state (the schedule, the window key, a finished
 * task), never on time passing.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { MAX_ADD_WINDOW, defineTask, type AddOptions, type Shadow } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { storedKey } from '../../src/redis/keys.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { assertNoKeys, gate, rawRecord, rejectsWith, scheduled, streamLength } from '../helpers/engine-state.js'

t.teardown(closeAdmin)

/** A task `job` with params { v } that records the params of every run. */
function recorder() {
  const runs: number[] = []
  const task = defineTask({
    name: 'job',
    params: Type.Object({ v: Type.Number() }),
    async run({ v }) {
      runs.push(v)
      return v
    },
  })
  return { task, runs }
}

/** The throttle window key of `key`. */
function windowKey(shadow: Shadow, key: string): string {
  return shadowContext(shadow).keys.throttle(storedKey(key))
}

/** When the window of `key` ends, epoch ms, by Redis's clock (-2: no window). */
async function windowEnd(shadow: Shadow, key: string): Promise<number> {
  return Number(await adminRedis().call('PEXPIRETIME', windowKey(shadow, key)))
}

/** Redis's clock, epoch ms. */
async function redisNow(): Promise<number> {
  const [seconds, micros] = await adminRedis().time()
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
}

t.test('debounce: a burst of adds of one key is one scheduled task, moved on each add, that runs once with the last params', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  const before = Date.now()
  const first = await shadow.add(task, { key: 'burst', debounce: 60_000 })({ v: 1 })
  const after = Date.now()
  t.match(first, { key: 'burst', task: 'job', state: 'scheduled', duplicate: false }, 'the first add is scheduled')
  t.notOk('debounced' in first, 'the first add moved nothing')
  t.ok(first.when.getTime() >= before + 60_000 && first.when.getTime() <= after + 60_000, 'due at now + debounce')
  t.same(await scheduled(shadow), { burst: first.when.getTime() })

  for (let v = 2; v <= 5; v++) {
    const again = await shadow.add(task, { key: 'burst', debounce: 60_000 })({ v })
    t.match(again, { key: 'burst', state: 'scheduled', duplicate: false, debounced: true }, `add ${v} moved the task`)
    t.same(await scheduled(shadow), { burst: again.when.getTime() }, `add ${v}: one entry, at the new due time`)
    t.same((await shadow.get('burst'))?.params, { v }, `add ${v}: the record holds its params`)
  }
  t.equal(await streamLength(shadow), 0, 'nothing was queued meanwhile')

  // the last add of the burst, with a short debounce, makes the task due soon
  const last = await shadow.add(task, { key: 'burst', debounce: 20 })({ v: 6 })
  t.equal(last.debounced, true)
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs, [6], 'one run, with the last params')
  const info = await shadow.get('burst')
  t.equal(info?.state, 'completed')
  t.equal(info?.attempt, 1)
  t.equal(info?.when.getTime(), last.when.getTime(), 'it was due debounce ms after the last add')
})

t.test('debounce: once the task is queued or running, an add is a duplicate; once it finished, it starts afresh', async (t) => {
  const release = gate(t)
  const runs: number[] = []
  const slow = defineTask({
    name: 'slow',
    params: Type.Object({ v: Type.Number() }),
    async run({ v }) {
      runs.push(v)
      await release.promise
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(slow, { key: 'q' })({ v: 1 })
  const queued = await shadow.add(slow, { key: 'q', debounce: 60_000 })({ v: 2 })
  t.match(queued, { duplicate: true, state: 'queued', params: { v: 1 } }, 'queued: a duplicate, the run is due already')
  t.same(await scheduled(shadow), {}, 'nothing was scheduled')

  const worker = makeWorker(t, shadow, [slow])
  const draining = worker.runUntilFinished()
  await waitFor(async () => (await shadow.get('q'))?.state === 'running', 5000, 'the task to run')
  const running = await shadow.add(slow, { key: 'q', debounce: 60_000 })({ v: 3 })
  t.match(running, { duplicate: true, state: 'running', params: { v: 1 } }, 'running: a duplicate')
  release.open()
  await draining
  t.same(runs, [1])

  const afresh = await shadow.add(slow, { key: 'q', debounce: 60_000 })({ v: 4 })
  t.match(afresh, { duplicate: false, state: 'scheduled' }, 'finished: the key is stored afresh, scheduled')
  t.notOk(afresh.debounced, 'nothing was moved')
  await shadow.cancel('q')
})

t.test('debounce with replace: moves a scheduled task (replaced and debounced), replaces a queued one', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 's', delay: 30_000 })({ v: 1 })
  const moved = await shadow.replace(task, { key: 's', debounce: 60_000 })({ v: 2 })
  t.match(moved, { state: 'scheduled', replaced: true, debounced: true })
  await shadow.add(task, { key: 'q' })({ v: 1 })
  const replaced = await shadow.replace(task, { key: 'q', debounce: 60_000 })({ v: 2 })
  t.match(replaced, { state: 'scheduled', replaced: true })
  t.notOk('debounced' in replaced, 'a queued task is replaced, not debounced')
  const created = await shadow.replace(task, { key: 'new', debounce: 60_000 })({ v: 3 })
  t.same({ ...created, when: undefined }, { key: 'new', task: 'job', when: undefined, state: 'scheduled', replaced: false })
  t.same(await scheduled(shadow), { s: moved.when.getTime(), q: replaced.when.getTime(), new: created.when.getTime() })
  t.equal(await streamLength(shadow), 0, 'the queued version left the stream')
  for (const key of ['s', 'q', 'new']) await shadow.cancel(key)
})

t.test('throttle: adds within the window are duplicates, even once the task finished; the window then ends and the key is free', async (t) => {
  const { task, runs } = recorder()
  const shadow = makeShadow(t)
  const worker = makeWorker(t, shadow, [task])
  const first = await shadow.add(task, { key: 'th', throttle: 60_000 })({ v: 1 })
  t.match(first, { state: 'queued', duplicate: false })
  const end = await windowEnd(shadow, 'th')
  t.ok(end > 0, 'the window is a key with a TTL')
  t.equal(await adminRedis().get(windowKey(shadow, 'th')), `${first.when.getTime()} job`, 'holding the due time and task of the add')

  const live = await shadow.add(task, { key: 'th', throttle: 60_000 })({ v: 2 })
  t.match(live, { duplicate: true, state: 'queued', params: { v: 1 } }, 'while queued: a duplicate')
  await worker.runUntilFinished()
  t.same(runs, [1])

  const done = await shadow.add(task, { key: 'th' })({ v: 3 })
  t.match(done, { duplicate: true, state: 'completed', task: 'job', params: { v: 1 } }, 'finished, within the window: a duplicate (with or without throttle)')
  t.equal(done.when.getTime(), first.when.getTime())
  const again = await shadow.addBatch([{ task, key: 'th', params: { v: 4 }, throttle: 60_000 }])
  t.match(again, [{ ok: true, execution: { duplicate: true, state: 'completed' } }], 'a batch item too')
  const debounced = await shadow.add(task, { key: 'th', debounce: 1000 })({ v: 5 })
  t.match(debounced, { duplicate: true, state: 'completed' }, 'a debounced add too')
  t.equal(await windowEnd(shadow, 'th'), end, 'duplicates did not move the end of the window')
  await worker.runUntilFinished()
  t.same(runs, [1], 'no duplicate ran')

  // a short window, and what follows it
  const short = await shadow.add(task, { key: 'short', throttle: 3000 })({ v: 10 })
  t.equal(short.duplicate, false)
  await worker.runUntilFinished()
  t.equal((await shadow.add(task, { key: 'short' })({ v: 11 })).duplicate, true, 'within the window')
  await waitFor(async () => (await adminRedis().exists(windowKey(shadow, 'short'))) === 0, 10_000, 'the window to end')
  const after = await shadow.add(task, { key: 'short' })({ v: 12 })
  t.match(after, { duplicate: false, state: 'queued' }, 'after the window the key is stored again')
  t.equal(await adminRedis().exists(windowKey(shadow, 'short')), 0, 'an add without throttle opens no window')
  await worker.runUntilFinished()
  t.same(runs, [1, 10, 12])
})

t.test('throttle: duplicates do not extend the window', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'k', throttle: 60_000, delay: 60_000 })({ v: 1 })
  const end = await windowEnd(shadow, 'k')
  // once Redis's clock is past the add, an add that opened the window again would end it later
  await waitFor(async () => (await redisNow()) >= end - 60_000 + 2, 5000, "Redis's clock to move on")
  for (let v = 2; v <= 4; v++) t.equal((await shadow.add(task, { key: 'k', throttle: 60_000 })({ v })).duplicate, true)
  t.equal(await windowEnd(shadow, 'k'), end, 'the window ends when it did')
  t.same((await shadow.get('k'))?.params, { v: 1 })
  await shadow.cancel('k')
})

t.test('throttle: a window that outlives the record answers from its own copy (no state, no params)', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t, { executionTtl: 0 })
  const first = await shadow.add(task, { key: 'gone', throttle: 60_000 })({ v: 1 })
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.equal(await shadow.get('gone'), undefined, 'the record is gone (executionTtl 0)')
  const dup = await shadow.add(task, { key: 'gone' })({ v: 2 })
  t.same({ ...dup }, { key: 'gone', task: 'job', when: first.when, duplicate: true }, 'the task and due time of the add that opened it')
  t.equal(await streamLength(shadow), 0, 'nothing was queued')
})

t.test('throttle with replace: a replace is never a duplicate, and with throttle it restarts the window', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t)
  await shadow.add(task, { key: 'r', throttle: 60_000, delay: 60_000 })({ v: 1 })
  const end = await windowEnd(shadow, 'r')
  const plain = await shadow.replace(task, { key: 'r', delay: 60_000 })({ v: 2 })
  t.match(plain, { replaced: true, state: 'scheduled' }, 'a replace within the window replaces')
  t.equal(await windowEnd(shadow, 'r'), end, 'and, without throttle, leaves the window alone')
  await waitFor(async () => (await redisNow()) >= end - 60_000 + 2, 5000, "Redis's clock to move on")
  const restarted = await shadow.replace(task, { key: 'r', throttle: 60_000 })({ v: 3 })
  t.match(restarted, { replaced: true, state: 'queued' })
  t.ok((await windowEnd(shadow, 'r')) > end, 'a replace with throttle restarts the window')
  t.equal((await shadow.add(task, { key: 'r' })({ v: 4 })).duplicate, true)
  t.same((await shadow.get('r'))?.params, { v: 3 })
  await shadow.cancel('r')
})

t.test('addBatch: debounce and throttle items, each judged alone and in order', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t)
  const results = await shadow.addBatch([
    { task, key: 'd', params: { v: 1 }, debounce: 60_000 },
    { task, key: 'd', params: { v: 2 }, debounce: 60_000 },
    { task, key: 't', params: { v: 3 }, throttle: 60_000 },
    { task, key: 't', params: { v: 4 }, throttle: 60_000 },
    { task, params: { v: 5 }, debounce: 60_000 },
    { task, key: 'x', params: { v: 6 }, throttle: -1 },
    { task, key: 'd', params: { v: 7 } },
  ])
  const summary = results.map((r) =>
    r.ok ? `${r.execution.state}${r.execution.duplicate ? '+dup' : ''}${r.execution.debounced ? '+debounced' : ''}` : r.error.code,
  )
  t.same(summary, ['scheduled', 'scheduled+debounced', 'queued', 'queued+dup', 'SHADOWS_ERR_VALIDATION', 'SHADOWS_ERR_VALIDATION', 'scheduled+dup'])
  t.same((await shadow.get('d'))?.params, { v: 2 }, 'the debounced task holds the params of the last debounced add')
  t.same(Object.keys(await scheduled(shadow)), ['d'])
  t.equal(await streamLength(shadow), 1)
  t.equal(await adminRedis().exists(windowKey(shadow, 'x')), 0)
  await shadow.cancel('d')
  await shadow.cancel('t')
})

t.test('bad debounce and throttle values are refused with SHADOWS_ERR_VALIDATION and nothing is written', async (t) => {
  const { task } = recorder()
  const shadow = makeShadow(t)
  const cases: [string, AddOptions][] = []
  for (const name of ['debounce', 'throttle'] as const) {
    for (const [what, value] of [
      ['negative', -1],
      ['zero', 0],
      ['a float', 1.5],
      ['past one year', MAX_ADD_WINDOW + 1],
      ['huge', 1e300],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a string', '1000'],
      ['null', null],
    ] as const) {
      cases.push([`${name} ${what}`, { key: 'k', [name]: value } as unknown as AddOptions])
    }
    cases.push([`${name} without a key`, { [name]: 1000 }])
  }
  cases.push(['debounce with when', { key: 'k', debounce: 1000, when: new Date(Date.now() + 60_000) }])
  cases.push(['debounce with delay', { key: 'k', debounce: 1000, delay: 0 }])
  cases.push(['debounce and throttle', { key: 'k', debounce: 1000, throttle: 1000 }])
  for (const [what, options] of cases) {
    const err = await rejectsWith(t, () => shadow.add(task, options)({ v: 1 }), 'SHADOWS_ERR_VALIDATION', what)
    t.match((err as { details?: { field?: string } } | undefined)?.details?.field, /^(debounce|throttle|key)$/, `${what}: names the field`)
  }
  await rejectsWith(t, () => shadow.replace(task, { key: 'k', throttle: 0 })({ v: 1 }), 'SHADOWS_ERR_VALIDATION', 'replace with throttle 0')
  const [item] = await shadow.addBatch([{ task, params: { v: 1 }, throttle: 1000 }])
  t.match(item, { ok: false, error: { code: 'SHADOWS_ERR_VALIDATION' } }, 'a batch item without a key')
  await assertNoKeys(t, shadow)
  const longest = await shadow.add(task, { key: 'k', throttle: MAX_ADD_WINDOW })({ v: 1 })
  t.equal(longest.duplicate, false, 'one year exactly is accepted')
  t.ok((await adminRedis().pttl(windowKey(shadow, 'k'))) > MAX_ADD_WINDOW - 60_000, 'and the window lasts that long')
  t.equal((await rawRecord(shadow, 'k')).state, 'queued')
  await shadow.cancel('k')
})
