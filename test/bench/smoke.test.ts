/**
 * The benchmark harness works: a quick drain run with a small N exits 0, prints one JSON line per
 * figure and a Markdown table, and leaves no key behind; it finds the built library under either
 * layout of dist/. No timing is asserted: benchmarks print numbers, tests check behaviour.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { keysMatching, root, runBench, url, type Figure } from './run-bench.js'

t.test('bench --quick --only drain prints JSON lines and a table, and cleans up', { timeout: 300_000 }, async (t) => {
  const tag = `smoke${randomBytes(3).toString('hex')}`
  const { code, stdout, stderr } = await runBench(['--quick', '--only', 'drain', '--n', '500', '--url', url, '--tag', tag])
  t.equal(code, 0, 'exits 0', { stderr })

  const figures = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Figure)
  const runs = figures.filter((f) => f.stat === undefined)
  const medians = figures.filter((f) => f.stat === 'median')
  t.ok(runs.length > 0, 'one JSON line per figure and run')
  const malformed = figures.filter(
    (f) =>
      f.scenario !== 'drain' ||
      !/^throughput c=(1|10|100)$/.test(f.figure) ||
      !['shadows', 'bullmq', 'beequeue', 'bare'].includes(f.system) ||
      typeof f.value !== 'number' ||
      !(f.value > 0) ||
      f.unit !== 'tasks/s',
  )
  t.same(malformed, [], 'every line names scenario, figure, system, a positive value and its unit')
  t.same(
    [...new Set(runs.map((f) => f.system))].sort(),
    ['bare', 'beequeue', 'bullmq', 'shadows'],
    'shadows, BullMQ, Bee-Queue and the bare loop were measured',
  )
  t.same([...new Set(runs.map((f) => f.pair))].sort(), [1, 2, 3], 'three A/B pairs')
  t.equal(medians.length, 8, 'a median per figure and system: 3 levels × 2 systems + Bee-Queue and the bare ceiling at c=100')
  t.ok(
    medians.every((f) => f.runs === 3),
    'each median over three runs',
  )

  t.match(stdout, /^\| figure \| shadows median \(min–max\) \| BullMQ median \(min–max\) \| ratio \| target \| met\? \|$/m, 'a Markdown table')
  t.match(stdout, /^\| drain: throughput c=100 \(tasks\/s\) \| [\d,]+ \([\d,]+–[\d,]+\) \| [\d,]+ \([\d,]+–[\d,]+\) \| [\d.]+× \| ≥ 3× BullMQ \| (yes|NO) \|$/m)

  t.same(await keysMatching(`*bench-${tag}-*`), [], 'no key left behind')
})

t.test('the built library is found under <dist>/src/ or, for an older build, under <dist>/', async (t) => {
  const common = (await import(pathToFileURL(`${root}/scripts/bench/lib/common.mjs`).href)) as {
    distUrl: (relative: string) => string
    lib: (relative?: string) => Promise<{ layout: string }>
  }
  const saved = process.env.BENCH_DIST
  const older = mkdtempSync(join(tmpdir(), 'bench-dist-'))
  const newer = mkdtempSync(join(tmpdir(), 'bench-dist-'))
  t.teardown(() => {
    if (saved === undefined) delete process.env.BENCH_DIST
    else process.env.BENCH_DIST = saved
    rmSync(older, { recursive: true, force: true })
    rmSync(newer, { recursive: true, force: true })
  })
  // as in the project, whose package.json makes .js files ES modules
  for (const dir of [older, newer]) writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n')
  mkdirSync(join(older, 'gateway'))
  writeFileSync(join(older, 'index.js'), "export const layout = 'older'\n")
  writeFileSync(join(older, 'gateway', 'app.js'), '')
  mkdirSync(join(newer, 'src', 'gateway'), { recursive: true })
  writeFileSync(join(newer, 'src', 'index.js'), "export const layout = 'newer'\n")
  writeFileSync(join(newer, 'src', 'gateway', 'app.js'), '')
  // a stray top-level file of the same name must not win over src/
  writeFileSync(join(newer, 'index.js'), "export const layout = 'stray'\n")

  process.env.BENCH_DIST = older
  t.equal(common.distUrl('gateway/app.js'), pathToFileURL(join(older, 'gateway', 'app.js')).href)
  t.equal((await common.lib()).layout, 'older')
  process.env.BENCH_DIST = newer
  t.equal(common.distUrl('gateway/app.js'), pathToFileURL(join(newer, 'src', 'gateway', 'app.js')).href)
  t.equal((await common.lib()).layout, 'newer')
})
