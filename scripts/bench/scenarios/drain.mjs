// drain: N no-op tasks enqueued first, then drained by one worker at concurrency 1, 10 and 100.
// The clock starts when the (already connected) worker is told to run and stops when the last task
// is recorded: every message acknowledged (shadows, bare) or every job's `completed` event, which
// BullMQ emits after moving the job to finished.
import {
  BULL_JOB_OPTIONS,
  BULL_WORKER_OPTIONS,
  benchLogger,
  beeFill,
  beeQueue,
  bullConnection,
  bullFill,
  deleteBeeQueue,
  deferred,
  deleteBullQueue,
  deleteShadowKeys,
  lib,
  noopTask,
  now,
  plainRedis,
  round,
  shadowsFill,
  waitAcknowledged,
  within,
} from '../lib/common.mjs'

const LEVELS = [1, 10, 100]

export const scenario = {
  name: 'drain',
  title: 'enqueue then drain no-op tasks, one worker process',
  notes: [
    'drain: BullMQ jobs use removeOnComplete/removeOnFail: true; shadows keeps each finished record 15 min (default executionTtl) with a TTL.',
    'drain: Bee-Queue (c=100 only) runs with removeOnSuccess, storeJobs and events off: its fastest settings.',
    'drain: the bare ceiling reads COUNT=concurrency with XREADGROUP, awaits the no-ops, then XACKs the batch.',
    'drain: the full run drains 50,000 tasks at c=10 and c=100 but 10,000 at c=1 (a rate; 50,000 at c=1 would take most of the 15-minute budget).',
  ],
  cases({ quick, n }) {
    const sizes = quick ? { 1: 1_000, 10: 3_000, 100: 10_000 } : { 1: 10_000, 10: 50_000, 100: 50_000 }
    return LEVELS.map((concurrency) => ({
      id: `c${concurrency}`,
      systems: concurrency === 100 ? ['shadows', 'bullmq', 'beequeue', 'bare'] : ['shadows', 'bullmq'],
      params: { n: n ?? sizes[concurrency], concurrency },
    }))
  },
  targets: {
    'throughput c=100': [
      { ref: 'bullmq', kind: 'ratio>=', value: 3, text: '≥ 3× BullMQ' },
      { ref: 'beequeue', kind: 'ratio>=', value: 2, text: '≥ 2× Bee-Queue' },
      { ref: 'bare', kind: null, text: 'ceiling (report)' },
    ],
  },
  async measure({ system, params, url, name }) {
    const run = { shadows: drainShadows, bullmq: drainBull, beequeue: drainBee, bare: drainBare }[system]
    const { elapsed } = await within(run({ ...params, url, name }), 600_000, `drain ${system}`)
    return [
      {
        figure: `throughput c=${params.concurrency}`,
        value: round(params.n / (elapsed / 1000)),
        unit: 'tasks/s',
        n: params.n,
        seconds: round(elapsed / 1000, 3),
      },
    ]
  },
}

/**
 * Drains `n` no-op tasks; `shadowOptions` go to the Shadow (e.g. `{ historyLimit: 0, eventsLimit: 0 }`).
 * `makeTask(onRun)` gives the task instead of the plain no-op (it must call `onRun` each run), and
 * `makeParams(i)` the params of the i-th.
 */
export async function drainShadows({ n, concurrency, url, name, shadowOptions = {}, makeTask = noopTask, makeParams = () => ({}) }) {
  const { Shadow, Worker } = await lib()
  const logger = benchLogger()
  const allRan = deferred()
  let ran = 0
  const noop = await makeTask(() => {
    if (++ran === n) allRan.resolve()
  })
  const shadow = new Shadow({ ...shadowOptions, name, url, logger })
  try {
    let i = 0
    await shadowsFill(shadow, n, () => ({ task: noop, params: makeParams(i++) }))
    const worker = new Worker(shadow, { tasks: [noop], concurrency, logger })
    const started = now()
    const running = worker.run()
    running.catch(allRan.reject)
    await allRan.promise
    await waitAcknowledged(shadow.redis, shadow.keys.stream)
    const elapsed = now() - started
    await worker.close()
    await running
    return { elapsed }
  } finally {
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

export async function drainBull({ n, concurrency, url, name }) {
  const { Queue, Worker } = await import('bullmq')
  const connection = bullConnection(url)
  const queue = new Queue(name, { connection })
  try {
    await bullFill(queue, n, () => ({ name: 'noop', data: {}, opts: BULL_JOB_OPTIONS }))
    const allDone = deferred()
    let done = 0
    const worker = new Worker(name, async () => undefined, { connection, concurrency, autorun: false, ...BULL_WORKER_OPTIONS })
    worker.on('completed', () => {
      if (++done === n) allDone.resolve()
    })
    worker.on('failed', (_job, err) => allDone.reject(err))
    worker.on('error', (err) => allDone.reject(err))
    await worker.waitUntilReady()
    const started = now()
    const running = worker.run()
    await allDone.promise
    const elapsed = now() - started
    await worker.close()
    await running
    return { elapsed }
  } finally {
    await deleteBullQueue(queue, url, name)
  }
}

export async function drainBee({ n, concurrency, url, name }) {
  const queue = await beeQueue(name, url, { worker: true })
  try {
    await beeFill(queue, n)
    const allDone = deferred()
    let done = 0
    queue.on('succeeded', () => {
      if (++done === n) allDone.resolve()
    })
    queue.on('failed', (_job, err) => allDone.reject(err))
    queue.on('error', (err) => allDone.reject(err))
    const started = now()
    queue.process(concurrency, async () => undefined)
    await allDone.promise
    return { elapsed: now() - started }
  } finally {
    await deleteBeeQueue(queue, url, name)
  }
}

export async function drainBare({ n, concurrency, url, name }) {
  const redis = plainRedis(url)
  const stream = `${name}:stream`
  try {
    for (let i = 0; i < n; i += 1000) {
      const pipeline = redis.pipeline()
      for (let j = i; j < Math.min(n, i + 1000); j++) pipeline.xadd(stream, '*', 'key', `k${j}`, 'gen', '1', 'task', 'noop')
      await pipeline.exec()
    }
    await redis.xgroup('CREATE', stream, 'g', '0')
    const started = now()
    let done = 0
    while (done < n) {
      const reply = await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', concurrency, 'BLOCK', 1000, 'STREAMS', stream, '>')
      const entries = reply?.[0]?.[1] ?? []
      if (entries.length === 0) continue
      await Promise.all(entries.map(async () => undefined))
      await redis.xack(stream, 'g', ...entries.map(([id]) => id))
      done += entries.length
    }
    return { elapsed: now() - started }
  } finally {
    await redis.del(stream)
    redis.disconnect()
  }
}
