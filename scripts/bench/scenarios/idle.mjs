// idle cost: Redis commands per second an idle worker causes, from INFO commandstats deltas over a
// window, on a private redis-server that nobody else talks to. Commands run inside Lua scripts are
// counted too (commandstats counts them), as are the EVALSHA calls themselves.
import {
  BULL_WORKER_OPTIONS,
  benchLogger,
  bullConnection,
  commandsOver,
  deleteBullQueue,
  deleteShadowKeys,
  lib,
  noopTask,
  plainRedis,
  privateRedis,
  sleep,
} from '../lib/common.mjs'

const CONCURRENCY = 10

export const scenario = {
  name: 'idle',
  title: 'Redis commands per second of an idle worker',
  notes: [
    `idle: worker concurrency ${CONCURRENCY}, default settings, nothing queued; measured on a private redis-server after a settling time; commands inside Lua scripts count.`,
  ],
  cases({ quick }) {
    return [{ id: 'worker', systems: ['shadows', 'bullmq'], params: quick ? { settle: 500, window: 2000 } : { settle: 2000, window: 10_000 } }]
  },
  targets: {
    'commands/s idle': [{ ref: 'bullmq', kind: 'value<=', value: 5, text: '≤ 5' }],
  },
  async measure({ system, params, url, name }) {
    const redis = await privateRedis(url)
    const admin = plainRedis(redis.url)
    try {
      await admin.ping()
      const stop = await (system === 'shadows' ? idleShadows : idleBull)({ url: redis.url, name })
      try {
        await sleep(params.settle)
        const { perSecond, commands } = await commandsOver(admin, params.window)
        return [
          {
            figure: 'commands/s idle',
            value: perSecond,
            unit: 'cmd/s',
            windowSeconds: params.window / 1000,
            commands,
            privateRedis: redis.private,
          },
        ]
      } finally {
        await stop()
      }
    } finally {
      admin.disconnect()
      await redis.stop()
    }
  },
}

async function idleShadows({ url, name }) {
  const { Shadow, Worker } = await lib()
  const logger = benchLogger()
  const noop = await noopTask()
  const shadow = new Shadow({ name, url, logger })
  const worker = new Worker(shadow, { tasks: [noop], concurrency: CONCURRENCY, logger })
  const running = worker.run()
  return async () => {
    await worker.close()
    await running
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

async function idleBull({ url, name }) {
  const { Queue, Worker } = await import('bullmq')
  const connection = bullConnection(url)
  const queue = new Queue(name, { connection })
  const worker = new Worker(name, async () => undefined, { connection, concurrency: CONCURRENCY, ...BULL_WORKER_OPTIONS })
  await worker.waitUntilReady()
  return async () => {
    await worker.close()
    await deleteBullQueue(queue, url, name)
  }
}
