// footprint: a worker process from spawn to its first task (one task already queued) and its RSS
// once idle; the gateway process from spawn to listening and its RSS once idle. References: a BullMQ
// worker process, and a bare Fastify server process.
import {
  BULL_JOB_OPTIONS,
  benchLogger,
  bullConnection,
  deleteBullQueue,
  deleteShadowKeys,
  dropShadow,
  lib,
  noopTask,
  now,
  round,
  sleep,
} from '../lib/common.mjs'
import { forkHelper } from '../lib/processes.mjs'

export const scenario = {
  name: 'footprint',
  title: 'worker and gateway processes: start-up time and idle RSS',
  notes: ['footprint: times run from fork() of a fresh Node process; RSS is read after 2 idle seconds (0.5 in --quick).'],
  cases({ quick }) {
    const idle = quick ? 500 : 2000
    return [
      { id: 'worker', systems: ['shadows', 'bullmq'], params: { role: 'worker', idle } },
      { id: 'gateway', systems: ['shadows', 'fastify'], params: { role: 'gateway', idle } },
    ]
  },
  async measure({ system, params, url, name }) {
    return params.role === 'worker' ? workerFootprint(system, params, url, name) : gatewayFootprint(system, params, url, name)
  },
}

async function workerFootprint(system, { idle }, url, name) {
  const cleanup = await enqueueOne(system, url, name)
  const started = now()
  const helper = forkHelper('footprint-worker.mjs', { system, url, name, idle })
  try {
    const { firstTask } = await helper.next((m) => m.firstTask !== undefined, 60_000, 'worker start')
    const { rss } = await helper.next((m) => m.rss !== undefined, idle + 30_000, 'worker rss')
    return [
      { figure: 'worker start-up to first task', value: round(firstTask - started, 1), unit: 'ms' },
      { figure: 'worker RSS idle', value: round(rss / 2 ** 20, 1), unit: 'MB' },
    ]
  } finally {
    await helper.stop()
    await cleanup()
  }
}

async function gatewayFootprint(system, { idle }, url, name) {
  const started = now()
  const server = forkHelper('server.mjs', { kind: system === 'shadows' ? 'gateway' : 'fastify', url, name })
  try {
    const { at } = await server.next((m) => m.listening !== undefined, 60_000, 'server start')
    await sleep(idle)
    server.child.send('rss')
    const { rss } = await server.next((m) => m.rss !== undefined, 10_000, 'server rss')
    return [
      { figure: 'gateway start-up to listening', value: round(at - started, 1), unit: 'ms' },
      { figure: 'gateway RSS idle', value: round(rss / 2 ** 20, 1), unit: 'MB' },
    ]
  } finally {
    await server.stop()
    if (system === 'shadows') {
      await dropShadow(url, name)
    }
  }
}

/** Queues the one task the worker process starts with; returns the clean-up. */
async function enqueueOne(system, url, name) {
  if (system === 'shadows') {
    const { Shadow } = await lib()
    const shadow = new Shadow({ name, url, logger: benchLogger() })
    await shadow.add(await noopTask())({})
    return async () => {
      await deleteShadowKeys(shadow.redis, name)
      await shadow.close()
    }
  }
  const { Queue } = await import('bullmq')
  const queue = new Queue(name, { connection: bullConnection(url) })
  await queue.add('noop', {}, BULL_JOB_OPTIONS)
  return () => deleteBullQueue(queue, url, name)
}
