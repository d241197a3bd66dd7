/**
 * Concurrency and rate limits across workers, against the real Redis: a limit per task and per
 * parameter value is never exceeded, tasks over it wait without an attempt and start oldest first,
 * they hold up no other task, a dead worker's slots are freed, and a rate limit spaces starts out.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, type Shadow } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { startTasks } from '../../src/redis/commands.js'
import { storedKey } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import { adminRedis, closeAdmin, makeShadow, makeWorker, shadowKeysIn, waitFor } from '../helpers/shadow.js'

t.teardown(closeAdmin)

/** Counts the attempts running at once, overall and per group, and keeps the most seen. */
function overlapMeter() {
  const running = new Map<string, number>()
  const most = new Map<string, number>()
  const order: string[] = []
  return {
    order,
    most,
    async around(group: string, key: string, work: () => Promise<void>) {
      order.push(key)
      const now = (running.get(group) ?? 0) + 1
      running.set(group, now)
      most.set(group, Math.max(most.get(group) ?? 0, now))
      try {
        await work()
      } finally {
        running.set(group, (running.get(group) ?? 1) - 1)
      }
    },
  }
}

/** Keys of the limit structures left in Redis (none once every task is over, but slot and window keys with a TTL). */
async function limitKeysLeft(shadow: Shadow): Promise<string[]> {
  const keys = await shadowKeysIn(shadow.name)
  return keys.filter((k) => k.includes('}:waiting:') || k.endsWith('}:limits'))
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

t.test('concurrency: at most limit attempts run at once, across two workers, and none uses an attempt waiting', async (t) => {
  const shadow = makeShadow(t)
  const meter = overlapMeter()
  const task = defineTask({
    name: 'sync',
    params: Type.Object({ n: Type.Number() }),
    concurrency: { limit: 2 },
    async run({ n }, ctx) {
      await meter.around('all', String(n), () => pause(15))
      return ctx.attempt
    },
  })
  const keys = Array.from({ length: 16 }, (_, i) => `s${i}`)
  for (const [i, key] of keys.entries()) await shadow.add(task, { key })({ n: i })
  const a = makeWorker(t, shadow, [task], { concurrency: 10 })
  const b = makeWorker(t, shadow, [task], { concurrency: 10 })
  await Promise.all([a.runUntilFinished(), b.runUntilFinished()])
  t.equal(meter.order.length, 16, 'every task ran once')
  t.equal(meter.most.get('all'), 2, 'two ran at once, never more')
  for (const key of keys) t.match(await shadow.get(key), { state: 'completed', attempt: 1, result: 1 }, `${key}: one attempt`)
  t.same(await limitKeysLeft(shadow), [], 'no waiting list or index left')
})

t.test('concurrency by a parameter: one per tenant, tenants side by side, oldest first within each', async (t) => {
  const shadow = makeShadow(t)
  const meter = overlapMeter()
  const overall = overlapMeter()
  const task = defineTask({
    name: 'tenant-sync',
    params: Type.Object({ tenant: Type.String(), n: Type.Number() }),
    concurrency: { limit: 1, by: 'tenant' },
    async run({ tenant, n }) {
      await meter.around(tenant, `${tenant}-${n}`, async () => {
        await overall.around('all', `${tenant}-${n}`, () => pause(10))
      })
    },
  })
  for (let n = 0; n < 5; n++) for (const tenant of ['a', 'b', 'c']) await shadow.add(task, { key: `${tenant}-${n}` })({ tenant, n })
  await makeWorker(t, shadow, [task], { concurrency: 10 }).runUntilFinished()
  for (const tenant of ['a', 'b', 'c']) {
    t.equal(meter.most.get(tenant), 1, `tenant ${tenant}: one at a time`)
    const mine = meter.order.filter((k) => k.startsWith(`${tenant}-`))
    t.same(
      mine,
      [0, 1, 2, 3, 4].map((n) => `${tenant}-${n}`),
      `tenant ${tenant}: in the order added`,
    )
  }
  t.ok((overall.most.get('all') ?? 0) > 1, 'tenants ran side by side')
  t.same(await limitKeysLeft(shadow), [])
})

t.test('tasks waiting for a slot hold up no other task, and show as queued and waiting', async (t) => {
  const shadow = makeShadow(t)
  let open!: () => void
  const gate = new Promise<void>((resolve) => (open = resolve))
  let started = 0
  const slow = defineTask({
    name: 'slow',
    concurrency: { limit: 1 },
    async run() {
      started += 1
      await gate
    },
  })
  const quick = defineTask({ name: 'quick', run: () => 'done' })
  for (let i = 0; i < 6; i++) await shadow.add(slow, { key: `slow-${i}` })({})
  await shadow.add(quick, { key: 'quick' })({})
  const worker = makeWorker(t, shadow, [slow, quick], { concurrency: 10 })
  const running = worker.run()
  const result = await shadow.result('quick', { timeout: 10_000 })
  t.equal(result, 'done', 'the task behind five waiting ones ran at once')
  t.equal(started, 1, 'one slow task runs; the others wait')
  const waiting = await shadow.get('slow-5')
  t.match(waiting, { state: 'queued', waitingFor: 'concurrency' }, 'a waiting task is queued, waiting for a slot')
  const { redis, keys } = shadowContext(shadow)
  t.equal(await redis.hget(keys.task(storedKey('slow-5')), 'waiting'), 'slow', 'its record names the group it waits for')
  t.equal(await redis.zcard(`${keys.waitingPrefix}slow`), 5, 'five wait for the slot')
  const snapshot = await shadow.snapshot()
  t.same(snapshot.waiting, [{ task: 'slow', count: 5, keys: ['slow-1', 'slow-2', 'slow-3', 'slow-4', 'slow-5'] }], 'the snapshot shows who waits')
  t.equal(snapshot.counts.queued, 5, 'waiting tasks count as queued')
  t.equal(snapshot.byTask.slow?.queued, 5)
  open()
  await waitFor(async () => (await shadow.get('slow-5'))?.state === 'completed', 10_000, 'the last slow task')
  await worker.close()
  await running
  t.equal(started, 6)
  t.same(await limitKeysLeft(shadow), [])
})

t.test("a dead worker's slot is freed when its lease lapses, and its task runs again elsewhere", async (t) => {
  const shadow = makeShadow(t)
  const ran: string[] = []
  const task = defineTask({
    name: 'exclusive',
    concurrency: { limit: 1 },
    run: (_p, ctx) => {
      ran.push(ctx.key)
    },
  })
  await shadow.add(task, { key: 'first' })({})
  await shadow.add(task, { key: 'second' })({})
  // a worker that starts "first" and dies at once: its slot's lease is 200 ms, never renewed
  const { redis, keys } = shadowContext(shadow)
  await redis.xgroup('CREATE', keys.stream, 'workers', '0', 'MKSTREAM').catch(() => undefined)
  const reply = await startTasks(redis, keys, 'ghost', '', shadow.eventsLimit, workerLimits([task], 200), { mode: 'read', count: 1, tasks: ['exclusive'] })
  t.match(reply, [{ kind: 'run', slot: 'exclusive' }], 'the ghost holds the slot')
  const worker = makeWorker(t, shadow, [task], { redeliveryTimeout: 300 })
  await worker.runUntilFinished()
  t.same([...ran].sort(), ['first', 'second'], 'both ran: the ghost’s task was reclaimed, the other got a slot')
  t.match(await shadow.get('first'), { state: 'completed' })
  t.same(await limitKeysLeft(shadow), [])
})

t.test('rate limit: at most limit starts in any window, the rest scheduled for their place in it', async (t) => {
  const shadow = makeShadow(t)
  const task = defineTask({ name: 'call-api', rateLimit: { limit: 3, per: 400 }, run: (_p, ctx) => ctx.attempt })
  const keys = Array.from({ length: 9 }, (_, i) => `c${i}`)
  await shadow.addBatch(keys.map((key) => ({ task, key, params: {} })))
  const worker = makeWorker(t, shadow, [task], { concurrency: 10 })
  const running = worker.runUntilFinished()
  await waitFor(async () => (await shadow.get('c8'))?.state !== 'queued', 10_000, 'the last task to find its place')
  t.match(await shadow.get('c8'), { state: 'scheduled', waitingFor: 'rateLimit' }, 'a task past the window is scheduled for its place in it')
  await running
  const starts: number[] = []
  for (const key of keys) {
    const record = await shadow.get(key)
    t.match(record, { state: 'completed', attempt: 1 }, `${key}: ran once, no attempt used waiting`)
    starts.push(record?.startedAt?.getTime() ?? NaN)
  }
  starts.sort((x, y) => x - y)
  for (let i = 3; i < starts.length; i++) {
    t.ok(starts[i]! - starts[i - 3]! >= 400, `start ${i} is a window after start ${i - 3} (${starts[i]! - starts[i - 3]!} ms)`)
  }
  const rateKeys = (await shadowKeysIn(shadow.name)).filter((k) => k.includes('}:rate:'))
  // -2: expired already since it was listed
  for (const key of rateKeys) t.not(await adminRedis().pttl(key), -1, 'the window expires')
})

t.test('rate limit: a start call that waited before it ran counts its starts when it ran, not when it was sent', async (t) => {
  // a call sent 1.5 s before Redis runs it (a stalled connection, a busy Redis) carries a stale now;
  // were its start counted then, the calls after it would drop it from the window at once
  const shadow = makeShadow(t)
  const task = defineTask({ name: 'quota', rateLimit: { limit: 2, per: 1000 }, run: () => undefined })
  await shadow.addBatch(['q1', 'q2', 'q3'].map((key) => ({ task, key, params: {} })))
  const { redis, keys } = shadowContext(shadow)
  await redis.xgroup('CREATE', keys.stream, 'workers', '0', 'MKSTREAM').catch(() => undefined)
  const limits = workerLimits([task], 30_000)
  const start = (count: number, now: number) => startTasks(redis, keys, 'w', '', shadow.eventsLimit, limits, { mode: 'read', count, tasks: ['quota'] }, now)
  const late = await start(1, Date.now() - 1500)
  t.match(late, [{ kind: 'run', key: 'q1' }], 'the late call starts q1')
  const fresh = await start(2, Date.now())
  t.match(fresh, [{ kind: 'run', key: 'q2' }, { kind: 'wait' }], 'one more fits in the window; q3 waits for its place')
  t.match(await shadow.get('q3'), { state: 'scheduled', waitingFor: 'rateLimit' })
  const [q1, q3] = await Promise.all([shadow.get('q1'), shadow.get('q3')])
  t.ok(q1!.startedAt!.getTime() >= Date.now() - 1000, 'q1 is recorded as started when the call ran')
  t.ok(q3!.when.getTime() >= q1!.startedAt!.getTime() + 1000, 'q3 is reserved a window after the first start')
  await shadow.cancel('q3')
})

t.test('concurrency: a start call that waited before it ran holds its slot a lease from when it ran', async (t) => {
  // a call held back 5 s (its client queued it while Redis was away) carries a stale now; were the
  // slot's lease counted from then, it would have lapsed already and the next call would free it
  // under a task still running
  const shadow = makeShadow(t)
  const task = defineTask({ name: 'solo', concurrency: { limit: 1 }, run: () => undefined })
  await shadow.addBatch(['s1', 's2'].map((key) => ({ task, key, params: {} })))
  const { redis, keys } = shadowContext(shadow)
  await redis.xgroup('CREATE', keys.stream, 'workers', '0', 'MKSTREAM').catch(() => undefined)
  const limits = workerLimits([task], 2_000)
  const start = (now: number) => startTasks(redis, keys, 'w', '', shadow.eventsLimit, limits, { mode: 'read', count: 1, tasks: ['solo'] }, now)
  t.match(await start(Date.now() - 5_000), [{ kind: 'run', key: 's1', slot: 'solo' }], 'the late call starts s1')
  const sid = (await redis.hget(keys.task(storedKey('s1')), 'sid')) as string
  const lease = Number(await redis.zscore(keys.slotPrefix + 'solo', sid))
  t.ok(lease >= Date.now() + 1_000, `the slot is leased from when the call ran (${lease - Date.now()} ms left)`)
  t.match(await start(Date.now()), [{ kind: 'wait' }], 's2 waits: the slot is still held')
  t.match(await shadow.get('s2'), { state: 'queued', waitingFor: 'concurrency' })
  await shadow.cancel('s2')
  await redis.del(keys.slotPrefix + 'solo')
  await shadow.cancel('s1')
})

t.test('rate limit by a parameter: each value has its own window', async (t) => {
  const shadow = makeShadow(t)
  const task = defineTask({
    name: 'per-host',
    params: Type.Object({ host: Type.String() }),
    rateLimit: { limit: 1, per: 150, by: 'host' },
    run: () => undefined,
  })
  await shadow.addBatch(['x', 'y', 'x', 'y'].map((host, i) => ({ task, key: `h${i}`, params: { host } })))
  await makeWorker(t, shadow, [task]).runUntilFinished()
  const record = async (key: string) => {
    const info = await shadow.get(key)
    return { when: info?.when.getTime() ?? NaN, started: info?.startedAt?.getTime() ?? NaN }
  }
  const [h0, h1, h2, h3] = await Promise.all(['h0', 'h1', 'h2', 'h3'].map(record))
  // a task that waited was scheduled for exactly a window after the start it waited on
  t.equal(h2!.when, h0!.started + 150, 'host x: the second start was reserved a window after the first')
  t.equal(h3!.when, h1!.started + 150, 'host y: the second start was reserved a window after the first')
  t.ok(h2!.started >= h2!.when && h3!.started >= h3!.when, 'neither started before its reserved time')
  t.ok(h1!.when <= h0!.started, 'host y did not wait for host x: its first task kept the due time it was added with')
})

t.test('limits are checked when the task is defined', async (t) => {
  const params = Type.Object({ tenant: Type.String() })
  t.throws(() => defineTask({ name: 'bad', concurrency: { limit: 0 }, run: () => undefined }), { code: 'SHADOWS_ERR_VALIDATION' })
  t.throws(() => defineTask({ name: 'bad', params, rateLimit: { limit: 1, per: 1.5 }, run: () => undefined }), { code: 'SHADOWS_ERR_VALIDATION' })
  // @ts-expect-error: by names a parameter of the task
  t.throws(() => defineTask({ name: 'bad', params, concurrency: { limit: 1, by: 'nope' }, run: () => undefined }), /must name a parameter/)
})
