// The chaos run (`npm run chaos`): its own Redis (AOF, appendfsync always), one gateway and four
// workers of the built `shadows` binary; producers enqueue tasks over HTTP and with the library
// while workers are killed, Redis restarts, toxic tasks are added and strikes come and go. Then it
// checks that every accepted task ran, prints its figures as JSON and ends with
// `chaos: PASS` (exit 0) or `chaos: FAIL (reasons)` (exit 1). Loopback only, bounded in time.
//
//   node scripts/chaos/run.mjs [--quick] [--tasks N] [--seed S] [--duration SECONDS] [--keep]
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseOptions, seeded, UsageError } from './options.mjs'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

let options
try {
  options = parseOptions(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  process.stderr.write(`chaos: ${err.message}\n`)
  process.exit(2)
}
if (options.help) {
  process.stdout.write(options.help)
  process.exit(0)
}

if (!existsSync(join(ROOT, 'dist/src/index.js')) || !existsSync(join(ROOT, 'dist/src/cli/main.js'))) {
  process.stderr.write('chaos: dist/ is missing; building\n')
  execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { stdio: ['ignore', 2, 2] })
}

// the rate-limited task's limit, for the tasks module of this process, the gateway and the workers
process.env.CHAOS_RATE_LIMIT = String(options.rateLimit)

const { pino } = await import('pino')
const { Shadow } = await import('../../dist/src/index.js')
const { freePort } = await import('../../dist/src/cli/private-redis.js')
const { ChaosRedis, ShadowsProcess, killAll, until } = await import('./processes.mjs')
const { Producers } = await import('./producers.mjs')
const { Chaos, WorkerPool } = await import('./chaos.mjs')
const { judge, readRuns } = await import('./verify.mjs')

const SHADOW = 'chaos'
const dir = mkdtempSync(join(tmpdir(), 'shadows-chaos-'))
const runsDir = join(dir, 'runs')
const logDir = join(dir, 'logs')
mkdirSync(runsDir, { recursive: true })
const log = (message) => process.stderr.write(`chaos: ${message}\n`)
const startedAt = Date.now()

// whatever happens, nothing we started outlives us
process.once('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll()
    process.stdout.write(`chaos: FAIL (interrupted by ${signal}; run directory ${dir})\n`)
    process.exit(1)
  })
}
// a hard cap on the whole run: every phase has its own bound, this one catches the unforeseen
const watchdogMs = options.durationMs + options.drainTimeoutMs + 120_000
const watchdog = setTimeout(() => {
  killAll()
  process.stdout.write(`chaos: FAIL (watchdog: the run took more than ${Math.round(watchdogMs / 1000)} s; run directory ${dir})\n`)
  process.exit(1)
}, watchdogMs)
watchdog.unref()

const result = await main().catch((err) => ({ failures: [`the harness failed: ${err?.stack ?? err}`], figures: undefined }))
clearTimeout(watchdog)
if (result.figures)
  process.stdout.write(
    `${JSON.stringify({ seed: options.seed, mode: options.quick ? 'quick' : 'full', elapsedMs: Date.now() - startedAt, ...result.figures }, null, 2)}\n`,
  )
if (result.failures.length === 0) {
  if (!options.keep) rmSync(dir, { recursive: true, force: true })
  else log(`run directory kept: ${dir}`)
  process.stdout.write('chaos: PASS\n')
  process.exit(0)
} else {
  killAll()
  log(`run directory kept for inspection: ${dir}`)
  process.stdout.write(`chaos: FAIL (${result.failures.join('; ')})\n`)
  process.exit(1)
}

async function main() {
  log(
    `seed ${options.seed}, ${options.tasks} tasks at ${options.rate}/s, ${options.workers} workers of concurrency ${options.concurrency}, run directory ${dir}`,
  )
  const rngProducers = seeded(options.seed)
  const rngChaos = seeded(options.seed ^ 0x5bd1e995)

  const redis = new ChaosRedis(dir)
  await redis.start()
  const env = { CHAOS_RUNS_DIR: runsDir, CHAOS_PARENT_PID: String(process.pid), CHAOS_RATE_LIMIT: String(options.rateLimit) }
  const gatewayPort = await freePort()
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`
  const startGateway = () =>
    new ShadowsProcess('serve', ['--url', redis.url, '--name', SHADOW, '--port', String(gatewayPort), '--host', '127.0.0.1', '--log-level', 'warn'], {
      logDir,
      env,
    })
  let gateway = startGateway()
  const gatewayExits = []
  let finishing = false
  const watchGateway = (g) =>
    g.exited.then((exit) => {
      if (finishing || g !== gateway) return
      gatewayExits.push({ pid: g.pid, code: exit.code, signal: exit.signal })
      gateway = startGateway()
      watchGateway(gateway)
    })
  watchGateway(gateway)

  const pool = new WorkerPool({
    size: options.workers,
    args: [
      '--url',
      redis.url,
      '--name',
      SHADOW,
      '--concurrency',
      String(options.concurrency),
      '--redelivery-timeout',
      String(options.redeliveryTimeout),
      '--grace-period',
      String(options.gracePeriod),
      '--log-level',
      'warn',
    ],
    logDir,
    env,
    runsDir,
  })
  pool.start()

  const quiet = pino({ level: 'silent' })
  // the producers' client gives up quickly while Redis is away (a rejected add is retried later);
  // the control client (strikes, toxic tasks, checks) waits longer
  const producerShadow = new Shadow({ name: SHADOW, url: redis.url, logger: quiet, connection: { maxRetriesPerRequest: 2 } })
  const control = new Shadow({ name: SHADOW, url: redis.url, logger: quiet })
  try {
    const ready = await until(
      async () => {
        try {
          const [health, workers] = await Promise.all([fetch(`${gatewayUrl}/health/ready`).then((r) => r.status), control.workers()])
          return health === 200 && workers.length === options.workers
        } catch {
          return false
        }
      },
      60_000,
      200,
    )
    if (!ready) throw new Error('the gateway and workers did not come up within 60 s')
    log(`gateway on ${gatewayUrl}, ${options.workers} workers, redis on ${redis.url}; producing`)

    // each loop waits for its answer before the next offer: enough of them to offer the rate with
    // answers of 20 ms (more while the host is loaded), eight at least
    const loops = Math.max(8, Math.ceil(options.rate / 50))
    const producers = new Producers({ total: options.tasks, rate: options.rate, rng: rngProducers, gatewayUrl, shadow: producerShadow, concurrency: loops })
    const productionTicks = Math.ceil((options.tasks / options.rate) * (1000 / options.tickMs))
    const chaos = new Chaos({
      rng: rngChaos,
      pool,
      redis,
      shadow: control,
      tickMs: options.tickMs,
      forceAtTick: Math.max(1, Math.floor(productionTicks * 0.6)),
    })
    const chaosDone = chaos.run()
    const capTimer = setTimeout(() => {
      log(`duration cap of ${options.durationMs / 1000} s reached; the producers stop`)
      producers.stop()
    }, options.durationMs)
    const progress = setInterval(
      () =>
        log(
          `${producers.acceptedCount}/${options.tasks} accepted, ${chaos.kills.length} kills, ${chaos.restarts.length} redis restarts, ${chaos.toxic.size} toxic, ${chaos.strikes.rounds.length} strike rounds`,
        ),
      10_000,
    )
    await producers.run()
    clearTimeout(capTimer)
    // the chaos goes on as long as the last scheduled tasks may still be ahead (due within 5 s)
    await sleep(2000)
    chaos.stop()
    await chaosDone
    clearInterval(progress)
    log(`producers done (${producers.accepted.size} accepted); draining`)

    // drain: nothing scheduled, queued or running, and every toxic task and victim finished
    const watched = [...chaos.toxic.keys(), ...chaos.strikes.rounds.flatMap((r) => r.victims.map((v) => v.key))]
    const drainStart = Date.now()
    const drained = { ok: false, timeoutMs: options.drainTimeoutMs, last: undefined, ms: undefined }
    drained.ok = await until(
      async () => {
        try {
          const snapshot = await control.snapshot()
          drained.last = snapshot.counts
          if (snapshot.counts.scheduled + snapshot.counts.queued + snapshot.counts.running > 0) return false
          for (const key of watched) {
            const state = (await control.get(key))?.state
            if (state === 'scheduled' || state === 'queued' || state === 'running') return false
          }
          return true
        } catch {
          return false
        }
      },
      options.drainTimeoutMs,
      500,
    )
    drained.ms = Date.now() - drainStart
    log(drained.ok ? `drained in ${drained.ms} ms; stopping` : 'the queue did not drain; stopping anyway')

    // SIGTERM everything; each must exit 0 by itself
    finishing = true
    const workerExits = await pool.stop(30_000)
    const gatewayExit = await gateway.terminate(15_000)
    const processes = [
      ...workerExits.map((e) => ({ name: 'worker', pid: e.pid, code: e.code, signal: e.signal, endedBy: pool.slots.find((w) => w.pid === e.pid)?.endedBy })),
      { name: 'gateway', pid: gateway.pid, code: gatewayExit.code, signal: gatewayExit.signal, endedBy: gateway.endedBy },
    ]

    const runs = readRuns(runsDir)
    // the records the judgement needs: toxic tasks, victims, and accepted tasks that never ran
    const states = new Map()
    const ask = [...watched, ...[...producers.accepted.keys()].filter((k) => !runs.R.has(k)).slice(0, 2000)]
    for (const key of ask) {
      const info = await control.get(key).catch(() => undefined)
      if (info) states.set(key, { state: info.state, error: info.error })
    }
    await Promise.all([producerShadow.close(), control.close()])
    const redisExit = await redis.stop(false)
    processes.push({ name: 'redis', pid: undefined, code: redisExit?.code, signal: redisExit?.signal, endedBy: 'stopped' })

    const verdict = judge({ producers, chaos, pool, runs, states, processes, drained })
    if (gatewayExits.length > 0) verdict.failures.push(`the gateway exited by itself: ${JSON.stringify(gatewayExits)}`)
    return verdict
  } finally {
    await Promise.allSettled([producerShadow.close(), control.close()])
    killAll()
  }
}
