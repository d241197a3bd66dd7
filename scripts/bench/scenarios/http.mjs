// HTTP enqueue: POST /tasks on shadows' gateway vs a bare Fastify route answering 202, under
// autocannon (10 and 50 connections), and POST /tasks/batch (100 tasks per request) in tasks per
// second. The server runs in its own process; autocannon runs in the measuring process.
import { dropShadow, round, sleep } from '../lib/common.mjs'
import { forkHelper } from '../lib/processes.mjs'

const BATCH = 100

export const scenario = {
  name: 'http',
  title: 'POST /tasks vs a bare Fastify 202 route; POST /tasks/batch',
  notes: [`http: autocannon in the measuring process, the server in its own; a warm-up run precedes each measured one; /tasks/batch carries ${BATCH} tasks per request.`],
  cases({ quick }) {
    const duration = quick ? 1 : 10
    const warmup = quick ? 0.2 : 1
    return [
      { id: 'c10', systems: ['shadows', 'fastify'], params: { connections: 10, duration, warmup, path: '/tasks' } },
      { id: 'c50', systems: ['shadows', 'fastify'], params: { connections: 50, duration, warmup, path: '/tasks' } },
      { id: 'batch', systems: ['shadows'], params: { connections: 10, duration, warmup, path: '/tasks/batch' } },
    ]
  },
  targets: {
    'POST /tasks c=10': [{ ref: 'fastify', kind: 'ratio>=', value: 0.8, text: '≥ 80 % of bare Fastify' }],
    'POST /tasks c=50': [{ ref: 'fastify', kind: 'ratio>=', value: 0.8, text: '≥ 80 % of bare Fastify' }],
  },
  async measure({ system, params, url, name }) {
    const { default: autocannon } = await import('autocannon')
    const server = forkHelper('server.mjs', { kind: system === 'shadows' ? 'gateway' : 'fastify', url, name })
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
      if (system === 'shadows') {
        await dropShadow(url, name)
      }
    }
  },
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
