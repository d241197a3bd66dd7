// The benchmark harness: `npm run bench [-- flags]`.
//
// Every scenario (scripts/bench/scenarios/*.mjs) is measured for shadows and its references (BullMQ,
// Bee-Queue, Fastify routes over BullMQ or one XADD, a bare Fastify route, a bare XREADGROUP/XACK
// loop, a bare ZADD, shadows with history and events off) alternately, A B A B, for --pairs pairs;
// each measurement runs in a fresh child process (lib/child.mjs), which is "the worker process",
// under its own queue name, and deletes its keys at the end. stdout gets one JSON line per figure and run, one JSON line per
// figure with its median, then a Markdown table; progress goes to stderr.
//
//   --quick          small sizes and short windows (under 2 minutes); the full run takes under 15
//   --only a,b       only these scenarios (drain, bulk, http, punctuality, idle, memory, scale, footprint,
//                    operators, limits)
//   --n N            override each scenario's main size (tasks; for scale the largest schedule; for
//                    operators the tasks drained, completed and stored failed, and at most N SSE clients)
//   --pairs P        A/B pairs per figure (default 3)
//   --url URL        the Redis to measure on (default BENCH_REDIS_URL or redis://127.0.0.1:6379);
//                    idle, memory, scale and operators (but for its drain) start private
//                    redis-servers so that INFO sees no one else
//   --dist DIR       the built library to measure (default BENCH_DIST or dist/, built when missing);
//                    its modules are found under DIR/src/ or, for an older build, under DIR/
//   --tag T          part of every queue name (default: random), bench-<tag>-<scenario>-...
//   --list           list the scenarios and exit
//
// Exit code: 0 when every run succeeded (targets missed are reported, not failed), 1 otherwise.
import { execFileSync, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { distUrl } from './lib/common.mjs'
import { markdownTable, summarize, summaryLines, tableRows } from './lib/report.mjs'

const SCENARIOS = ['drain', 'bulk', 'http', 'punctuality', 'idle', 'memory', 'scale', 'footprint', 'operators', 'limits']
const root = fileURLToPath(new URL('../../', import.meta.url))
const childScript = fileURLToPath(new URL('./lib/child.mjs', import.meta.url))

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    n: { type: 'string' },
    pairs: { type: 'string', default: '3' },
    url: { type: 'string' },
    dist: { type: 'string' },
    tag: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})

if (flags.help) {
  const text = (await import('node:fs')).readFileSync(fileURLToPath(import.meta.url), 'utf8')
  process.stdout.write(
    `${text
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n')}\n`,
  )
  process.exit(0)
}

const only = flags.only
  ? flags.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : SCENARIOS
const unknown = only.filter((s) => !SCENARIOS.includes(s))
if (unknown.length > 0) fail(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`)
const pairs = Number(flags.pairs)
if (!Number.isInteger(pairs) || pairs < 1) fail('--pairs must be a positive integer')
const n = flags.n === undefined ? undefined : Number(flags.n)
if (n !== undefined && (!Number.isInteger(n) || n < 1)) fail('--n must be a positive integer')
const url = flags.url ?? process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const tag = flags.tag ?? randomBytes(3).toString('hex')
if (!/^[A-Za-z0-9]{1,16}$/.test(tag)) fail('--tag must be 1-16 letters or digits')
const quick = flags.quick

const scenarios = []
for (const name of only) scenarios.push((await import(`./scenarios/${name}.mjs`)).scenario)
if (flags.list) {
  for (const s of (await Promise.all(SCENARIOS.map((name) => import(`./scenarios/${name}.mjs`)))).map((m) => m.scenario)) {
    process.stdout.write(`${s.name.padEnd(12)} ${s.title}\n`)
  }
  process.exit(0)
}

const distFlag = flags.dist ?? process.env.BENCH_DIST
const dist = resolve(distFlag ?? `${root}/dist`)
process.env.BENCH_DIST = dist
// either layout: <dist>/src/index.js or <dist>/index.js
if (!existsSync(new URL(distUrl('index.js')))) {
  if (distFlag) fail(`no built library in ${dist}`)
  log('# dist/ is missing: building it (node scripts/build.mjs)')
  execFileSync(process.execPath, [`${root}/scripts/build.mjs`], { stdio: ['ignore', 2, 2] })
}

const runStarted = Date.now()
log(`# shadows bench: ${quick ? 'quick' : 'full'} mode, ${pairs} pair(s), Redis ${url}, tag ${tag}, scenarios ${only.join(', ')}`)

const records = []
let failures = 0
for (const scenario of scenarios) {
  const scenarioStarted = Date.now()
  for (const c of scenario.cases({ quick, n })) {
    for (let pair = 1; pair <= pairs; pair++) {
      for (const system of c.systems) {
        const name = `bench-${tag}-${scenario.name}-${c.id}-${system}-${pair}`
        const started = Date.now()
        const result = await runChild({ scenario: scenario.name, caseId: c.id, system, params: c.params, url, name, quick, pair }, quick ? 120_000 : 900_000)
        const seconds = ((Date.now() - started) / 1000).toFixed(1)
        if (!result.ok) {
          failures += 1
          log(`# ${scenario.name} ${c.id} pair ${pair} ${system}: FAILED after ${seconds} s\n${indent(result.error)}`)
          await sweep(url, name)
          continue
        }
        for (const figure of result.figures) {
          const { figure: label, value, unit, ...extra } = figure
          const record = { scenario: scenario.name, figure: label, system, value, unit, case: c.id, pair, ...extra }
          records.push(record)
          process.stdout.write(`${JSON.stringify(record)}\n`)
        }
        const shown = result.figures
          .slice(0, 3)
          .map((f) => `${f.figure} ${f.value} ${f.unit}`)
          .join('; ')
        log(`# ${scenario.name} ${c.id} pair ${pair} ${system}: ${shown} (${seconds} s)`)
      }
    }
  }
  log(`# ${scenario.name} done in ${((Date.now() - scenarioStarted) / 1000).toFixed(1)} s`)
}

const leftovers = await sweep(url, `bench-${tag}-`, true)
if (leftovers > 0) log(`# removed ${leftovers} key(s) left behind by failed runs`)

const summaries = summarize(records)
for (const line of summaryLines(summaries)) process.stdout.write(`${line}\n`)
const elapsed = ((Date.now() - runStarted) / 1000).toFixed(1)
const notes = [
  `${quick ? 'quick' : 'full'} mode; ${pairs} A/B pair(s) per figure, each run in a fresh process; Redis ${url}; total ${elapsed} s.`,
  'BullMQ: a Worker with the same concurrency and a no-op processor; jobs added with removeOnComplete: true, removeOnFail: true (the memory scenario uses default job options).',
  ...scenarios.flatMap((s) => s.notes ?? []),
]
process.stdout.write(`\n${markdownTable(tableRows(scenarios, summaries))}\n\n${notes.map((note) => `- ${note}`).join('\n')}\n`)
if (failures > 0) log(`# ${failures} run(s) failed`)
process.exit(failures > 0 ? 1 : 0)

/** Forks one measurement and waits for its figures (or its failure, or the timeout). */
function runChild(spec, timeoutMs) {
  return new Promise((done) => {
    const child = fork(childScript, [JSON.stringify(spec)], { stdio: ['ignore', 2, 2, 'ipc'], env: process.env })
    let settled = false
    const settle = (result) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      done(result)
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      settle({ ok: false, error: `timed out after ${timeoutMs / 1000} s` })
    }, timeoutMs)
    child.on('message', (message) => settle(message))
    child.on('error', (err) => settle({ ok: false, error: err.stack }))
    child.on('exit', (code, signal) => settle({ ok: false, error: `exited with ${signal ?? code} before reporting` }))
  })
}

/** Deletes keys a failed run left on the shared Redis (shadows, BullMQ, Bee-Queue and bare key names). */
async function sweep(redisUrl, prefix, quiet = false) {
  const { Redis } = await import('ioredis')
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 })
  let deleted = 0
  try {
    for (const pattern of [`{${prefix}*`, `bull:${prefix}*`, `bq:${prefix}*`, `${prefix}*`]) {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000)
        cursor = next
        if (keys.length > 0) deleted += await redis.unlink(...keys)
      } while (cursor !== '0')
    }
  } catch (err) {
    if (!quiet) log(`# clean-up of ${prefix} failed: ${err.message}`)
  } finally {
    redis.disconnect()
  }
  return deleted
}

function log(line) {
  process.stderr.write(`${line}\n`)
}

function indent(text) {
  return String(text)
    .split('\n')
    .map((l) => `#   ${l}`)
    .join('\n')
}

function fail(message) {
  log(`bench: ${message}`)
  process.exit(2)
}
