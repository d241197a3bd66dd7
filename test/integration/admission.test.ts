/**
 * Admission: the worker's slots are a counting semaphore whose waiters never replace each other.
 */
import t from 'tap'
import { defineTask } from '../../src/index.js'
import { closeAdmin, makeShadow, waitFor } from '../helpers/shadow.js'
import { gate } from '../helpers/engine-workers.js'
import { workerParts } from '../helpers/worker-parts.js'

t.teardown(closeAdmin)

t.test("a drain waiting for running tasks does not take the read loop's wake-up: the next task starts when the slot frees", async (t) => {
  const shadow = makeShadow(t)
  const hold = gate()
  const ran: string[] = []
  const job = defineTask({
    name: 'job',
    async run(_params, ctx) {
      ran.push(ctx.key)
      if (ctx.key === 'first') await hold.promise
    },
  })
  const parts = workerParts(t, shadow, [job], { name: 'two-waiters', concurrency: 1 })
  await parts.readLoop.connect()
  await shadow.add(job, { key: 'first' })({})
  const loop = parts.readLoop.run(false)
  await waitFor(() => ran.includes('first'), 5000, 'first running')
  await shadow.add(job, { key: 'second' })({})
  // the read loop waits for the one slot; a drain now waits for the running task too
  const drained = parts.runner.drain(10_000)
  hold.open()
  await drained
  await waitFor(() => ran.includes('second'), 5000, 'the second task to start once the slot is free')
  t.same(ran, ['first', 'second'])
  await waitFor(async () => (await shadow.get('second'))?.state === 'completed', 5000, 'the second task to complete')
  parts.slots.close()
  parts.readLoop.stop()
  parts.readLoop.disconnect()
  await loop
  await parts.outcomes.close(1000)
})
