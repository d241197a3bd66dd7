/**
 * `worker.health()`: the read loop counts as alive only while the worker runs (also with every
 * slot taken by a long task), Redis as reachable while it answers; and it resolves within its
 * timeout whatever Redis does.
 */
import t from 'tap'
import { Shadow, Worker, defineTask } from '../../src/index.js'
import { freePort } from '../../src/cli/private-redis.js'
import { closeAdmin, makeShadow, makeWorker, testLogger, uniqueName, waitFor } from '../helpers/shadow.js'

t.teardown(closeAdmin)

t.test('not alive before run(); alive while running, also with every slot taken; not alive from close() on', async (t) => {
  const shadow = makeShadow(t)
  let release: () => void = () => undefined
  let started = false
  const hold = defineTask({
    name: 'hold',
    async run() {
      started = true
      await new Promise<void>((resolve) => (release = resolve))
    },
  })
  const worker = makeWorker(t, shadow, [hold], { concurrency: 1 })

  await waitFor(async () => (await worker.health()).redis, 10_000, 'the connection to be ready')
  t.same(await worker.health(), { redis: true, readLoop: false, lastLoopAt: null }, 'before run(): Redis answers, no read loop yet')

  const running = worker.run()
  await waitFor(async () => (await worker.health()).readLoop, 10_000, 'the read loop to be alive')
  const alive = await worker.health()
  t.ok(alive.redis, 'redis: true')
  t.ok(alive.lastLoopAt instanceof Date, 'lastLoopAt: when the loop last made progress')

  await shadow.add(hold)({})
  await waitFor(() => started, 10_000, 'the task to take the only slot')
  t.ok((await worker.health()).readLoop, 'waiting for a slot to free is not being stuck')
  release()

  const closing = worker.close()
  t.notOk((await worker.health()).readLoop, 'closing: the read loop is not alive')
  await closing
  await running
  t.notOk((await worker.health()).readLoop, 'closed: not alive')
})

t.test('Redis unreachable: redis false, read loop not alive', async (t) => {
  const shadow = new Shadow({ url: `redis://127.0.0.1:${await freePort()}`, name: uniqueName(), logger: testLogger })
  const worker = new Worker(shadow, { tasks: [], logger: testLogger })
  const running = worker.run()
  t.teardown(async () => {
    await worker.close()
    await running
    await shadow.close()
  })
  t.same(await worker.health({ timeout: 200 }), { redis: false, readLoop: false, lastLoopAt: null })
})
