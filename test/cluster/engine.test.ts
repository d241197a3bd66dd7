/**
 * The engine on a three-master Redis Cluster, through the cluster client (`redis+cluster://`):
 * add (immediate and scheduled), idempotent keys, replace, cancel, strikes, redelivery after a
 * worker was killed, snapshot and workers(), pushes through pub/sub, and several shadows spread
 * over the masters. One cluster serves the whole file; every test checks, node by node, that no
 * finished task record was left without a TTL, then deletes its shadows' keys.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { Cluster, Redis } from 'ioredis'
import { Shadow, defineTask, type ShadowOptions } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { startCluster, type TestCluster } from '../helpers/cluster.js'
import { spawnChildWorker } from '../helpers/engine-workers.js'
import { abortedOr, gate, rejectsWith, runInBackground } from '../helpers/engine-state.js'
import { makeWorker, testLogger, uniqueName, waitFor, type TestLike } from '../helpers/shadow.js'

const cluster: TestCluster = await startCluster()
t.teardown(() => cluster.stop())

/** Every key of shadow `name`, per master port (a cluster SCAN only sees one node's keys). */
async function keysByNode(name: string): Promise<Map<number, string[]>> {
  const found = new Map<number, string[]>()
  for (const port of cluster.ports) {
    const node = cluster.node(port)
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', `{${name}}:*`, 'COUNT', 1000)
      keys.push(...batch)
      cursor = next
    } while (cursor !== '0')
    if (keys.length > 0) found.set(port, keys)
  }
  return found
}

/** Task records of finished tasks without a TTL, on any master. */
async function leakedKeys(name: string): Promise<string[]> {
  const leaked: string[] = []
  for (const [port, keys] of await keysByNode(name)) {
    const node = cluster.node(port)
    for (const key of keys) {
      if (!key.includes('}:task:')) continue
      const state = await node.hget(key, 'state')
      const live = state === 'scheduled' || state === 'queued' || state === 'running'
      if (!live && (await node.pttl(key)) < 0) leaked.push(key)
    }
  }
  return leaked
}

/** A Shadow on the cluster; on teardown: the no-leak check on every master, then its keys deleted. */
function clusterShadow(t: TestLike, options: ShadowOptions = {}): Shadow {
  const shadow = new Shadow({ name: uniqueName('cluster'), url: cluster.url, logger: testLogger, ...options })
  t.teardown(async () => {
    const leaked = await leakedKeys(shadow.name)
    if (leaked.length > 0) t.fail(`finished task records left without a TTL: ${leaked.join(', ')}`)
    await shadow.close()
    for (const [port, keys] of await keysByNode(shadow.name)) await cluster.node(port).del(...keys)
  })
  return shadow
}

/** A task `job` with params { v } that records each run and returns `v`. */
function recorder() {
  const runs: { key: string; v: number; shadow: string }[] = []
  const task = defineTask({
    name: 'job',
    params: Type.Object({ v: Type.Number() }),
    async run({ v }, ctx) {
      runs.push({ key: ctx.key, v, shadow: ctx.shadow.name })
      return v
    },
  })
  return { task, runs }
}

t.test('the URL selects the cluster client, and all keys of a shadow live on the master of its slot', async (t) => {
  const { task } = recorder()
  const shadow = clusterShadow(t)
  t.ok(shadowContext(shadow).redis instanceof Cluster, 'redis+cluster:// gives an ioredis Cluster')
  await shadow.add(task, { key: 'now' })({ v: 1 })
  await shadow.add(task, { key: 'later', delay: 60_000 })({ v: 2 })
  await shadow.strike({ task: 'other' })
  const owner = await cluster.ownerOf(shadowContext(shadow).keys.stream)
  const byNode = await keysByNode(shadow.name)
  t.same([...byNode.keys()], [owner], 'every key is on one master: the one serving the {name} slot')
  t.same(
    [...(byNode.get(owner) ?? [])].sort(),
    [
      shadowContext(shadow).keys.eventLog,
      shadowContext(shadow).keys.eventCount,
      shadowContext(shadow).keys.schedule,
      shadowContext(shadow).keys.stream,
      shadowContext(shadow).keys.strikes,
      shadowContext(shadow).keys.strikesVersion,
      shadowContext(shadow).keys.strikesChange,
      shadowContext(shadow).keys.task('later'),
      shadowContext(shadow).keys.task('now'),
    ].sort(),
  )
  for (const key of byNode.get(owner) ?? []) t.ok(key.startsWith(`{${shadow.name}}:`), `${key} carries the hash tag`)
  await shadow.restore({ task: 'other' })
  await shadow.cancel('later')
  await shadow.cancel('now')
})

t.test('add: an immediate task runs; a scheduled one runs after its due time', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  const now = await shadow.add(task, { key: 'now' })({ v: 1 })
  t.equal(now.state, 'queued')
  const later = await shadow.add(task, { key: 'later', delay: 400 })({ v: 2 })
  t.equal(later.state, 'scheduled')
  t.equal((await shadow.get('later'))?.state, 'scheduled')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs.map((r) => r.v).sort(), [1, 2], 'both ran, once each')
  const info = await shadow.get('later')
  t.equal(info?.state, 'completed')
  t.equal(info?.result, 2)
  t.ok((info?.startedAt?.getTime() ?? 0) >= later.when.getTime(), 'the scheduled task started at or after its due time')
  t.equal((await shadow.get('now'))?.state, 'completed')
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 })
})

t.test('a scheduled task added while a worker idles is pushed to it (PUBLISH reaches every node)', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  // a plain subscriber on each master: a PUBLISH from a script must reach all of them
  const heard = new Map<number, string[]>()
  const subscribers: Redis[] = []
  t.teardown(() => subscribers.forEach((s) => s.disconnect()))
  for (const port of cluster.ports) {
    const subscriber = new Redis({ host: '127.0.0.1', port })
    subscribers.push(subscriber)
    heard.set(port, [])
    subscriber.on('message', (_channel: string, message: string) => heard.get(port)?.push(message))
    await subscriber.subscribe(shadowContext(shadow).keys.events)
  }
  const worker = makeWorker(t, shadow, [task])
  const stop = runInBackground(worker)
  await waitFor(async () => (await shadow.workers()).length === 1, 5000, 'the worker to start')
  const later = await shadow.add(task, { key: 'pushed', delay: 300 })({ v: 7 })
  await waitFor(async () => (await shadow.get('pushed'))?.state === 'completed', 10_000, 'the pushed task to complete')
  await stop()
  t.same(
    runs.map((r) => r.v),
    [7],
  )
  for (const port of cluster.ports) {
    t.ok(heard.get(port)?.includes(`due ${later.when.getTime()}`), `the subscriber on ${port} heard the wake-up`)
  }
})

t.test('idempotent add: the same key again is a duplicate and runs once', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  const first = await shadow.add(task, { key: 'once' })({ v: 1 })
  t.equal(first.duplicate, false)
  const second = await shadow.add(task, { key: 'once' })({ v: 2 })
  t.equal(second.duplicate, true)
  t.equal(second.state, 'queued')
  t.same(second.params, { v: 1 }, 'the existing params come back')
  const scheduledFirst = await shadow.add(task, { key: 'sched', delay: 60_000 })({ v: 3 })
  const scheduledAgain = await shadow.add(task, { key: 'sched' })({ v: 4 })
  t.equal(scheduledAgain.duplicate, true)
  t.equal(scheduledAgain.state, 'scheduled')
  t.equal(scheduledAgain.when.getTime(), scheduledFirst.when.getTime())
  const batch = await shadow.addBatch([
    { task, key: 'once', params: { v: 5 } },
    { task, key: 'fresh', params: { v: 6 } },
  ])
  t.same(
    batch.map((r) => r.ok && r.execution.duplicate),
    [true, false],
    'a batch is judged item by item',
  )
  await shadow.cancel('sched')
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs.map((r) => r.v).sort(), [1, 6], 'each key ran once, with its first params')
})

t.test('replace: five rapid replaces run once, with the last params', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  await shadow.add(task, { key: 'rapid', delay: 60_000 })({ v: 0 })
  const replies = []
  for (let v = 1; v <= 5; v++) replies.push(await shadow.replace(task, { key: 'rapid' })({ v }))
  t.same(
    replies.map((r) => [r.replaced, r.state]),
    Array.from({ length: 5 }, () => [true, 'queued']),
  )
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(
    runs.map((r) => r.v),
    [5],
    'ran once, with the last params',
  )
  const info = await shadow.get('rapid')
  t.equal(info?.state, 'completed')
  t.equal(info?.result, 5)
})

t.test('debounce and throttle: the throttle window lives beside the shadow on its master, with a TTL', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  await shadow.add(task, { key: 'd', debounce: 60_000 })({ v: 1 })
  t.equal((await shadow.add(task, { key: 'd', debounce: 10 })({ v: 2 })).debounced, true, 'a debounced add moved the task')
  t.equal((await shadow.add(task, { key: 't', throttle: 60_000 })({ v: 3 })).duplicate, false)
  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(runs.map((r) => r.v).sort(), [2, 3], 'each ran once; the debounced one with its last params')
  t.match(await shadow.add(task, { key: 't' })({ v: 4 }), { duplicate: true, state: 'completed' }, 'finished, within the window: a duplicate')
  const window = shadowContext(shadow).keys.throttle('t')
  const owner = await cluster.ownerOf(shadowContext(shadow).keys.stream)
  t.ok((await keysByNode(shadow.name)).get(owner)?.includes(window), 'the window is on the master of the {name} slot')
  t.ok((await cluster.node(owner).pttl(window)) > 0, 'with a TTL')
})

t.test('cancel: scheduled and queued tasks never run; a running one is aborted', async (t) => {
  const { task, runs } = recorder()
  const release = gate(t)
  const seen: string[] = []
  const long = defineTask({
    name: 'long',
    async run(_params, ctx) {
      const how = await abortedOr(ctx.signal, release.promise)
      seen.push(how)
      if (how === 'aborted') throw ctx.signal.reason
    },
  })
  const shadow = clusterShadow(t)
  await shadow.add(task, { key: 'scheduled', delay: 60_000 })({ v: 1 })
  await shadow.add(task, { key: 'queued' })({ v: 2 })
  t.has(await shadow.cancel('scheduled'), { key: 'scheduled', state: 'cancelled', previous: 'scheduled' })
  t.has(await shadow.cancel('queued'), { key: 'queued', state: 'cancelled', previous: 'queued' })

  await shadow.add(long, { key: 'running' })({})
  const worker = makeWorker(t, shadow, [task, long])
  const stop = runInBackground(worker)
  await waitFor(async () => (await shadow.get('running'))?.state === 'running', 5000, 'the long task to start')
  t.has(await shadow.cancel('running'), { key: 'running', state: 'cancelled', previous: 'running' })
  await waitFor(() => seen.length === 1, 5000, 'the running task to see the cancellation')
  t.same(seen, ['aborted'], 'its signal fired (the cancel was pushed through pub/sub)')
  await waitFor(async () => worker.running === 0, 5000, 'the slot to be freed')
  await stop()
  t.same(runs, [], 'neither the scheduled nor the queued task ran')
  for (const key of ['scheduled', 'queued', 'running']) {
    const info = await shadow.get(key)
    t.equal(info?.state, 'cancelled', `${key} ends cancelled`)
    t.ok(info?.finishedAt, `${key}: finishedAt set`)
  }
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 })
})

t.test('strikes: refused at add, skipped at execution, and restore lets tasks run again', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  await shadow.add(task, { key: 'queued-7' })({ v: 7 })
  await shadow.add(task, { key: 'scheduled-7', delay: 300 })({ v: 7 })
  await shadow.add(task, { key: 'queued-8' })({ v: 8 })
  const { strike, created } = await shadow.strike({ parameter: 'v', value: 7 })
  t.equal(created, true)
  t.same(
    (await shadow.strikes()).map((s) => s.id),
    [strike.id],
  )
  await rejectsWith(t, () => shadow.add(task, { key: 'refused' })({ v: 7 }), 'SHADOWS_ERR_STRUCK', 'add of a struck value')
  t.equal(await shadow.get('refused'), undefined, 'nothing stored for the refused task')

  const worker = makeWorker(t, shadow, [task])
  await worker.runUntilFinished()
  t.same(
    runs.map((r) => r.v),
    [8],
    'only the task not struck ran',
  )
  for (const key of ['queued-7', 'scheduled-7']) {
    const info = await shadow.get(key)
    t.equal(info?.state, 'struck', `${key} ends struck`)
    t.equal(info?.error?.type, 'StruckError')
  }

  t.same(await shadow.restore(strike.id), strike, 'restore returns the strike')
  t.same(await shadow.strikes(), [])
  const after = await shadow.add(task, { key: 'after' })({ v: 7 })
  t.equal(after.state, 'queued', 'accepted again after restore')
  await worker.runUntilFinished()
  t.same(
    runs.map((r) => r.v),
    [8, 7],
  )
  t.equal((await shadow.get('after'))?.state, 'completed')
  t.equal((await shadow.get('queued-7'))?.state, 'struck', 'a skipped task stays skipped')
})

t.test('a strike made through another client is pushed to a running worker, and so is its restore', async (t) => {
  const { task, runs } = recorder()
  const shadow = clusterShadow(t)
  const other = new Shadow({ name: shadow.name, url: cluster.url, logger: testLogger })
  t.teardown(() => other.close())
  const worker = makeWorker(t, shadow, [task])
  const stop = runInBackground(worker)
  await waitFor(async () => (await shadow.workers()).length === 1, 5000, 'the worker to start')
  await shadowContext(shadow).strikes.current()
  const { strike } = await other.strike({ task: 'job' })
  // the worker's client reloads its copy of the rules when the events channel says they changed
  await waitFor(async () => (await shadowContext(shadow).strikes.current()).rules.length === 1, 5000, "the worker's client to see the strike")
  await rejectsWith(t, () => shadow.add(task, { key: 'refused' })({ v: 1 }), 'SHADOWS_ERR_STRUCK', 'refused with the pushed rule')
  await other.restore(strike.id)
  await waitFor(async () => (await shadowContext(shadow).strikes.current()).rules.length === 0, 5000, "the worker's client to see the restore")
  await shadow.add(task, { key: 'accepted' })({ v: 2 })
  await waitFor(async () => (await shadow.get('accepted'))?.state === 'completed', 5000, 'the task to run')
  await stop()
  t.same(
    runs.map((r) => r.v),
    [2],
  )
})

t.test('redelivery: a task whose worker was killed (kill -9) runs on another worker', async (t) => {
  const shadow = clusterShadow(t)
  const child = await spawnChildWorker(t, { url: cluster.url, shadow: shadow.name, name: 'doomed', redeliveryTimeout: 500, heartbeatInterval: 200 })
  await child.waitForLine(/^ready$/, 20_000)
  t.same(
    (await shadow.workers()).map((w) => w.name),
    ['doomed'],
    'the child worker (on the cluster client) is listed',
  )
  await shadow.add('long', { key: 'survivor' })({})
  t.equal(await child.waitForLine(/^started survivor /), 'started survivor 1', 'the child started the task')
  t.equal((await shadow.get('survivor'))?.worker, 'doomed')
  await child.kill()
  t.equal(child.process.signalCode, 'SIGKILL')
  t.equal((await shadow.get('survivor'))?.state, 'running', 'nothing acknowledged it')

  const runs: string[] = []
  const long = defineTask({
    name: 'long',
    async run(_params, ctx) {
      runs.push(ctx.worker.name)
      return 'rescued'
    },
  })
  const rescuer = makeWorker(t, shadow, [long], { name: 'rescuer', redeliveryTimeout: 500 })
  const stop = runInBackground(rescuer)
  await waitFor(async () => (await shadow.get('survivor'))?.state === 'completed', 15_000, 'the task to complete on the rescuer')
  await waitFor(async () => (await shadow.snapshot()).counts.running === 0, 5000, 'nothing pending')
  await stop()
  const info = await shadow.get('survivor')
  t.equal(info?.worker, 'rescuer')
  t.equal(info?.result, 'rescued')
  t.equal(info?.attempt, 1, 'redelivery does not use up an attempt')
  t.same(runs, ['rescuer'])
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 })
})

t.test('snapshot and workers()', async (t) => {
  const hold = gate(t)
  const slow = defineTask({
    name: 'slow',
    async run() {
      await hold.promise
      return 'done'
    },
  })
  const shadow = clusterShadow(t)
  t.same(await shadow.workers(), [], 'no worker yet')
  const worker = makeWorker(t, shadow, [slow], { name: 'snap', concurrency: 1, heartbeatInterval: 200 })
  const stop = runInBackground(worker)
  await waitFor(async () => (await shadow.workers()).length === 1, 5000, 'the worker to be listed')
  const [listed] = await shadow.workers()
  t.equal(listed?.name, 'snap')
  t.same(listed?.tasks, ['slow'])
  t.equal(listed?.concurrency, 1)

  await shadow.add(slow, { key: 'first' })({})
  await waitFor(async () => (await shadow.get('first'))?.state === 'running', 5000, 'the first task to run')
  await shadow.add(slow, { key: 'second' })({})
  const due = new Date(Date.now() + 60_000)
  await shadow.add(slow, { key: 'third', when: due })({})
  const snapshot = await shadow.snapshot()
  t.same(snapshot.counts, { scheduled: 1, queued: 1, running: 1 })
  t.same(snapshot.byTask, { slow: { scheduled: 1, queued: 1, running: 1 } })
  t.same(
    snapshot.running.map((r) => [r.key, r.task, r.worker]),
    [['first', 'slow', 'snap']],
  )
  t.ok(snapshot.running[0]?.startedAt instanceof Date, 'a running task has startedAt')
  t.same(
    snapshot.scheduled.map((s) => [s.key, s.task, s.when.getTime()]),
    [['third', 'slow', due.getTime()]],
  )
  await waitFor(async () => (await shadow.workers())[0]?.running === 1, 5000, 'the heartbeat to show 1 running')

  await shadow.cancel('third')
  hold.open()
  await waitFor(async () => (await shadow.get('second'))?.state === 'completed', 5000, 'both tasks to complete')
  await stop()
  t.same(await shadow.workers(), [], 'a closed worker leaves the list')
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 })
})

t.test('six shadows over the masters each run their own tasks', async (t) => {
  // pick names so that every master serves two of the shadows
  const names: string[] = []
  const perOwner = new Map<number, number>()
  while (names.length < 6) {
    const name = uniqueName('cluster')
    const owner = await cluster.ownerOf(`{${name}}:stream`)
    if ((perOwner.get(owner) ?? 0) >= 2) continue
    perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1)
    names.push(name)
  }
  t.equal(perOwner.size, 3, 'the shadows are spread over all three masters')

  const { task, runs } = recorder()
  const shadows = names.map((name) => clusterShadow(t, { name }))
  for (const [i, shadow] of shadows.entries()) {
    // a pipeline of scripts is each client's first command
    const added = await shadow.addBatch([0, 1, 2, 3, 4].map((j) => ({ task, key: `now-${j}`, params: { v: i * 10 + j } })))
    t.ok(
      added.every((r) => r.ok && r.execution.state === 'queued'),
      `${shadow.name}: a batch of five queued`,
    )
  }
  // every master forgets its scripts, as after a restart: scripts and pipelines of scripts still run
  for (const port of cluster.ports) await cluster.node(port).script('FLUSH')
  for (const [i, shadow] of shadows.entries()) {
    const [later] = await shadow.addBatch([{ task, key: 'later', delay: 200, params: { v: i * 10 + 9 } }])
    t.ok(later?.ok && later.execution.state === 'scheduled', `${shadow.name}: scheduled after the script flush`)
  }
  for (const shadow of shadows) {
    t.same((await shadow.snapshot()).counts, { scheduled: 1, queued: 5, running: 0 }, `${shadow.name} sees only its own tasks`)
  }
  const workers = shadows.map((shadow, i) => makeWorker(t, shadow, [task], { name: `w${i}`, concurrency: 3 }))
  await Promise.all(workers.map((worker) => worker.runUntilFinished()))
  for (const [i, shadow] of shadows.entries()) {
    const mine = runs.filter((r) => r.shadow === shadow.name)
    t.same(
      mine.map((r) => r.v).sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 9].map((j) => i * 10 + j),
      `${shadow.name} ran exactly its own six tasks`,
    )
    t.equal((await shadow.get('later'))?.worker, `w${i}`, 'on its own worker')
    const byNode = await keysByNode(shadow.name)
    t.same([...byNode.keys()], [await cluster.ownerOf(shadowContext(shadow).keys.stream)], `${shadow.name}: keys on one master only`)
  }
  t.equal(runs.length, 36, 'no task ran twice or in another shadow')
})

t.test('history, retry, results and events on a cluster: every key the scripts build lives in the slot of {name}', async (t) => {
  let failing = true
  const flaky = defineTask({
    name: 'flaky',
    async run() {
      if (failing) throw new Error('down')
      return 'up'
    },
  })
  const shadow = clusterShadow(t)
  const events = shadow.events({ key: 'f' })
  const stop = runInBackground(makeWorker(t, shadow, [flaky]))
  t.teardown(stop)
  await shadow.add(flaky, { key: 'f' })({})
  await rejectsWith(t, () => shadow.result('f', { timeout: 30_000 }), 'SHADOWS_ERR_TASK_FAILED', 'the result of a failed task')
  const page = await shadow.list({ state: 'failed' })
  t.same(
    page.tasks.map((task) => task.key),
    ['f'],
    'the failed task is listed',
  )
  failing = false
  t.match(await shadow.retry('f'), { key: 'f', state: 'queued' })
  t.equal(await shadow.result('f', { timeout: 30_000 }), 'up', 'retried, it completes')
  const seen: string[] = []
  for await (const event of events) {
    seen.push(event.type)
    if (seen.length === 6) break
  }
  t.same(seen, ['added', 'started', 'failed', 'retrying', 'started', 'completed'], 'every transition, in order')
  const owner = await cluster.ownerOf(shadowContext(shadow).keys.stream)
  const byNode = await keysByNode(shadow.name)
  t.same([...byNode.keys()], [owner], 'history indexes and the events log are on the master of the {name} slot')
  t.ok(byNode.get(owner)?.includes(shadowContext(shadow).keys.history('completed')), 'the history of completed tasks is among them')
})
