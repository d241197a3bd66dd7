// punctuality: N tasks scheduled over a span of seconds, a worker at concurrency 50 already
// running; lateness = start − when, measured inside the task with a sub-millisecond clock. BullMQ
// gets delayed jobs whose due time is exactly the same (timestamp + delay = when).
import {
  BULL_JOB_OPTIONS,
  BULL_WORKER_OPTIONS,
  benchLogger,
  bullConnection,
  deferred,
  deleteBullQueue,
  deleteShadowKeys,
  lib,
  noopTask,
  now,
  percentile,
  round,
  shadowsFill,
  sleep,
  within,
} from '../lib/common.mjs'

const CONCURRENCY = 50

export const scenario = {
  name: 'punctuality',
  title: 'scheduled tasks: start − when (p50/p95/p99/max)',
  notes: [
    `punctuality: worker concurrency ${CONCURRENCY}, started before the tasks are added; the first task is due a lead time after the adds begin; BullMQ: delayed jobs.`,
  ],
  cases({ quick, n }) {
    return [{ id: 'spread', systems: ['shadows', 'bullmq'], params: quick ? { n: n ?? 500, span: 1000, lead: 300 } : { n: n ?? 2000, span: 5000, lead: 1000 } }]
  },
  targets: {
    'lateness p99': [{ ref: 'bullmq', kind: 'value<=', value: 5, text: '≤ 5 ms' }],
  },
  async measure({ system, params, url, name }) {
    const run = system === 'shadows' ? punctualShadows : punctualBull
    const lateness = await within(run({ ...params, url, name }), params.lead + params.span + 60_000, `punctuality ${system}`)
    lateness.sort((a, b) => a - b)
    const common = { unit: 'ms', n: params.n, spanMs: params.span }
    return [
      { figure: 'lateness p50', value: round(percentile(lateness, 50), 2), ...common },
      { figure: 'lateness p95', value: round(percentile(lateness, 95), 2), ...common },
      { figure: 'lateness p99', value: round(percentile(lateness, 99), 2), ...common },
      { figure: 'lateness max', value: round(lateness[lateness.length - 1], 2), ...common },
    ]
  },
}

/** Due times: `n` tasks spread evenly over `span` ms, starting `lead` ms from now (whole ms). */
function dueTimes({ n, span, lead }) {
  const first = Math.ceil(Date.now() + lead)
  return Array.from({ length: n }, (_, i) => first + Math.floor((i * span) / n))
}

async function punctualShadows({ n, span, lead, url, name }) {
  const { Shadow, Worker } = await lib()
  const logger = benchLogger()
  const lateness = []
  const allRan = deferred()
  const noop = await noopTask((ctx) => {
    lateness.push(now() - ctx.when.getTime())
    if (lateness.length === n) allRan.resolve()
  })
  const shadow = new Shadow({ name, url, logger })
  const worker = new Worker(shadow, { tasks: [noop], concurrency: CONCURRENCY, logger })
  try {
    const running = worker.run()
    running.catch(allRan.reject)
    await sleep(200)
    const due = dueTimes({ n, span, lead })
    await shadowsFill(shadow, n, (i) => ({ task: noop, params: {}, when: new Date(due[i]) }))
    await allRan.promise
    return lateness
  } finally {
    await worker.close()
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

async function punctualBull({ n, span, lead, url, name }) {
  const { Queue, Worker } = await import('bullmq')
  const connection = bullConnection(url)
  const queue = new Queue(name, { connection })
  const lateness = []
  const allRan = deferred()
  const worker = new Worker(
    name,
    async (job) => {
      lateness.push(now() - job.data.when)
      if (lateness.length === n) allRan.resolve()
    },
    { connection, concurrency: CONCURRENCY, ...BULL_WORKER_OPTIONS },
  )
  worker.on('error', (err) => allRan.reject(err))
  try {
    await worker.waitUntilReady()
    await sleep(200)
    const due = dueTimes({ n, span, lead })
    for (let i = 0; i < n; i += 1000) {
      const jobs = []
      for (let j = i; j < Math.min(n, i + 1000); j++) {
        const timestamp = Date.now()
        jobs.push({ name: 'noop', data: { when: due[j] }, opts: { ...BULL_JOB_OPTIONS, timestamp, delay: due[j] - timestamp } })
      }
      await queue.addBulk(jobs)
    }
    await allRan.promise
    return lateness
  } finally {
    await worker.close()
    await deleteBullQueue(queue, url, name)
  }
}
