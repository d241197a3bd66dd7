// limits: what concurrency and rate limits cost.
//   drain   N no-op tasks over 100 tenants with `concurrency: { limit: 5, by: 'tenant' }`, drained by
//           one worker at concurrency 100, beside the same drain without a limit (shadows, same
//           run) and BullMQ's plain drain (its open-source edition has no limit per group);
//   waiting Redis commands per second while 1,000 tasks under `rateLimit: { limit: 1, per: 60 s }`
//           wait for their window, on a private redis-server, after they all found their place.
import { benchLogger, commandsOver, deleteShadowKeys, lib, plainRedis, privateRedis, round, shadowsFill, sleep, within } from '../lib/common.mjs'
import { drainBull, drainShadows } from './drain.mjs'

const TENANTS = 100
const LIMIT = 5
const CONCURRENCY = 100
const WAITING = 1_000

export const scenario = {
  name: 'limits',
  title: 'drain under a concurrency limit per tenant; Redis commands while rate-limited tasks wait',
  notes: [
    `limits: drain of no-op tasks over ${TENANTS} tenants, concurrency { limit: ${LIMIT}, by: 'tenant' }, one worker at concurrency ${CONCURRENCY}; "unlimited" is the same drain without the limit; BullMQ's plain drain for scale (bullmq has no per-group limit outside its Pro edition).`,
    `limits: waiting counts every command (Lua included) over the window while ${WAITING.toLocaleString('en-US')} tasks limited to 1 start a minute wait, on a private redis-server.`,
  ],
  cases({ quick, n }) {
    return [
      { id: 'drain', systems: ['shadows', 'unlimited', 'bullmq'], params: { n: n ?? (quick ? 10_000 : 50_000) } },
      { id: 'waiting', systems: ['shadows'], params: quick ? { settle: 500, window: 2000 } : { settle: 2000, window: 10_000 } },
    ]
  },
  targets: {
    'throughput limited c=100': [
      { ref: 'unlimited', kind: 'ratio>=', value: 0.5, text: '≥ 0.5× unlimited' },
      { ref: 'bullmq', kind: null, text: 'report' },
    ],
    'commands/s while rate-limited tasks wait': [{ kind: 'value<=', value: 5, text: '≤ 5' }],
  },
  async measure({ system, caseId, params, url, name }) {
    if (caseId === 'waiting') return measureWaiting({ params, url, name })
    const drain = system === 'bullmq' ? drainBull : drainTenants
    const { elapsed } = await within(drain({ n: params.n, concurrency: CONCURRENCY, url, name, limited: system === 'shadows' }), 600_000, `limits ${system}`)
    return [{ figure: 'throughput limited c=100', value: round(params.n / (elapsed / 1000)), unit: 'tasks/s', n: params.n, seconds: round(elapsed / 1000, 3) }]
  },
}

/** Drains `n` no-op tasks of 100 tenants, with or without the limit per tenant. */
async function drainTenants({ n, concurrency, url, name, limited }) {
  const { defineTask } = await lib()
  const { Type } = await import('@sinclair/typebox')
  const makeTask = (onRun) =>
    defineTask({
      name: 'tenant-noop',
      params: Type.Object({ tenant: Type.String() }),
      ...(limited ? { concurrency: { limit: LIMIT, by: 'tenant' } } : {}),
      async run() {
        onRun()
      },
    })
  return drainShadows({ n, concurrency, url, name, makeTask, makeParams: (i) => ({ tenant: `t${i % TENANTS}` }) })
}

/** Commands per second while WAITING rate-limited tasks wait for their place in the window. */
async function measureWaiting({ params, url, name }) {
  const redis = await privateRedis(url)
  const admin = plainRedis(redis.url)
  const { Shadow, Worker, defineTask } = await lib()
  const logger = benchLogger()
  const task = defineTask({ name: 'rate-noop', rateLimit: { limit: 1, per: 60_000 }, run: () => undefined })
  const shadow = new Shadow({ name, url: redis.url, logger })
  const worker = new Worker(shadow, { tasks: [task], concurrency: 10, logger })
  try {
    await shadowsFill(shadow, WAITING, () => ({ task, params: {} }))
    const running = worker.run()
    // settled: one ran, every other one is scheduled for its place in the window
    for (let i = 0; i < 6000 && (await admin.zcard(shadow.keys.schedule)) < WAITING - 1; i++) await sleep(5)
    await sleep(params.settle)
    const { perSecond, commands } = await commandsOver(admin, params.window)
    await worker.close()
    await running
    return [
      {
        figure: 'commands/s while rate-limited tasks wait',
        value: perSecond,
        unit: 'cmd/s',
        windowSeconds: params.window / 1000,
        commands,
        privateRedis: redis.private,
      },
    ]
  } finally {
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
    admin.disconnect()
    await redis.stop()
  }
}
