/**
 * The retry controls a task holds, against the real Redis: NonRetryableError, retrying for ever,
 * ctx.retryIn / ctx.retryAt, ctx.extendTimeout, and ctx.perpetual.after / .at choosing the next run.
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { NonRetryableError, defineTask } from '../../src/index.js'
import { closeAdmin, makeShadow, makeWorker } from '../helpers/shadow.js'

t.teardown(closeAdmin)

t.test('NonRetryableError fails the attempt for good, whatever retry says', async (t) => {
  const shadow = makeShadow(t)
  let runs = 0
  const task = defineTask({
    name: 'refuse',
    retry: { attempts: 5, delay: 0 },
    async run() {
      runs += 1
      throw new NonRetryableError('the account is closed')
    },
  })
  await shadow.add(task, { key: 'r' })({})
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.equal(runs, 1, 'one attempt')
  t.match(await shadow.get('r'), { state: 'failed', attempt: 1, error: { type: 'NonRetryableError', message: 'the account is closed' } })
})

t.test('attempts: Infinity retries until the task succeeds', async (t) => {
  const shadow = makeShadow(t)
  const task = defineTask({
    name: 'stubborn',
    retry: { attempts: Infinity, delay: 0 },
    async run(_params, ctx) {
      if (ctx.attempt < 12) throw new Error(`not yet (${ctx.attempt})`)
      return ctx.attempt
    },
  })
  await shadow.add(task, { key: 's' })({})
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.match(await shadow.get('s'), { state: 'completed', attempt: 12, result: 12 })
})

t.test('ctx.retryIn and ctx.retryAt end the attempt and run the next one at that time, retry or not', async (t) => {
  const shadow = makeShadow(t)
  const seen: { attempt: number; when: number; asked?: number }[] = []
  const task = defineTask({
    name: 'later',
    async run(_params, ctx) {
      seen.push({ attempt: ctx.attempt, when: ctx.when.getTime() })
      if (ctx.attempt === 1) {
        const asked = Date.now() + 40
        seen[seen.length - 1]!.asked = asked
        return ctx.retryIn(40)
      }
      if (ctx.attempt === 2) {
        // a past time: at once; caught and swallowed, the request still holds
        try {
          ctx.retryAt(new Date(0))
        } catch {
          return 'swallowed'
        }
      }
      return 'done'
    },
  })
  await shadow.add(task, { key: 'l' })({})
  await makeWorker(t, shadow, [task]).runUntilFinished()
  t.same(
    seen.map((s) => s.attempt),
    [1, 2, 3],
    'three attempts, though the task has no retry option',
  )
  t.ok(seen[1]!.when >= seen[0]!.asked! - 1, 'the second attempt was due when retryIn said', { seen })
  t.match(await shadow.get('l'), { state: 'completed', attempt: 3, result: 'done' })
})

t.test('a retry asked for is recorded as the attempt error while the next attempt waits', async (t) => {
  const shadow = makeShadow(t)
  const task = defineTask({
    name: 'tomorrow',
    async run(_params, ctx) {
      ctx.retryAt(new Date('2100-01-01T00:00:00Z'))
    },
  })
  await shadow.add(task, { key: 'm' })({})
  const worker = makeWorker(t, shadow, [task])
  const running = worker.run()
  const deadline = Date.now() + 20_000
  while ((await shadow.get('m'))?.state !== 'scheduled' && Date.now() < deadline) await sleep(10)
  await worker.close()
  await running
  t.match(await shadow.get('m'), {
    state: 'scheduled',
    attempt: 2,
    when: new Date('2100-01-01T00:00:00Z'),
    error: { type: 'RetryRequestedError', message: 'the task asked to run again at 2100-01-01T00:00:00.000Z' },
  })
})

t.test('ctx.extendTimeout keeps long work that makes progress from timing out', async (t) => {
  const shadow = makeShadow(t)
  // the same work, with and without extending: each step is short, the whole is past the timeout
  const work = (extend: boolean) =>
    defineTask({
      name: extend ? 'extends' : 'plain',
      timeout: 150,
      async run(_params, ctx) {
        for (let step = 0; step < 12; step++) {
          if (extend) ctx.extendTimeout(10_000)
          await sleep(25, undefined, { signal: ctx.signal })
        }
        return 'finished'
      },
    })
  const tasks = [work(true), work(false)]
  await shadow.add(tasks[0]!, { key: 'e' })({})
  await shadow.add(tasks[1]!, { key: 'p' })({})
  await makeWorker(t, shadow, tasks).runUntilFinished()
  t.match(await shadow.get('e'), { state: 'completed', result: 'finished' }, 'extended: it finished')
  t.match(await shadow.get('p'), { state: 'failed', error: { type: 'TimeoutError' } }, 'not extended: it timed out')
})

t.test('ctx.perpetual.at and .after choose the next run of the chain', async (t) => {
  const shadow = makeShadow(t)
  const runs: number[] = []
  const task = defineTask({
    name: 'pace',
    // left to every, the second run would wait an hour, past the test's timeout
    perpetual: { every: 3_600_000 },
    async run(_params, ctx) {
      runs.push(ctx.when.getTime())
      if (runs.length === 1) ctx.perpetual?.at(new Date(0))
      else if (runs.length === 2) ctx.perpetual?.after(0)
      else ctx.perpetual?.at(new Date('2100-01-01T00:00:00Z'))
    },
  })
  await shadow.add(task, { key: 'p' })({})
  const worker = makeWorker(t, shadow, [task])
  const running = worker.run()
  const deadline = Date.now() + 20_000
  while (runs.length < 3 && Date.now() < deadline) await sleep(10)
  const after = Date.now() + 20_000
  while ((await shadow.get('p'))?.when.getTime() !== Date.UTC(2100, 0, 1) && Date.now() < after) await sleep(10)
  await worker.close()
  await running
  t.equal(runs.length, 3, 'three runs, each due when the one before said')
  t.match(await shadow.get('p'), { state: 'scheduled', when: new Date('2100-01-01T00:00:00Z') }, 'the fourth waits for the time .at gave')
})
