import t from 'tap'
import { TEST_URL, closeAdmin, makeShadow, waitFor } from '../helpers/shadow.js'
import { fixtureLog, readNotes, startWorker, waitForDist, type WorkerProcess } from '../fixtures/chaos/worker-process.js'

t.setTimeout(240_000)
t.teardown(closeAdmin)

// A task that SIGKILLs its worker each time it runs is not redelivered forever: after
// maxDeliveries (5, the default of `shadows worker`) it ends failed, and the task added with it runs.
t.test('a task that kills its worker every time ends failed after maxDeliveries; the task added alongside completes', async (t) => {
  await waitForDist()
  const shadow = makeShadow(t)
  const log = fixtureLog(t)
  // both queued before any worker starts: the first worker reads them together
  await shadow.add('suicide', { key: 'poison' })({})
  await shadow.add('fine', { key: 'bystander' })({})

  const workers: WorkerProcess[] = []
  const finished = async () => {
    const [poison, bystander] = await Promise.all([shadow.get('poison'), shadow.get('bystander')])
    return poison?.state === 'failed' && (bystander?.state === 'completed' || bystander?.state === 'failed')
  }
  // relaunch a worker each time the poison task kills one, until it is given up (bounded)
  for (let launch = 0; launch < 12 && !(await finished()); launch++) {
    const worker = startWorker(t, { url: TEST_URL, shadow: shadow.name, log, redeliveryTimeout: 300, concurrency: 10 })
    workers.push(worker)
    let done = false
    await Promise.race([
      worker.exited,
      waitFor(async () => done || (await finished()), 60_000, 'the poison task to fail or the worker to die').catch(() => undefined),
    ])
    done = true
  }

  const poison = await shadow.get('poison')
  t.equal(poison?.state, 'failed', 'the poison task ended failed')
  t.equal(poison?.error?.type, 'PoisonTaskError')
  t.match(poison?.error?.message, /maxDeliveries/, 'the error says it hit maxDeliveries')
  t.match(poison?.error?.message, /maxDeliveries=5/)
  const deaths = readNotes(log).filter((n) => n.what === 'die')
  t.equal(deaths.length, 5, 'it ran (and killed its worker) exactly maxDeliveries times')
  t.equal(new Set(deaths.map((d) => d.pid)).size, 5, 'each time in a different worker process')
  const killed = await Promise.all(workers.slice(0, -1).map((w) => w.exited))
  t.same(
    killed.map((e) => e.signal),
    killed.map(() => 'SIGKILL'),
    'every worker but the last was killed by the task',
  )

  const last = workers.at(-1) as WorkerProcess
  t.ok(last.alive, 'the last worker survives: it gave up the task instead of running it')
  await waitFor(
    async () => (await shadow.get('bystander'))?.state !== 'queued' && (await shadow.get('bystander'))?.state !== 'running',
    30_000,
    'the bystander to finish',
  ).catch(() => undefined)
  const bystander = await shadow.get('bystander')
  t.equal(bystander?.state, 'completed', `the task added alongside completed (got ${bystander?.state}: ${JSON.stringify(bystander?.error)})`)
  t.equal(bystander?.result, 'fine')
  t.ok(
    readNotes(log).some((n) => n.what === 'fine' && n.key === 'bystander'),
    'the function of the task added alongside was called',
  )

  last.process.kill('SIGTERM')
  t.same(await last.exited, { code: 0, signal: null }, 'the surviving worker shuts down cleanly')
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 }, 'nothing left behind')
})
