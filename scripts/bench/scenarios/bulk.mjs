// bulk enqueue: adding N immediate tasks through the library's batch add (addBatch, 1,000 per call,
// one call at a time) vs BullMQ's Queue.addBulk and Bee-Queue's saveAll (same chunks); also single awaited adds (one at a
// time) and 100 adds in flight. Nothing consumes the tasks; the keys are deleted afterwards.
import {
  BULL_JOB_OPTIONS,
  beeFill,
  beeQueue,
  bullConnection,
  bullFill,
  deleteBeeQueue,
  deleteBullQueue,
  deleteShadowKeys,
  benchLogger,
  lib,
  noopTask,
  now,
  round,
  shadowsFill,
  within,
} from '../lib/common.mjs'

const CHUNK = 1000
const IN_FLIGHT = 100

export const scenario = {
  name: 'bulk',
  title: 'enqueue: batch add vs addBulk, single awaited adds, 100 in flight',
  notes: [
    `bulk: batches of ${CHUNK} per call, one call at a time; shadows adds validate params against the task schema, BullMQ jobs carry removeOnComplete/removeOnFail.`,
  ],
  cases({ quick, n }) {
    const sizes = quick ? { batch: 5_000, single: 1_000, inflight: 5_000 } : { batch: 50_000, single: 10_000, inflight: 50_000 }
    return ['batch', 'single', 'inflight'].map((mode) => ({
      id: mode,
      systems: mode === 'batch' ? ['shadows', 'bullmq', 'beequeue'] : ['shadows', 'bullmq'],
      params: { mode, n: n ?? sizes[mode] },
    }))
  },
  targets: {
    [`batch add ×${CHUNK}`]: [
      { ref: 'bullmq', kind: 'ratio>=', value: 3, text: '≥ 3× BullMQ addBulk' },
      { ref: 'beequeue', kind: 'ratio>', value: 1, text: '> Bee-Queue saveAll' },
    ],
  },
  async measure({ system, params, url, name }) {
    const run = { shadows: enqueueShadows, bullmq: enqueueBull, beequeue: enqueueBee }[system]
    const elapsed = await within(run({ ...params, url, name }), 600_000, `bulk ${system}`)
    const figure = { batch: `batch add ×${CHUNK}`, single: 'single awaited add', inflight: `add, ${IN_FLIGHT} in flight` }[params.mode]
    return [{ figure, value: round(params.n / (elapsed / 1000)), unit: 'tasks/s', n: params.n, seconds: round(elapsed / 1000, 3) }]
  },
}

/** Runs `count` calls of `add`, `lanes` at a time. */
async function inLanes(count, lanes, add) {
  let next = 0
  const lane = async () => {
    while (next < count) {
      next += 1
      await add()
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
}

async function enqueueShadows({ mode, n, url, name }) {
  const { Shadow } = await lib()
  const noop = await noopTask()
  const shadow = new Shadow({ name, url, logger: benchLogger() })
  try {
    await shadow.redis.ping()
    const started = now()
    if (mode === 'batch') await shadowsFill(shadow, n, () => ({ task: noop, params: {} }), { chunk: CHUNK })
    else await inLanes(n, mode === 'single' ? 1 : IN_FLIGHT, () => shadow.add(noop)({}))
    const elapsed = now() - started
    const queued = await shadow.redis.xlen(shadow.keys.stream)
    if (queued !== n) throw new Error(`expected ${n} queued tasks, found ${queued}`)
    return elapsed
  } finally {
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

async function enqueueBee({ n, url, name }) {
  const queue = await beeQueue(name, url)
  try {
    const started = now()
    await beeFill(queue, n, { chunk: CHUNK })
    const elapsed = now() - started
    const { waiting } = await queue.checkHealth()
    if (waiting !== n) throw new Error(`expected ${n} waiting jobs, found ${waiting}`)
    return elapsed
  } finally {
    await deleteBeeQueue(queue, url, name)
  }
}

async function enqueueBull({ mode, n, url, name }) {
  const { Queue } = await import('bullmq')
  const queue = new Queue(name, { connection: bullConnection(url) })
  try {
    await queue.waitUntilReady()
    const started = now()
    if (mode === 'batch') await bullFill(queue, n, () => ({ name: 'noop', data: {}, opts: BULL_JOB_OPTIONS }), { chunk: CHUNK })
    else await inLanes(n, mode === 'single' ? 1 : IN_FLIGHT, () => queue.add('noop', {}, BULL_JOB_OPTIONS))
    const elapsed = now() - started
    const waiting = await queue.getWaitingCount()
    if (waiting !== n) throw new Error(`expected ${n} waiting jobs, found ${waiting}`)
    return elapsed
  } finally {
    await deleteBullQueue(queue, url, name)
  }
}
