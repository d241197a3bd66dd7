import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask } from '../../src/index.js'
import { TEST_URL, closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { gate, spawnChildWorker } from '../helpers/engine-workers.js'

t.teardown(closeAdmin)

t.test('workers() lists live workers with their details; a closed worker drops out at once', async (t) => {
  const shadow = makeShadow(t)
  t.same(await shadow.workers(), [], 'no worker yet')
  const hold = gate()
  const alpha = defineTask({
    name: 'alpha',
    async run() {
      await hold.promise
    },
  })
  const beta = defineTask({ name: 'beta', async run() {} })
  const before = Date.now()
  const w1 = makeWorker(t, shadow, [alpha, beta], { name: 'inspect-1', concurrency: 3, heartbeatInterval: 200 })
  // inspect-2 does not know alpha: if it reads the alpha task first, it hands it back quickly
  const w2 = makeWorker(t, shadow, [beta], { name: 'inspect-2', concurrency: 7, heartbeatInterval: 200, unknownTaskDelay: 20 })
  const running1 = w1.run()
  const running2 = w2.run()
  await waitFor(async () => (await shadow.workers()).length === 2, 5000, 'both workers listed')

  const listed = await shadow.workers()
  const one = listed.find((w) => w.name === 'inspect-1')
  const two = listed.find((w) => w.name === 'inspect-2')
  t.ok(one && two, 'both listed by name')
  t.same([...(one?.tasks ?? [])].sort(), ['alpha', 'beta'])
  t.equal(one?.concurrency, 3)
  t.equal(one?.running, 0)
  t.same(two?.tasks, ['beta'])
  t.equal(two?.concurrency, 7)
  t.ok(one?.lastSeen instanceof Date, 'lastSeen is a Date')
  t.ok((one?.lastSeen.getTime() ?? 0) >= before, 'lastSeen is a recent beat')

  // the running count follows what the worker runs
  await shadow.add(alpha, { key: 'held' })({})
  await waitFor(async () => (await shadow.workers()).find((w) => w.name === 'inspect-1')?.running === 1, 5000, 'inspect-1 shows 1 running')
  const firstSeen = (await shadow.workers()).find((w) => w.name === 'inspect-1')?.lastSeen.getTime() ?? 0
  await waitFor(
    async () => ((await shadow.workers()).find((w) => w.name === 'inspect-1')?.lastSeen.getTime() ?? 0) > firstSeen,
    5000,
    'lastSeen moves on with each beat',
  )
  hold.open()
  await waitFor(async () => (await shadow.get('held'))?.state === 'completed', 5000, 'held completed')

  await w2.close()
  await running2
  t.same(
    (await shadow.workers()).map((w) => w.name),
    ['inspect-1'],
    'a closed worker is gone from the list at once',
  )
  await w1.close()
  await running1
  t.same(await shadow.workers(), [], 'no worker left')
})

t.test('a killed worker drops out of workers() within ~2.5 heartbeat intervals', async (t) => {
  const shadow = makeShadow(t)
  const child = await spawnChildWorker(t, { url: TEST_URL, shadow: shadow.name, name: 'short-lived', heartbeatInterval: 200 })
  await child.waitForLine(/^ready$/)
  const listed = (await shadow.workers()).find((w) => w.name === 'short-lived')
  t.ok(listed, 'the child worker is listed')
  t.same(listed?.tasks, ['long'])
  await child.kill()
  // 2.5 intervals = 500 ms after the last beat; allow generous slack for a loaded machine
  await waitFor(async () => !(await shadow.workers()).some((w) => w.name === 'short-lived'), 3000, 'the killed worker dropped out')
  t.pass('the killed worker is no longer listed')
})

t.test('snapshot() counts and lists scheduled, queued and running tasks', async (t) => {
  const shadow = makeShadow(t)
  const empty = await shadow.snapshot()
  t.same(empty.counts, { scheduled: 0, queued: 0, running: 0 }, 'an unused shadow is empty')
  t.same(empty.byTask, {})
  t.same(empty.running, [])
  t.same(empty.scheduled, [])

  const hold = gate()
  const slow = defineTask({
    name: 'slow',
    params: Type.Object({ i: Type.Number() }),
    async run() {
      await hold.promise
    },
  })
  const waiting = defineTask({ name: 'waiting', async run() {} })
  const later = defineTask({ name: 'later', async run() {} })

  // three in the future, each further out
  const base = Date.now() + 60_000
  for (let i = 0; i < 3; i++) await shadow.add(later, { key: `later-${i}`, when: new Date(base + (3 - i) * 1000) })({})

  // two running on a worker whose slots are then full
  const worker = makeWorker(t, shadow, [slow, waiting], { name: 'snap-worker', concurrency: 2 })
  const running = worker.run()
  await shadow.add(slow, { key: 'slow-0' })({ i: 0 })
  await shadow.add(slow, { key: 'slow-1' })({ i: 1 })
  await waitFor(async () => (await shadow.snapshot()).counts.running === 2, 5000, 'two running')

  // queued behind them: the worker has no free slot to take them
  await shadow.add(slow, { key: 'slow-2' })({ i: 2 })
  for (let i = 0; i < 4; i++) await shadow.add(waiting, { key: `waiting-${i}` })({})

  const before = Date.now()
  const snap = await shadow.snapshot()
  t.ok(snap.takenAt instanceof Date, 'takenAt is a Date')
  t.ok(snap.takenAt.getTime() >= before - 1, 'takenAt is when it was taken')
  t.same(snap.counts, { scheduled: 3, queued: 5, running: 2 })
  t.same(snap.byTask, {
    later: { scheduled: 3, queued: 0, running: 0 },
    slow: { scheduled: 0, queued: 1, running: 2 },
    waiting: { scheduled: 0, queued: 4, running: 0 },
  })
  t.same(
    snap.running.map((r) => ({ key: r.key, task: r.task, worker: r.worker })).sort((a, b) => a.key.localeCompare(b.key)),
    [
      { key: 'slow-0', task: 'slow', worker: 'snap-worker' },
      { key: 'slow-1', task: 'slow', worker: 'snap-worker' },
    ],
  )
  for (const r of snap.running) {
    t.ok(r.startedAt instanceof Date, `${r.key} has a startedAt`)
    t.equal(r.startedAt?.getTime(), (await shadow.get(r.key))?.startedAt?.getTime(), `${r.key} startedAt matches its record`)
  }
  t.same(
    snap.scheduled.map((s) => ({ key: s.key, task: s.task, when: s.when.getTime() })),
    [
      { key: 'later-2', task: 'later', when: base + 1000 },
      { key: 'later-1', task: 'later', when: base + 2000 },
      { key: 'later-0', task: 'later', when: base + 3000 },
    ],
    'scheduled tasks by due time',
  )

  // once the slow tasks are let go, everything due drains and only the future ones remain
  hold.open()
  await waitFor(
    async () => {
      const s = await shadow.snapshot()
      return s.counts.running === 0 && s.counts.queued === 0
    },
    5000,
    'drained',
  )
  const after = await shadow.snapshot()
  t.same(after.counts, { scheduled: 3, queued: 0, running: 0 })
  t.same(after.byTask, { later: { scheduled: 3, queued: 0, running: 0 } })
  t.same(after.running, [])
  await worker.close()
  await running
})

t.test('snapshot() lists the first 100 scheduled tasks by due time and counts them all', async (t) => {
  const shadow = makeShadow(t)
  const later = defineTask({ name: 'later', async run() {} })
  const base = Date.now() + 3_600_000
  // added in an order unrelated to their due times
  const items = Array.from({ length: 150 }, (_, i) => {
    const n = (i * 67) % 150
    return { task: later, key: `s-${n}`, when: new Date(base + n * 1000) }
  })
  const results = await shadow.addBatch(items)
  t.ok(
    results.every((r) => r.ok && r.execution.state === 'scheduled'),
    'all 150 scheduled',
  )
  const snap = await shadow.snapshot()
  t.same(snap.counts, { scheduled: 150, queued: 0, running: 0 })
  t.same(snap.byTask, { later: { scheduled: 150, queued: 0, running: 0 } })
  t.equal(snap.scheduled.length, 100, 'the list stops at 100')
  t.same(
    snap.scheduled.map((s) => s.key),
    Array.from({ length: 100 }, (_, n) => `s-${n}`),
    'the first 100 by due time, in order',
  )
  t.equal(snap.scheduled[0]?.when.getTime(), base)
  t.equal(snap.scheduled[99]?.when.getTime(), base + 99_000)
})
