// HTTP enqueue: POST /tasks on shadows' gateway vs three references under autocannon (10 and 50
// connections): a Fastify route that validates the same body and awaits BullMQ's Queue.add (what a
// Node user would write instead), the same route with one awaited XADD (the ceiling of a route that
// stores one request at a time) and a bare Fastify route answering 202 (reported, no target); and
// POST /tasks/batch (100 tasks per request) in tasks per second. The server runs in its own
// process; autocannon runs in the measuring process.
import { bullConnection, deleteBullQueue, dropShadow, plainRedis, round, sleep, xaddStream } from '../lib/common.mjs'
import { forkHelper } from '../lib/processes.mjs'

const BATCH = 100
const SERVER_KIND = { shadows: 'gateway', bullmq: 'bullmq', xadd: 'xadd', fastify: 'fastify' }
const SINGLE_TARGETS = [
  { ref: 'bullmq', kind: 'ratio>=', value: 1.5, text: '≥ 1.5× BullMQ route' },
  { ref: 'xadd', kind: 'ratio>=', value: 1, text: '≥ XADD route' },
  { ref: 'fastify', kind: null, text: 'bare route (report)' },
]

export const scenario = {
  name: 'http',
  title: 'POST /tasks vs a BullMQ route, an XADD route and a bare Fastify route; POST /tasks/batch',
  notes: [
    `http: autocannon in the measuring process, the server in its own; a warm-up run precedes each measured one; /tasks/batch carries ${BATCH} tasks per request.`,
    "http: the BullMQ and XADD routes validate the body with the JSON schema of the gateway's POST /tasks (task, params, key?, when?/delay?; no coercion) and answer 202; the BullMQ route awaits Queue.add (key as jobId, when/delay as delay, removeOnComplete/removeOnFail), the XADD route one XADD with task, key and params.",
  ],
  cases({ quick }) {
    const duration = quick ? 1 : 10
    const warmup = quick ? 0.2 : 1
    const systems = ['shadows', 'bullmq', 'xadd', 'fastify']
    return [
      { id: 'c10', systems, params: { connections: 10, duration, warmup, path: '/tasks' } },
      { id: 'c50', systems, params: { connections: 50, duration, warmup, path: '/tasks' } },
      { id: 'batch', systems: ['shadows'], params: { connections: 10, duration, warmup, path: '/tasks/batch' } },
    ]
  },
  targets: {
    'POST /tasks c=10': SINGLE_TARGETS,
    'POST /tasks c=50': SINGLE_TARGETS,
  },
  async measure({ system, params, url, name }) {
    const { default: autocannon } = await import('autocannon')
    const server = forkHelper('server.mjs', { kind: SERVER_KIND[system], url, name })
    try {
      const { listening: port } = await server.next((m) => m.listening !== undefined, 30_000, 'server start')
      const batch = params.path === '/tasks/batch'
      const body = JSON.stringify(batch ? { tasks: Array.from({ length: BATCH }, () => ({ task: 'noop', params: {} })) } : { task: 'noop', params: {} })
      const target = `http://127.0.0.1:${port}${params.path}`
      await checkOnce(target, body, batch)
      const load = (duration) =>
        autocannon({ url: target, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: params.connections, duration })
      await load(params.warmup)
      const result = await load(params.duration)
      server.child.send('rss')
      const { rss } = await server.next((m) => m.rss !== undefined, 10_000, 'server rss')
      if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) {
        throw new Error(`autocannon saw ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx answers`)
      }
      const perSecond = result['2xx'] / result.duration
      const extra = {
        connections: params.connections,
        seconds: result.duration,
        latencyP50: result.latency.p50,
        latencyP99: result.latency.p99,
        serverRssMB: round(rss / 2 ** 20, 1),
      }
      if (batch) return [{ figure: `POST /tasks/batch ×${BATCH} c=${params.connections}`, value: round(perSecond * BATCH), unit: 'tasks/s', ...extra }]
      return [{ figure: `POST /tasks c=${params.connections}`, value: round(perSecond), unit: 'req/s', ...extra }]
    } finally {
      await server.stop()
      await dropKeys(system, url, name)
    }
  },
}

/** Deletes what the server wrote: the shadow, BullMQ's queue (obliterated) or the XADD route's stream. */
async function dropKeys(system, url, name) {
  if (system === 'shadows') {
    await dropShadow(url, name)
  } else if (system === 'bullmq') {
    const { Queue } = await import('bullmq')
    await deleteBullQueue(new Queue(name, { connection: bullConnection(url) }), url, name)
  } else if (system === 'xadd') {
    const redis = plainRedis(url)
    try {
      await redis.unlink(xaddStream(name))
    } finally {
      redis.disconnect()
    }
  }
}

/** One request before the load: the route must accept the body (so that 2xx means "added"). */
async function checkOnce(target, body, batch) {
  for (let tries = 0; ; tries++) {
    const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    const text = await response.text()
    if (response.status === 503 && tries < 50) {
      // the gateway serves 503s until its Redis connection is ready
      await sleep(20)
      continue
    }
    if (response.status !== (batch ? 200 : 202)) throw new Error(`${target} answered ${response.status}: ${text.slice(0, 300)}`)
    if (batch && !JSON.parse(text).results.every((r) => r.status === 202)) throw new Error(`batch items refused: ${text.slice(0, 300)}`)
    return
  }
}
