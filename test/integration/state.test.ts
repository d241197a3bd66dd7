/**
 * shadow.get and the task record: the lifecycle scheduled → queued → running → completed | failed,
 * the context a task sees, progress, errors, and how long finished records are kept.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, DEFAULT_EXECUTION_TTL, type TaskContext } from '../../src/index.js'
import { closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { gate, rawRecord, recordTtl, rejectsWith, runInBackground } from '../helpers/engine-state.js'

t.teardown(closeAdmin)

t.test('get follows a task from scheduled to running (with progress) to completed', async (t) => {
  const release = gate(t)
  const progressed = gate(t)
  const contexts: Pick<TaskContext, 'key' | 'task' | 'attempt' | 'when'>[] = []
  const report = defineTask({
    name: 'report',
    params: Type.Object({ pages: Type.Integer() }),
    async run({ pages }, ctx) {
      contexts.push({ key: ctx.key, task: ctx.task, attempt: ctx.attempt, when: ctx.when })
      await ctx.progress(3, pages, 'page 3')
      progressed.open()
      await release.promise
      await ctx.progress(pages)
      return { pages, done: true }
    },
  })
  const shadow = makeShadow(t)
  const execution = await shadow.add(report, { key: 'life', delay: 300 })({ pages: 10 })

  const sched = await shadow.get('life')
  t.same(
    { key: sched?.key, task: sched?.task, params: sched?.params, state: sched?.state, attempt: sched?.attempt },
    { key: 'life', task: 'report', params: { pages: 10 }, state: 'scheduled', attempt: 1 },
    'scheduled',
  )
  t.equal(sched?.when.getTime(), execution.when.getTime())
  t.notOk(sched?.worker ?? sched?.startedAt ?? sched?.finishedAt ?? sched?.result ?? sched?.error ?? sched?.progress, 'no run fields yet')
  t.equal(await recordTtl(shadow, 'life'), -1, 'a live record does not expire')

  const worker = makeWorker(t, shadow, [report], { name: 'w-state' })
  const stop = runInBackground(worker)
  await progressed.promise
  const running = await shadow.get('life')
  t.equal(running?.state, 'running')
  t.equal(running?.worker, 'w-state', 'the worker running it')
  t.ok(running?.startedAt instanceof Date, 'startedAt is set')
  t.ok((running?.startedAt?.getTime() ?? 0) >= execution.when.getTime(), 'it started when due, not before')
  t.same(running?.progress, { current: 3, total: 10, message: 'page 3' }, 'progress is visible while running')
  t.notOk(running?.finishedAt, 'not finished')
  t.equal(await recordTtl(shadow, 'life'), -1, 'a running record does not expire')
  t.same(contexts, [{ key: 'life', task: 'report', attempt: 1, when: execution.when }], 'ctx carries key, task, attempt and when')

  release.open()
  await waitFor(async () => (await shadow.get('life'))?.state === 'completed', 5000, 'completion')
  await stop()
  const done = await shadow.get('life')
  t.equal(done?.state, 'completed')
  t.same(done?.result, { pages: 10, done: true }, 'the returned JSON is the result')
  t.same(done?.params, { pages: 10 })
  t.equal(done?.attempt, 1)
  t.equal(done?.worker, 'w-state')
  t.ok(done?.finishedAt instanceof Date && done.startedAt instanceof Date && done.finishedAt >= done.startedAt, 'finishedAt after startedAt')
  t.notOk(done?.error, 'no error')
  const ttl = await recordTtl(shadow, 'life')
  t.ok(ttl > 0 && ttl <= DEFAULT_EXECUTION_TTL, `the record expires within the default executionTtl (pttl ${ttl})`)
  t.ok(ttl > DEFAULT_EXECUTION_TTL / 2, 'the default executionTtl is 15 minutes, not a fraction of it')
})

t.test('an immediate add is queued until a worker takes it', async (t) => {
  const noop = defineTask({ name: 'noop', async run() {} })
  const shadow = makeShadow(t)
  await shadow.add(noop, { key: 'q' })({})
  const queued = await shadow.get('q')
  t.equal(queued?.state, 'queued')
  t.same(queued?.params, {})
  t.equal(queued?.attempt, 1)
  t.equal(await recordTtl(shadow, 'q'), -1)
  const worker = makeWorker(t, shadow, [noop])
  await worker.runUntilFinished()
  const done = await shadow.get('q')
  t.equal(done?.state, 'completed')
  t.notOk(done && 'result' in done, 'a task returning nothing has no result')
})

t.test('a scheduled task becomes queued when due, and waits there for a free worker slot', async (t) => {
  const release = gate(t)
  const order: string[] = []
  const job = defineTask({
    name: 'job',
    async run(_p, ctx) {
      order.push(ctx.key)
      if (ctx.key === 'blocker') await release.promise
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(job, { key: 'blocker' })({})
  const worker = makeWorker(t, shadow, [job], { concurrency: 1 })
  const draining = worker.runUntilFinished()
  await waitFor(() => order.length === 1, 5000, 'the blocker to start')
  await shadow.add(job, { key: 'due', delay: 100 })({})
  t.equal((await shadow.get('due'))?.state, 'scheduled')
  await waitFor(async () => (await shadow.get('due'))?.state === 'queued', 5000, 'the task to be queued when due')
  t.same(order, ['blocker'], 'queued, not running: the only slot is taken')
  release.open()
  await draining
  t.same(order, ['blocker', 'due'])
  t.equal((await shadow.get('due'))?.state, 'completed')
})

t.test('a task that throws ends failed with the error class name and message', async (t) => {
  const boom = defineTask({
    name: 'boom',
    params: Type.Object({ kind: Type.String() }),
    async run({ kind }) {
      if (kind === 'type') throw new TypeError('not a number')
      if (kind === 'range') throw new RangeError('too far')
      throw new Error('it broke')
    },
  })
  const shadow = makeShadow(t)
  await shadow.add(boom, { key: 'plain' })({ kind: 'plain' })
  await shadow.add(boom, { key: 'type' })({ kind: 'type' })
  await shadow.add(boom, { key: 'range' })({ kind: 'range' })
  const worker = makeWorker(t, shadow, [boom])
  await worker.runUntilFinished()
  const expected: Record<string, { type: string; message: string }> = {
    plain: { type: 'Error', message: 'it broke' },
    type: { type: 'TypeError', message: 'not a number' },
    range: { type: 'RangeError', message: 'too far' },
  }
  for (const [key, error] of Object.entries(expected)) {
    const info = await shadow.get(key)
    t.equal(info?.state, 'failed', `${key}: failed`)
    t.same(info?.error, error, `${key}: error recorded`)
    t.equal(info?.attempt, 1, `${key}: one attempt (no retry)`)
    t.ok(info?.finishedAt, `${key}: finishedAt set`)
    t.notOk(info && 'result' in info, `${key}: no result`)
    const ttl = await recordTtl(shadow, key)
    t.ok(ttl > 0 && ttl <= DEFAULT_EXECUTION_TTL, `${key}: the failed record expires (pttl ${ttl})`)
  }
})

t.test('executionTtl sets how long a finished record is kept', async (t) => {
  const ok = defineTask({
    name: 'ok',
    async run() {
      return 'fine'
    },
  })
  const bad = defineTask({
    name: 'bad',
    async run() {
      throw new Error('no')
    },
  })
  const ttlMs = 60_000
  const shadow = makeShadow(t, { executionTtl: ttlMs })
  await shadow.add(ok, { key: 'c' })({})
  await shadow.add(bad, { key: 'f' })({})
  const worker = makeWorker(t, shadow, [ok, bad])
  await worker.runUntilFinished()
  for (const key of ['c', 'f']) {
    const ttl = await recordTtl(shadow, key)
    t.ok(ttl > 0 && ttl <= ttlMs, `${key}: pttl ${ttl} within executionTtl ${ttlMs}`)
    t.ok(ttl > ttlMs / 2, `${key}: the ttl is executionTtl, not a fraction of it`)
  }
  t.equal((await shadow.get('c'))?.result, 'fine')
})

t.test('executionTtl 0 keeps nothing of a finished task', async (t) => {
  const ok = defineTask({
    name: 'ok',
    async run() {
      return 'fine'
    },
  })
  const bad = defineTask({
    name: 'bad',
    async run() {
      throw new Error('no')
    },
  })
  const shadow = makeShadow(t, { executionTtl: 0 })
  await shadow.add(ok, { key: 'c' })({})
  await shadow.add(bad, { key: 'f' })({})
  t.equal((await shadow.get('c'))?.state, 'queued', 'live records exist as usual')
  const worker = makeWorker(t, shadow, [ok, bad])
  await worker.runUntilFinished()
  t.equal(await shadow.get('c'), undefined, 'completed record gone')
  t.equal(await shadow.get('f'), undefined, 'failed record gone')
  t.same(await rawRecord(shadow, 'c'), {}, 'no hash left')
  t.equal(await recordTtl(shadow, 'f'), -2, 'no key left')
})

t.test('get of an unknown key is undefined; a malformed key is refused', async (t) => {
  const shadow = makeShadow(t)
  t.equal(await shadow.get('nothing-here'), undefined)
  await rejectsWith(t, () => shadow.get('bad key'), 'SHADOWS_ERR_VALIDATION', 'malformed key')
  await rejectsWith(t, () => shadow.get(''), 'SHADOWS_ERR_VALIDATION', 'empty key')
})
