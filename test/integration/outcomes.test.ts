/**
 * Outcomes are written in batches: one pushed at any moment is written, even in the instant a
 * batch write finds the queue empty and ends.
 */
import t from 'tap'
import { pino } from 'pino'
import { Outcomes, type Outcome } from '../../src/worker/outcomes.js'
import { shadowContext } from '../../src/client/shadow.js'
import { CONSUMER_GROUP } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import { adminRedis, closeAdmin, makeShadow } from '../helpers/shadow.js'

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
