/**
 * Outcomes are written in batches: one pushed at any moment is written, even in the instant a
 * batch write finds the queue empty and ends; a batch mixing plain completions (sent in short form)
 * with other outcomes applies each to its own task.
 */
import t from 'tap'
import { pino } from 'pino'
import { Outcomes, type Outcome } from '../../src/worker/outcomes.js'
import { shadowContext } from '../../src/client/shadow.js'
import { STALE, startTasks, type StartEntry } from '../../src/redis/commands.js'
import { CONSUMER_GROUP, storedKey } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import { finishScript } from '../helpers/engine-state.js'
import { adminRedis, closeAdmin, makeShadow } from '../helpers/shadow.js'

type StartRun = Extract<StartEntry, { kind: 'run' }>

t.teardown(closeAdmin)

const outcome = (n: number, label: string): Outcome => ({ id: `1-${n}`, key: label, gen: '1', outcome: 'completed', data: '', due: 0 })

/** Runs `then` after `hops` turns of the microtask queue. */
function afterMicrotasks(hops: number, then: () => void): Promise<void> {
  let chain = Promise.resolve()
  for (let i = 0; i < hops; i++) chain = chain.then(() => undefined)
  return chain.then(then)
}

t.test('an outcome pushed as a batch write ends is written too, not left waiting for the next one', async (t) => {
  const shadow = makeShadow(t)
  const { redis, keys, executionTtl, historyLimit, eventsLimit } = shadowContext(shadow)
  await adminRedis().xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
  for (let hops = 0; hops <= 8; hops++) {
    const written: string[] = []
    let late: Promise<void> | undefined
    const context = { redis, keys, executionTtl, historyLimit, eventsLimit, limits: workerLimits([], 30_000), name: 'probe', logger: pino({ level: 'silent' }) }
    // each batch goes to Redis as usual; the moment its write resolves, the batch loop sees the
    // queue empty and ends, and a late outcome is pushed `hops` microtasks after that
    const outcomes: Outcomes = new Outcomes(context, async (batch, finish) => {
      await finish(batch)
      written.push(...batch.map((o) => o.key))
      late ??= afterMicrotasks(hops, () => outcomes.push(outcome(2, `late-${hops}`)))
    })
    outcomes.push(outcome(1, `first-${hops}`))
    await outcomes.idle()
    await late
    await outcomes.idle()
    t.same(written, [`first-${hops}`, `late-${hops}`], `pushed ${hops} microtasks after a write: written`)
  }
})

t.test('one finish call with plain completions among other outcomes applies each to its own task', async (t) => {
  const shadow = makeShadow(t)
  const { redis, keys } = shadowContext(shadow)
  await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
  for (const key of ['a', 'b', 'c', 'd', 'e']) await shadow.add('long', { key })({})
  const started = await startTasks(redis, keys, 'w', '', shadow.eventsLimit, workerLimits([], 30_000), { mode: 'read', count: 5, tasks: ['long'] })
  if (started === STALE) throw new Error('unexpected stale reply')
  const entry = (key: string) => {
    const found = started.find((e) => e.kind === 'run' && e.key === storedKey(key))
    if (found?.kind !== 'run') throw new Error(`${key} did not start`)
    return found
  }
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(entry) as [StartRun, StartRun, StartRun, StartRun, StartRun]
  // plain completions (no result, no slot) and the others, interleaved as a worker pushes them
  const applied = await finishScript(shadow, 'w', [
    [a.id, a.key, a.gen, 'completed', '', 0],
    [b.id, b.key, b.gen, 'completed', '"done"', 0],
    [c.id, c.key, `${c.gen}9`, 'completed', '', 0],
    [d.id, d.key, d.gen, 'failed', JSON.stringify({ name: 'Error', message: 'broke' }), 0],
    [e.id, e.key, e.gen, 'completed', '', 0],
  ])
  t.equal(applied, 4, 'all but the outcome of another generation apply')
  t.match(await shadow.get('a'), { state: 'completed', result: undefined })
  t.match(await shadow.get('b'), { state: 'completed', result: 'done' })
  t.match(await shadow.get('c'), { state: 'running' }, 'an outcome for another generation leaves the task alone')
  t.match(await shadow.get('d'), { state: 'failed', error: { message: 'broke' } })
  t.match(await shadow.get('e'), { state: 'completed', result: undefined })
  t.same((await shadow.list({ state: 'completed' })).tasks.map((task) => task.key).sort(), ['a', 'b', 'e'], 'the completed ones are in the history')
  await shadow.cancel('c')
})
