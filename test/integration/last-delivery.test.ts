/**
 * A task taken over from a dead worker whose next delivery is its last before maxDeliveries runs
 * alone: the worker waits for what runs to end, starts it, and starts nothing else until it ends.
 * A task that only shared workers with one that kills them (and died with it each time) then runs
 * to its end instead of failing as poison along with it.
 */
import t from 'tap'
import { defineTask } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { startTasks, type StartEntry } from '../../src/redis/commands.js'
import { CONSUMER_GROUP, storedKey } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import type { StreamEntry } from '../../src/redis/stream.js'
import { closeAdmin, makeShadow, waitFor } from '../helpers/shadow.js'
import { gate } from '../helpers/engine-workers.js'
import { workerParts } from '../helpers/worker-parts.js'

t.teardown(closeAdmin)

/** A task `name` that notes in `events` when it starts and ends, and runs until its gate opens. */
function gatedTask(name: string, events: string[]) {
  const taskGate = gate()
  const task = defineTask({
    name,
    run: async () => {
      events.push(`${name} started`)
      await taskGate.promise
      events.push(`${name} ended`)
    },
  })
  return { task, gate: taskGate }
}

t.test('the last delivery before maxDeliveries runs alone on its worker', async (t) => {
  const shadow = makeShadow(t)
  const { redis, keys } = shadowContext(shadow)
  const events: string[] = []
  const { task: slow, gate: slowGate } = gatedTask('slow', events)
  const { task: last, gate: lastGate } = gatedTask('last', events)
  await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM')
  // a dead worker held `last`, delivered four times already (maxDeliveries is 5)
  await shadow.add(last, { key: 'last' })({})
  const [held] = (await startTasks(redis, keys, 'ghost', '', shadow.eventsLimit, workerLimits([], 30_000), {
    mode: 'read',
    count: 1,
    tasks: ['last'],
  })) as StartEntry[]
  await redis.hset(keys.task(storedKey('last')), 'deliveries', '4')

  const parts = workerParts(t, shadow, [slow, last], { name: 'w', concurrency: 3 })
  // this worker runs `slow`, in one of its three slots
  await shadow.add(slow, { key: 'slow' })({})
  t.equal(parts.slots.tryAcquire(1), 1)
  await parts.starter.startNew(1, () => undefined)
  await waitFor(() => events.includes('slow started'), 10_000, 'slow to start')

  // it takes `last` over
  const claimed = (await redis.xclaim(keys.stream, CONSUMER_GROUP, 'w', 0, held!.id)) as StreamEntry[]
  t.equal(claimed.length, 1, 'the dead worker’s message is taken over')
  const reclaiming = parts.starter.startReclaimed(claimed)
  await waitFor(() => parts.slots.free === 0, 10_000, 'the worker to keep its slots for the last delivery')
  t.notOk(events.includes('last started'), 'not while another task runs')
  t.equal(parts.slots.tryAcquire(1), 0, 'and nothing new starts meanwhile, although two slots are idle')

  slowGate.open()
  await waitFor(() => events.includes('last started'), 10_000, 'last to start')
  t.same(events, ['slow started', 'slow ended', 'last started'], 'it starts once the worker is empty')
  t.equal(parts.slots.tryAcquire(1), 0, 'alone: nothing else starts while it runs')
  lastGate.open()
  await reclaiming
  await waitFor(async () => (await shadow.get('last'))?.state === 'completed', 10_000, 'last to complete')
  t.equal(parts.slots.free, 3, 'every slot free again')
})
