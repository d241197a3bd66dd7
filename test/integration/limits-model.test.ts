/**
 * The limit logic of the scripts against a model, with fast-check: random adds, starts and
 * finishes by one worker never put more than `limit` attempts of a group at once, a group with tasks
 * waiting has every slot taken (no slot idles while a task waits), each group starts its tasks in
 * the order they came, and everything ends with nothing left behind. For rate limits, random
 * arrivals (with an injected clock) start at the earliest time their sliding window allows, and no
 * window of `per` ms ever holds more than `limit` starts.
 */
import t from 'tap'
import fc from 'fast-check'
import { Type } from '@sinclair/typebox'
import { defineTask } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { finishAttempts, moveDueTasks, startTasks, type StartEntry } from '../../src/redis/commands.js'
import { CONSUMER_GROUP, storedKey } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import { closeAdmin, makeShadow, shadowKeysIn } from '../helpers/shadow.js'

t.teardown(closeAdmin)
// a hundred property runs of up to forty steps each, every step checked against Redis
t.setTimeout(360_000)

const TENANTS = ['t0', 't1', 't2']

const SEED = Number(process.env.FC_SEED ?? 20261206)

type Step = { kind: 'add'; tenant: number } | { kind: 'start'; count: number } | { kind: 'finish'; pick: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), tenant: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ kind: fc.constant('start' as const), count: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('finish' as const), pick: fc.nat() }),
)

t.test('concurrency by a parameter holds against a model', async (t) => {
  let run = 0
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(step, { minLength: 1, maxLength: 40 }), async (limit, steps) => {
      const shadow = makeShadow(t)
      const { redis, keys } = shadowContext(shadow)
      const task = defineTask({ name: 'm', params: Type.Object({ tenant: Type.String() }), concurrency: { limit, by: 'tenant' }, run: () => undefined })
      const limits = workerLimits([task], 30_000)
      await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
      const added = new Map<string, string[]>()
      const started = new Map<string, string[]>()
      const running: { id: string; key: string; gen: string; slot: string }[] = []
      const tenantOf = new Map<string, string>()
      let n = 0
      const start = async (count: number) => {
        const reply = (await startTasks(redis, keys, 'w', '', shadow.eventsLimit, limits, { mode: 'read', count, tasks: ['m'] })) as StartEntry[]
        for (const entry of reply) {
          if (entry.kind !== 'run') continue
          running.push(entry)
          const tenant = tenantOf.get(entry.key) as string
          started.set(tenant, [...(started.get(tenant) ?? []), entry.key])
        }
      }
      const finish = async (i: number) => {
        const [done] = running.splice(i, 1)
        if (!done) return
        await finishAttempts(redis, keys, 'w', shadow, 30_000, [{ ...done, outcome: 'completed', data: '', due: 0 }])
      }
      const check = async () => {
        // one round trip for the six counts
        const pipeline = redis.pipeline()
        for (const tenant of TENANTS) pipeline.zcard(`${keys.slotPrefix}m|${tenant}`).zcard(`${keys.waitingPrefix}m|${tenant}`)
        const counts = ((await pipeline.exec()) ?? []).map(([err, n]) => {
          if (err) throw err
          return n as number
        })
        for (const [i, tenant] of TENANTS.entries()) {
          const held = counts[2 * i] as number
          const waiting = counts[2 * i + 1] as number
          const mine = running.filter((r) => r.slot === `m|${tenant}`).length
          if (held > limit || mine > limit) throw new Error(`${tenant}: ${held} slots held, ${mine} running, limit ${limit}`)
          if (waiting > 0 && held < limit) throw new Error(`${tenant}: ${waiting} wait while only ${held} of ${limit} slots are held`)
        }
      }
      for (const s of steps) {
        if (s.kind === 'add') {
          const key = storedKey(`k${n++}`)
          const tenant = `t${s.tenant}`
          tenantOf.set(key, tenant)
          added.set(tenant, [...(added.get(tenant) ?? []), key])
          await shadow.add(task, { key: `k${n - 1}` })({ tenant })
        } else if (s.kind === 'start') await start(s.count)
        else await finish(s.pick % Math.max(running.length, 1))
        await check()
      }
      // then everything runs to the end
      for (let rounds = 0; rounds < 200 && (running.length > 0 || (await redis.xlen(keys.stream)) > 0); rounds++) {
        await start(10)
        await check()
        while (running.length > 0) await finish(0)
      }
      for (const [tenant, keysAdded] of added) {
        if (JSON.stringify(started.get(tenant) ?? []) !== JSON.stringify(keysAdded)) {
          throw new Error(`${tenant}: started ${JSON.stringify(started.get(tenant))}, added ${JSON.stringify(keysAdded)}`)
        }
      }
      const left = (await shadowKeysIn(shadow.name)).filter((k) => /\}:(slots|waiting|limits)/.test(k))
      if (left.length > 0) throw new Error(`left behind: ${left.join(', ')}`)
      run += 1
    }),
    { seed: SEED, numRuns: 40, endOnFailure: true },
  )
  t.equal(run, 40, 'every run held')
})

t.test('a rate limit starts each task at the earliest time its sliding window allows, and holds when starts come late', async (t) => {
  let run = 0
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 10, max: 1000 }),
      fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 25 }),
      // how late each scheduled start comes (the scheduler or the worker was busy); none: on time
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 8 }),
      async (limit, per, gaps, lateness) => {
        const shadow = makeShadow(t)
        const { redis, keys } = shadowContext(shadow)
        const task = defineTask({ name: 'r', rateLimit: { limit, per }, run: () => undefined })
        const limits = workerLimits([task], 30_000)
        await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
        const base = Date.now() + 60_000
        let now = base
        // the time of the last script call: time never goes back
        let clock = base
        let late = 0
        const startedAt: number[] = []
        const arrivals: number[] = []
        // the model, for starts on time: in arrival order, each start at max(arrival, the
        // limit-th previous start + per)
        const expected: number[] = []
        const startNow = async (at: number) => {
          clock = at
          const reply = (await startTasks(redis, keys, 'w', '', shadow.eventsLimit, limits, { mode: 'read', count: 1, tasks: ['r'] }, at)) as StartEntry[]
          for (const entry of reply) {
            if (entry.kind === 'run') {
              startedAt.push(at)
              await finishAttempts(redis, keys, 'w', shadow, 30_000, [{ ...entry, outcome: 'completed', data: '', due: 0 }])
            }
          }
        }
        // the scheduled tasks whose (late) start comes by `until`, in order
        const startDue = async (until: number) => {
          for (;;) {
            const due = await redis.zrange(keys.schedule, 0, 0, 'WITHSCORES')
            if (due.length === 0) return
            const at = Math.max(clock, Number(due[1]) + (lateness.length > 0 ? (lateness[late % lateness.length] as number) : 0))
            if (at > until) return
            late += 1
            await moveDueTasks(redis, keys, Number(due[1]), 1)
            await startNow(at)
          }
        }
        for (const [i, gap] of gaps.entries()) {
          now += gap
          await startDue(now)
          const previous = expected.length >= limit ? (expected[expected.length - limit] as number) + per : -Infinity
          expected.push(Math.max(now, previous))
          arrivals.push(now)
          await shadow.add(task, { key: `r${i}` })({})
          await startNow(now)
        }
        await startDue(Infinity)
        const sorted = [...startedAt].sort((a, b) => a - b)
        if (sorted.length !== gaps.length) throw new Error(`${sorted.length} of ${gaps.length} tasks started`)
        const onTime = lateness.every((ms) => ms === 0)
        if (onTime && JSON.stringify(sorted) !== JSON.stringify([...expected].sort((a, b) => a - b))) {
          throw new Error(`started at ${JSON.stringify(sorted.map((x) => x - base))}, the model says ${JSON.stringify(expected.map((x) => x - base))}`)
        }
        for (let i = limit; i < sorted.length; i++) {
          if ((sorted[i] as number) - (sorted[i - limit] as number) < per) {
            throw new Error(`${limit + 1} starts within ${per} ms: ${JSON.stringify(sorted.map((x) => x - base))}`)
          }
        }
        run += 1
      },
    ),
    { seed: SEED, numRuns: 60, endOnFailure: true },
  )
  t.equal(run, 60, 'every run held')
})
