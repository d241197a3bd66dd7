// memory: Redis bytes per scheduled task and per queued task (INFO memory used_memory delta over N
// adds, on a private redis-server), vs BullMQ delayed and waiting jobs with default job options.
import {
  benchLogger,
  bullConnection,
  bullFill,
  deleteBullQueue,
  deleteShadowKeys,
  lib,
  noopTask,
  plainRedis,
  privateRedis,
  round,
  shadowsFill,
  usedMemory,
} from '../lib/common.mjs'

const HOUR = 3_600_000

export const scenario = {
  name: 'memory',
  title: 'Redis bytes per scheduled and per queued task',
  notes: [
    'memory: used_memory delta / N on a fresh private redis-server per run; shadows keys are random UUIDs; BullMQ jobs use default options (its smallest job hash), data {}.',
  ],
  cases({ quick, n }) {
    const size = n ?? (quick ? 10_000 : 100_000)
    return [
      { id: 'scheduled', systems: ['shadows', 'bullmq'], params: { kind: 'scheduled', n: size } },
      { id: 'queued', systems: ['shadows', 'bullmq'], params: { kind: 'queued', n: size } },
    ]
  },
  targets: {
    'bytes per scheduled task': [{ ref: 'bullmq', kind: 'ratio<=', value: 1, text: '≤ BullMQ delayed job' }],
    // a queued task carries a record (state, generation, stream id) that BullMQ's waiting job does not
    'bytes per queued task': [{ ref: 'bullmq', kind: 'ratio<=', value: 1.25, text: '≤ 1.25× BullMQ waiting job' }],
  },
  async measure({ system, params, url, name }) {
    const redis = await privateRedis(url)
    const admin = plainRedis(redis.url)
    try {
      const bytes = await (system === 'shadows' ? memoryShadows : memoryBull)({ ...params, url: redis.url, name, admin })
      return [{ figure: `bytes per ${params.kind} task`, value: round(bytes / params.n, 1), unit: 'B', n: params.n, privateRedis: redis.private }]
    } finally {
      admin.disconnect()
      await redis.stop()
    }
  },
}

async function memoryShadows({ kind, n, url, name, admin }) {
  const { Shadow } = await lib()
  const noop = await noopTask()
  const shadow = new Shadow({ name, url, logger: benchLogger() })
  const base = Date.now() + HOUR
  const item = (i) => (kind === 'scheduled' ? { task: noop, params: {}, when: new Date(base + i) } : { task: noop, params: {} })
  try {
    // load the scripts and the strikes first: only the tasks are to be measured
    await shadowsFill(shadow, 1, item)
    await deleteShadowKeys(shadow.redis, name)
    const before = await usedMemory(admin)
    await shadowsFill(shadow, n, item)
    return (await usedMemory(admin)) - before
  } finally {
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

async function memoryBull({ kind, n, url, name, admin }) {
  const { Queue } = await import('bullmq')
  const queue = new Queue(name, { connection: bullConnection(url) })
  const job = (i) => ({ name: 'noop', data: {}, ...(kind === 'scheduled' ? { opts: { delay: HOUR + i } } : {}) })
  try {
    await bullFill(queue, 1, job)
    await queue.obliterate({ force: true })
    const before = await usedMemory(admin)
    await bullFill(queue, n, job)
    return (await usedMemory(admin)) - before
  } finally {
    await deleteBullQueue(queue, url, name)
  }
}
