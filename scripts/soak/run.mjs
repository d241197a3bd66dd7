// The soak run (`npm run soak -- --minutes 30`): a private redis-server, one gateway and two
// workers of the built `shadows` binary under a steady load, through HTTP and the library, of
// immediate, scheduled, failing, limited and cancelled tasks, with an SSE client reading /events.
// Every --sample seconds it records the RSS and heap of each process, its event-loop delay p99,
// Redis's used_memory and key count, and the punctuality p99 of the scheduled tasks. Then it stops
// the load, lets the queue drain and the records expire, and judges:
//   - after the warm-up, every series is flat: its fitted slope stays under a stated bound
//     (report.mjs, BOUNDS) — judged when at least six samples follow the warm-up;
//   - no add was refused, and the records of finished tasks carry the execution TTL;
//   - once drained and an execution TTL later, Redis holds no task record, and only keys that
//     are bounded (the events log, its count, the empty stream, the workers) or expire;
//   - every process exits 0 on SIGTERM.
// It prints the samples and the slopes as tables, writes them and an SVG plot of memory over time
// to its output directory, and ends with `soak: PASS` (exit 0) or `soak: FAIL (reasons)` (exit 1).
// Loopback only.
import { execFileSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const USAGE = `usage: npm run soak -- [--minutes M] [--rate R] [--sample S] [--ttl S] [--warmup S] [--out DIR]

  --minutes M  how long the load runs (default 30)
  --rate R     tasks added per second, half over HTTP, half with the library (default 1000: about
               half of the 1,900 a second that the gateway, two workers, Redis and this harness
               sustain together on a 2-core host)
  --sample S   seconds between samples (default 10)
  --ttl S      the execution TTL of finished tasks, in seconds (default 120)
  --warmup S   seconds before the series are judged (default: two execution TTLs, at least 60)
  --out DIR    where the report and the plot go (default: a new directory under the system's tmp)
`

function fail(message) {
  process.stderr.write(`soak: ${message}\n${USAGE}`)
  process.exit(2)
}

let values
try {
  ;({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      minutes: { type: 'string' },
      rate: { type: 'string' },
      sample: { type: 'string' },
      ttl: { type: 'string' },
      warmup: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  }))
} catch (err) {
  fail(err.message)
}
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
const num = (name, fallback, min) => {
  if (values[name] === undefined) return fallback
  const n = Number(values[name])
  if (!Number.isFinite(n) || n < min) fail(`--${name} must be a number >= ${min}, got ${JSON.stringify(values[name])}`)
  return n
}
const minutes = num('minutes', 30, 0.1)
const rate = num('rate', 1000, 1)
const sampleMs = num('sample', 10, 1) * 1000
const ttlMs = Math.round(num('ttl', 120, 1) * 1000)
const warmupMs = num('warmup', Math.max(60, (2 * ttlMs) / 1000), 0) * 1000
const WORKERS = 2
const CONCURRENCY = 50
const EVENTS_LIMIT = 10_000
const NAME = 'soak'

if (!existsSync(join(ROOT, 'dist/src/index.js'))) {
  process.stderr.write('soak: dist/ is missing; building\n')
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: ['ignore', 2, 2] })
}
const { pino } = await import('pino')
const { Redis } = await import('ioredis')
const { Shadow } = await import('../../dist/src/index.js')
const { freePort } = await import('../../dist/src/cli/private-redis.js')
const { ChaosRedis, ShadowsProcess, killAll, until } = await import('../chaos/processes.mjs')
const { judgeSeries, memoryPlot, p99, samplesTable, slopesTable } = await import('./report.mjs')

const dir = mkdtempSync(join(tmpdir(), 'shadows-soak-'))
const outDir = values.out ? resolve(values.out) : dir
mkdirSync(outDir, { recursive: true })
const lateDir = join(dir, 'late')
const logDir = join(dir, 'logs')
const log = (message) => process.stderr.write(`soak: ${message}\n`)
process.once('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll()
    process.stdout.write(`soak: FAIL (interrupted by ${signal}; run directory ${dir})\n`)
    process.exit(1)
  })
}
const watchdogMs = minutes * 60_000 + ttlMs + 300_000
setTimeout(() => {
  killAll()
  process.stdout.write(`soak: FAIL (watchdog: the run took more than ${Math.round(watchdogMs / 1000)} s; run directory ${dir})\n`)
  process.exit(1)
}, watchdogMs).unref()

const failures = []

async function main() {
  const redis = new ChaosRedis(dir, { aof: false })
  await redis.start()
  const admin = new Redis(redis.url, { lazyConnect: false })
  const env = { SOAK_DIR: lateDir, SOAK_PARENT_PID: String(process.pid) }
  const tasks = join(ROOT, 'scripts/soak/tasks.mjs')
  const common = ['--url', redis.url, '--name', NAME, '--log-level', 'warn', '--execution-ttl', String(ttlMs), '--events-limit', String(EVENTS_LIMIT)]
  const gatewayPort = await freePort()
  const base = `http://127.0.0.1:${gatewayPort}`
  const gateway = new ShadowsProcess('serve', [...common, '--port', String(gatewayPort), '--host', '127.0.0.1'], { logDir, env, tasks })
  const workers = []
  for (let i = 0; i < WORKERS; i++) {
    const port = await freePort()
    const proc = new ShadowsProcess('worker', [...common, '--concurrency', String(CONCURRENCY), '--metrics-port', String(port)], { logDir, env, tasks })
    workers.push({ proc, metrics: `http://127.0.0.1:${port}/metrics` })
  }
  const processes = [{ name: 'gw', proc: gateway, metrics: `${base}/metrics` }, ...workers.map((w, i) => ({ name: `w${i + 1}`, ...w }))]
  const exits = processes.map((p) => p.proc.exited.then((e) => ({ name: p.name, ...e })))
  const early = []
  for (const e of exits) e.then((exit) => (stopping ? undefined : early.push(exit)))
  let stopping = false

  const shadow = new Shadow({ name: NAME, url: redis.url, logger: pino({ level: 'silent' }), executionTtl: ttlMs, eventsLimit: EVENTS_LIMIT })
  try {
    const up = await until(
      async () => {
        const ready = await fetch(`${base}/health/ready`).then(
          (r) => r.status === 200,
          () => false,
        )
        const metrics = await Promise.all(
          workers.map((w) =>
            fetch(w.metrics).then(
              (r) => r.ok,
              () => false,
            ),
          ),
        )
        return ready && metrics.every(Boolean)
      },
      60_000,
      200,
    )
    if (!up) throw new Error('the gateway and workers did not come up within 60 s')
    log(
      `gateway ${base}, ${WORKERS} workers of concurrency ${CONCURRENCY}, redis ${redis.url}; ${rate} tasks/s for ${minutes} min, a sample every ${sampleMs / 1000} s`,
    )

    const sse = readEvents(`${base}/events`)
    const load = new Load({ base, shadow, rate })
    const samples = []
    const ttlChecks = { checked: 0, wrong: [] }
    const lateness = new LatenessReader(lateDir)
    const t0 = Date.now()
    const loadDone = load.run(minutes * 60_000)
    let lastEvents = 0
    // a sample every sampleMs, the last one when the load ends (none a moment after another)
    while (minutes * 60_000 - (Date.now() - t0) > sampleMs / 2) {
      await sleep(Math.min(sampleMs, minutes * 60_000 - (Date.now() - t0)))
      const sample = await takeSample(processes, admin, lateness)
      sample.added = load.accepted
      sample.events = sse.count - lastEvents
      lastEvents = sse.count
      samples.push(sample)
      await checkTtls(admin, load, ttlChecks)
      log(
        `${Math.round((Date.now() - t0) / 1000)} s: ${load.accepted} added, ${load.refused} refused, ${sse.count} events; redis ${mb(sample.series['redis.mem']?.value)} MB, ${sample.series['redis.keys']?.value} keys; gw rss ${mb(sample.series['gw.rss']?.value)} MB`,
      )
    }
    await loadDone
    log(`load stopped: ${load.accepted} tasks added; draining`)

    // drained: nothing scheduled, queued or running (the cancelled ones are gone)
    const drained = await until(
      async () => {
        const { counts } = await shadow.snapshot()
        return counts.scheduled + counts.queued + counts.running === 0
      },
      120_000,
      500,
    )
    if (!drained) failures.push('the queue did not drain within 120 s of the load stopping')
    const drainedAt = Date.now()
    log(`drained; waiting an execution TTL (${ttlMs / 1000} s) for the records to expire`)
    await sleep(ttlMs + 5000)
    const remains = await whatRemains(admin)
    log(`after the TTL: ${remains.keys.length} keys, ${remains.records} task records, ${remains.events} events in the log`)
    sse.close()

    // every process ends cleanly
    stopping = true
    const ended = await Promise.all(processes.map(async (p) => ({ name: p.name, ...(await p.proc.terminate(30_000)) })))
    for (const e of ended) if (e.code !== 0) failures.push(`${e.name} exited with code ${e.code}, signal ${e.signal}`)
    for (const e of early) failures.push(`${e.name} exited during the run: code ${e.code}, signal ${e.signal}`)

    // the verdict
    const verdict = judgeSeries(samples, warmupMs, { start: t0 })
    if (verdict.judged) {
      for (const r of verdict.rows) if (!r.flat) failures.push(`${r.name} grows: ${fmtRow(r)}`)
    } else {
      log(`only ${samples.filter((s) => s.at - t0 >= warmupMs).length} samples after the ${warmupMs / 1000} s warm-up: the slopes are shown, not judged`)
    }
    if (load.refused > 0) failures.push(`${load.refused} adds were refused (first: ${load.firstRefusal})`)
    if (load.cancelFailures > 0) failures.push(`${load.cancelFailures} cancels failed (first: ${load.firstCancelFailure})`)
    if (ttlChecks.wrong.length > 0) failures.push(`finished records without the execution TTL: ${ttlChecks.wrong.slice(0, 3).join(', ')}`)
    if (ttlChecks.checked === 0) failures.push('no finished record was checked for its TTL')
    if (remains.records > 0) failures.push(`${remains.records} task records outlived the execution TTL`)
    if (remains.unbounded.length > 0) failures.push(`keys left without a TTL or a bound: ${remains.unbounded.join(', ')}`)
    if (remains.events > EVENTS_LIMIT * 1.1 + 100) failures.push(`the events log holds ${remains.events} events, over eventsLimit ${EVENTS_LIMIT}`)
    if (sse.count === 0) failures.push('the SSE client received no event')
    if (sse.error) failures.push(`the SSE client failed: ${sse.error}`)

    const extra = [
      { title: 'added', value: (s) => s.added },
      { title: 'events', value: (s) => s.events },
    ]
    const report = [
      `# soak: ${minutes} min at ${rate} tasks/s, ${WORKERS} workers, execution TTL ${ttlMs / 1000} s, warm-up ${warmupMs / 1000} s`,
      '',
      samplesTable(samples, extra, t0),
      '',
      slopesTable(verdict),
      '',
      `- tasks added: ${load.accepted} (${load.byKind()}); refused: ${load.refused}; cancels: ${load.cancelled}`,
      `- SSE events received: ${sse.count}`,
      `- finished records checked for their TTL: ${ttlChecks.checked}, wrong: ${ttlChecks.wrong.length}`,
      `- drained ${drained ? 'yes' : 'NO'}; ${Math.round((Date.now() - drainedAt) / 1000)} s later Redis held ${remains.keys.length} keys (${remains.keys.join(', ')}), ${remains.records} task records, ${remains.events} events in the log, used_memory ${mb(remains.usedMemory)} MB`,
      `- exits: ${ended.map((e) => `${e.name} ${e.code}`).join(', ')}`,
      '',
    ].join('\n')
    process.stdout.write(`${report}\n`)
    writeFileSync(join(outDir, 'soak-report.md'), report)
    writeFileSync(
      join(outDir, 'soak-memory.svg'),
      memoryPlot(samples, { warmupMs, start: t0, title: `shadows soak: memory over ${minutes} min at ${rate} tasks/s` }),
    )
    log(`report: ${join(outDir, 'soak-report.md')}, plot: ${join(outDir, 'soak-memory.svg')}`)
    return undefined
  } finally {
    await shadow.close().catch(() => undefined)
    admin.disconnect()
    killAll()
    await redis.stop(false)
    if (failures.length === 0 && outDir !== dir) rmSync(dir, { recursive: true, force: true })
  }
}

function mb(bytes) {
  return bytes === undefined ? '-' : (bytes / 1024 / 1024).toFixed(1)
}

function fmtRow(r) {
  const f = (v) => (r.unit === 'B' ? `${mb(v)} MB` : r.unit === 'ms' ? `${v.toFixed(1)} ms` : `${Math.round(v)}`)
  return `${f(r.perTenMinutes)} per 10 min, bound ${f(r.limit)} (mean ${f(r.mean)})`
}

/** One sample: each process's memory and event-loop delay, Redis's memory and keys, punctuality. */
async function takeSample(processes, admin, lateness) {
  const series = {}
  const texts = await Promise.all(
    processes.map((p) =>
      fetch(p.metrics).then(
        (r) => r.text(),
        () => '',
      ),
    ),
  )
  processes.forEach((p, i) => {
    const metric = (name) => {
      const m = new RegExp(`^\\S*${name} (\\S+)$`, 'm').exec(texts[i])
      return m ? Number(m[1]) : undefined
    }
    series[`${p.name}.rss`] = { kind: 'rss', value: metric('process_resident_memory_bytes') }
    series[`${p.name}.heap`] = { kind: 'heap', value: metric('nodejs_heap_size_used_bytes') }
    const lag = metric('nodejs_eventloop_lag_p99_seconds')
    series[`${p.name}.loop`] = { kind: 'loopP99', value: lag === undefined ? undefined : lag * 1000 }
  })
  const info = await admin.info('memory')
  series['redis.mem'] = { kind: 'redisMemory', value: Number(/used_memory:(\d+)/.exec(info)?.[1]) }
  series['redis.keys'] = { kind: 'redisKeys', value: await admin.dbsize() }
  series['late.p99'] = { kind: 'punctualityP99', value: p99(lateness.read()) }
  return { at: Date.now(), series }
}

/** Reads the lateness lines the workers' scheduled tasks appended since the last read. */
class LatenessReader {
  constructor(dir) {
    this.dir = dir
    this.offsets = new Map()
  }

  read() {
    const out = []
    let files
    try {
      files = readdirSync(this.dir).filter((f) => f.startsWith('late-'))
    } catch {
      return out
    }
    for (const file of files) {
      const path = join(this.dir, file)
      const from = this.offsets.get(file) ?? 0
      const size = statSync(path).size
      if (size <= from) continue
      const buffer = Buffer.alloc(size - from)
      const fd = openSync(path, 'r')
      readSync(fd, buffer, 0, buffer.length, from)
      closeSync(fd)
      const text = buffer.toString('utf8')
      const end = text.lastIndexOf('\n') + 1
      this.offsets.set(file, from + Buffer.byteLength(text.slice(0, end)))
      for (const line of text.slice(0, end).split('\n')) {
        const late = Number(line.split(' ')[1])
        if (line && Number.isFinite(late)) out.push(late)
      }
    }
    return out
  }
}

/** An SSE client of /events: counts the events it receives. */
function readEvents(url) {
  const state = { count: 0, error: undefined, close: () => req.destroy() }
  let buffer = ''
  const req = request(url, { headers: { accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8')
    res.on('data', (chunk) => {
      buffer += chunk
      let at
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        if (/^id: /m.test(buffer.slice(0, at))) state.count += 1
        buffer = buffer.slice(at + 2)
      }
    })
  })
  req.on('error', (err) => {
    if (!req.destroyed || err.code !== 'ECONNRESET') state.error ??= err.message
  })
  req.end()
  return state
}

/**
 * The steady load: every 100 ms, rate / 10 adds, alternately over HTTP and with the library:
 *   55 % `work` now, 15 % `work` scheduled 0.1–3 s ahead, 10 % `flaky`, 10 % `limited` (ten
 *   groups), 10 % `later` scheduled a minute ahead and cancelled a second after it was added.
 */
class Load {
  constructor({ base, shadow, rate }) {
    this.base = base
    this.shadow = shadow
    this.rate = rate
    this.accepted = 0
    this.refused = 0
    this.firstRefusal = undefined
    this.cancelled = 0
    this.cancelFailures = 0
    this.firstCancelFailure = undefined
    this.n = 0
    this.kinds = {}
    this.inFlight = 0
    /** Keys of finished-soon `work` tasks and when they were added, for the TTL checks. */
    this.recent = []
    this.pending = new Set()
  }

  byKind() {
    return Object.entries(this.kinds)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')
  }

  async run(ms) {
    const end = Date.now() + ms
    let owed = 0
    while (Date.now() < end) {
      const tick = Date.now()
      owed += this.rate / 10
      while (owed >= 1) {
        owed -= 1
        this.track(this.addOne())
      }
      await sleep(Math.max(0, tick + 100 - Date.now()))
    }
    await Promise.allSettled([...this.pending])
  }

  track(promise) {
    this.pending.add(promise)
    promise.finally(() => this.pending.delete(promise))
  }

  async addOne() {
    const n = this.n++
    const r = (n * 7919) % 100
    const http = n % 2 === 0
    const key = `t${n}`
    let task
    let params
    let when
    if (r < 55) [task, params] = ['work', { ms: n % 20 }]
    else if (r < 70) [task, params, when] = ['work', { ms: n % 20, s: true }, new Date(Date.now() + 100 + ((n * 31) % 2900))]
    else if (r < 80) [task, params] = ['flaky', { n }]
    else if (r < 90) [task, params] = ['limited', { group: n % 10, ms: n % 20 }]
    else [task, params, when] = ['later', {}, new Date(Date.now() + 60_000)]
    const ok = http ? await this.viaHttp(task, key, params, when) : await this.viaLibrary(task, key, params, when)
    if (!ok) return
    this.accepted += 1
    this.kinds[task] = (this.kinds[task] ?? 0) + 1
    if (task === 'work' && !when) this.recent.push({ key, at: Date.now() })
    if (task === 'later') {
      await sleep(1000)
      await this.cancel(key, http)
    }
  }

  async viaHttp(task, key, params, when) {
    try {
      const res = await fetch(`${this.base}/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task, key, params, ...(when ? { when: when.toISOString() } : {}) }),
        signal: AbortSignal.timeout(15_000),
      })
      const text = await res.text()
      if (res.status === 202 || res.status === 200) return true
      return this.refuse(`HTTP ${res.status} ${text.slice(0, 200)}`)
    } catch (err) {
      return this.refuse(`HTTP ${err?.cause?.code ?? err?.name ?? err}`)
    }
  }

  async viaLibrary(task, key, params, when) {
    try {
      await this.shadow.add(task, { key, ...(when ? { when } : {}) })(params)
      return true
    } catch (err) {
      return this.refuse(`library ${err?.code ?? err?.message ?? err}`)
    }
  }

  refuse(why) {
    this.refused += 1
    this.firstRefusal ??= why
    return false
  }

  async cancel(key, http) {
    try {
      if (http) {
        const res = await fetch(`${this.base}/tasks/${key}`, { method: 'DELETE', signal: AbortSignal.timeout(15_000) })
        await res.text()
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`)
      } else {
        await this.shadow.cancel(key)
      }
      this.cancelled += 1
    } catch (err) {
      this.cancelFailures += 1
      this.firstCancelFailure ??= `${key}: ${err?.message ?? err}`
    }
  }
}

/** Checks the records of `work` tasks added 5–60 s ago: finished, each with a TTL within the execution TTL. */
async function checkTtls(admin, load, checks) {
  const now = Date.now()
  const due = load.recent.filter((r) => now - r.at >= 5000)
  load.recent = load.recent.filter((r) => now - r.at < 5000)
  for (const { key } of due.slice(-20)) {
    const record = `{${NAME}}:task:${key}`
    const [state, pttl] = await Promise.all([admin.hget(record, 'state'), admin.pttl(record)])
    if (state === null) continue
    checks.checked += 1
    if (state !== 'completed' || pttl <= 0 || pttl > ttlMs) checks.wrong.push(`${key} ${state} pttl ${pttl}`)
  }
}

/**
 * What the shadow's keys hold once drained and an execution TTL later: every key, the task records
 * among them, the events in the log, and the keys with neither a TTL nor a bound (the events log
 * and its count, the stream once empty, and the workers' index are bounded).
 */
async function whatRemains(admin) {
  const keys = []
  let cursor = '0'
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `{${NAME}}*`, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  const tag = `{${NAME}}:`
  const bounded = new Set(['events:log', 'events:log:count', 'workers'])
  const unbounded = []
  let records = 0
  for (const key of keys) {
    const rest = key.slice(tag.length)
    if (rest.startsWith('task:')) records += 1
    if (bounded.has(rest)) continue
    if (rest === 'stream' && (await admin.xlen(key)) === 0) continue
    if ((await admin.pttl(key)) > 0) continue
    unbounded.push(rest)
  }
  let events = 0
  for (const [, fields] of await admin.xrange(`${tag}events:log`, '-', '+')) {
    const at = fields.indexOf('e')
    events += at >= 0 ? fields[at + 1].split('\x1e').length : 1
  }
  const usedMemory = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1])
  return { keys: keys.map((k) => k.slice(tag.length)).sort(), records, unbounded, events, usedMemory }
}

// the run, once every class above is defined
await main().catch((err) => {
  failures.push(`the harness failed: ${err?.stack ?? err}`)
})
if (failures.length === 0) {
  process.stdout.write(`soak: PASS (report and plot in ${outDir})\n`)
  process.exit(0)
}
killAll()
process.stdout.write(`soak: FAIL (${failures.join('; ')}; run directory ${dir})\n`)
process.exit(1)
