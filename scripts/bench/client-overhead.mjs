// What shadows/client costs per call over a bare fetch: `node scripts/bench/client-overhead.mjs
// [--calls 2000] [--url redis://127.0.0.1:6379]`. Needs a build (npm run build).
//
// Two figures, one JSON line each, then a line of text:
// - http: sequential GET /tasks/{key} on a gateway listening on loopback in this process,
//   `client.get(key)` against `fetch()` + status check + `json()`, alternated in rounds (A B A B)
//   after a warm-up, so that both meet the same machine; the Redis read is in both.
// - cpu: the same calls with a fetch that answers at once from memory, no network: the client's
//   own work per call (URL, headers, signal and timer, answer decoding).
// Figures from different runs are not comparable on a shared machine; the difference within one
// run is.
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { dropShadow, lib, round } from './lib/common.mjs'

const { values: flags } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    url: { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
})
const calls = Number(flags.calls)
const ROUNDS = 10
const perRound = Math.ceil(calls / ROUNDS)

const { buildApp } = await lib('gateway/app.js')
const { listen } = await lib('gateway/server.js')
const { ShadowsClient } = await lib('http-client/index.js')
const { defineTask } = await lib('index.js')
const { Type } = await import('@sinclair/typebox')

/** Runs `call` `count` times one after another; the total ms. */
async function timed(count, call) {
  const start = performance.now()
  for (let i = 0; i < count; i++) await call()
  return performance.now() - start
}

/** A and B alternated for `perRound` calls per round; mean µs per call of each. */
async function compare(raw, client) {
  await timed(200, raw)
  await timed(200, client)
  let rawMs = 0
  let clientMs = 0
  for (let round = 0; round < ROUNDS; round++) {
    rawMs += await timed(perRound, raw)
    clientMs += await timed(perRound, client)
  }
  const n = perRound * ROUNDS
  return { rawUs: (rawMs * 1000) / n, clientUs: (clientMs * 1000) / n, n }
}

function report(figure, { rawUs, clientUs, n }) {
  const line = {
    figure,
    calls: n,
    rawMeanUs: round(rawUs, 1),
    clientMeanUs: round(clientUs, 1),
    overheadUs: round(clientUs - rawUs, 1),
    ratio: round(clientUs / rawUs, 3),
  }
  console.log(JSON.stringify(line))
  return line
}

const name = `bench-client-${process.pid}`
const task = defineTask({ name: 'noop', params: Type.Object({}), async run() {} })
const app = await buildApp({ tasks: [task], url: flags.url, name })
try {
  const baseUrl = await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
  await app.shadow.add('noop', { key: 'bench-key', delay: 3_600_000 })({})
  const client = new ShadowsClient({ baseUrl })
  const url = `${baseUrl}/tasks/bench-key`
  const rawGet = async () => {
    const response = await fetch(url, { headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return response.json()
  }
  const http = report('http GET /tasks/{key}', await compare(rawGet, () => client.get('bench-key')))

  const body = JSON.stringify(await rawGet())
  const memoryFetch = async () => new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
  const inMemory = new ShadowsClient({ baseUrl, fetch: memoryFetch })
  const rawMemory = async () => {
    const response = await memoryFetch(url, { headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return response.json()
  }
  const cpu = report('cpu, fetch answered from memory', await compare(rawMemory, () => inMemory.get('bench-key')))
  console.log(
    `# shadows/client: ${http.overheadUs} µs per call over a bare fetch on loopback (${http.clientMeanUs} vs ${http.rawMeanUs} µs), of which its own work is ${cpu.overheadUs} µs`,
  )
} finally {
  await app.close()
  await dropShadow(flags.url, name)
}
