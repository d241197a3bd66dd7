// What OpenTelemetry tracing costs: `node scripts/bench/tracing.mjs [--n 20000] [--concurrency 100]
// [--runs 3] [--url redis://127.0.0.1:6379]`. Needs a build (npm run build) and the dev
// dependencies (@opentelemetry/sdk-trace-base, @opentelemetry/context-async-hooks).
//
// Each run is a process of its own, in one of three modes, alternated (off, context, on, off, …)
// so that all meet the same machine: `off`, no SDK registered (the API's no-op); `on`, an SDK
// registered as a Node.js service would (a tracer provider with a batch span processor whose
// exporter drops what it gets, and the AsyncLocalStorage context manager); `context`, the context
// manager alone, which tells how much of the cost is Node.js tracking async context rather than
// spans. A run adds `n` no-op tasks one `shadow.add` at a
// time, `concurrency` in flight (each add is a span, its context stored with the task), then
// drains them with one worker at `concurrency` (each attempt a span, a child of its add's).
// Prints one JSON line per run and figure, then one per figure with the medians and their ratio.
// Figures from different runs of this script are not comparable on a shared machine; the ratio
// within one run is.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { benchLogger, deferred, deleteShadowKeys, lib, noopTask, now, round, waitAcknowledged, within } from './lib/common.mjs'

const { values: flags } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
    url: { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    child: { type: 'string' },
  },
})
const n = Number(flags.n)
const concurrency = Number(flags.concurrency)

if (flags.child) await child(flags.child)
else await parent()

/** Runs the children in turn and prints the medians. */
async function parent() {
  const results = { off: [], context: [], on: [] }
  for (let run = 0; run < Number(flags.runs); run++) {
    for (const mode of ['off', 'context', 'on']) {
      const figures = await spawnChild(mode)
      results[mode].push(figures)
      console.log(JSON.stringify({ run: run + 1, tracing: mode, n, concurrency, ...figures }))
    }
  }
  for (const figure of ['adds', 'drain']) {
    const [off, context, on] = ['off', 'context', 'on'].map((mode) => median(results[mode].map((r) => r[figure])))
    const line = { figure: `${figure} (median of ${flags.runs})`, unit: 'tasks/s', off, context, on, ratio: round(on / off, 3) }
    console.log(JSON.stringify({ ...line, contextRatio: round(context / off, 3) }))
  }
}

function spawnChild(mode) {
  const script = fileURLToPath(import.meta.url)
  const args = [script, '--child', mode, '--n', String(n), '--concurrency', String(concurrency), '--url', flags.url]
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', (chunk) => (out += chunk))
    proc.on('error', reject)
    proc.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`child ${mode} exited ${code}`))))
  })
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : round((sorted[mid - 1] + sorted[mid]) / 2)
}

/** One measured run in this process; prints `{ adds, drain }` in tasks/s, and the spans made. */
async function child(mode) {
  const sdk = mode === 'off' ? undefined : await registerSdk(mode === 'on')
  const { Shadow, Worker } = await lib()
  const logger = benchLogger()
  const name = `bench-tracing-${randomBytes(4).toString('hex')}`
  const allRan = deferred()
  let ran = 0
  const noop = await noopTask(() => {
    if (++ran === n) allRan.resolve()
  })
  const shadow = new Shadow({ name, url: flags.url, logger })
  try {
    // adds: `concurrency` lanes, each one add at a time
    let next = 0
    const addStarted = now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next += 1
          await shadow.add(noop)({})
        }
      }),
    )
    const addSeconds = (now() - addStarted) / 1000

    const worker = new Worker(shadow, { tasks: [noop], concurrency, logger })
    const started = now()
    const running = worker.run()
    running.catch(allRan.reject)
    await within(allRan.promise, 600_000, 'drain')
    await waitAcknowledged(shadow.redis, shadow.keys.stream)
    const drainSeconds = (now() - started) / 1000
    await worker.close()
    await running
    const spans = sdk ? await sdk.spans() : 0
    console.log(JSON.stringify({ adds: round(n / addSeconds), drain: round(n / drainSeconds), spans }))
  } finally {
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

/**
 * An SDK as a service registers one (`provider` false: the context manager alone); spans are made,
 * batched and handed to an exporter that counts and drops them.
 */
async function registerSdk(provider) {
  const { context, trace } = await import('@opentelemetry/api')
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base')
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks')
  const exporter = {
    exported: 0,
    export(spans, done) {
      this.exported += spans.length
      done({ code: 0 })
    },
    shutdown: async () => undefined,
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  // Node.js tracks async context from the first context.with() on, as it does once an SDK runs
  context.with(context.active(), () => undefined)
  if (!provider) return { spans: async () => 0 }
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] })
  trace.setGlobalTracerProvider(tracerProvider)
  return {
    async spans() {
      await tracerProvider.forceFlush()
      return exporter.exported
    },
  }
}
