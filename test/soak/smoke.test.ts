/**
 * The soak run works end to end at a small size: a minute of load through HTTP and the library,
 * samples every 5 s, a 10 s execution TTL so that records expire within the test. It must pass its
 * own checks (no add refused, finished records with the TTL, nothing left in Redis but what its
 * bounds allow, every process exiting 0), print its tables and write its plot. A minute is too
 * short to judge the slopes (that is what `npm run soak -- --minutes 30` is for): the report says so.
 */
import t from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runHarness } from '../fixtures/chaos/worker-process.js'

t.setTimeout(300_000)

t.test('npm run soak -- --minutes 1 passes, prints its tables and writes its plot', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'shadows-soak-test-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const args = ['--minutes', '1', '--rate', '100', '--sample', '5', '--ttl', '10', '--warmup', '60', '--out', out]
  const { exit, stdout, stderr } = await runHarness(t, 'scripts/soak/run.mjs', args)
  const diagnostics = { stderr: stderr.trimEnd().split('\n').slice(-20).join('\n') }
  t.comment(stdout.trimEnd())
  t.same(exit, { code: 0, signal: null }, 'the run exits 0', diagnostics)
  t.match(stdout.trimEnd().split('\n').at(-1), /^soak: PASS/, 'its last line says PASS', diagnostics)
  const report = readFileSync(join(out, 'soak-report.md'), 'utf8')
  t.match(report, /^\| t \(s\) \| gw\.rss MB \| gw\.heap MB \| gw\.loop ms \|/m, 'the samples table')
  const rows = report.split('\n').filter((line) => /^\| \d+ \|/.test(line))
  t.ok(rows.length >= 10, `a row per sample (${rows.length})`)
  for (const series of ['w1.rss', 'w2.heap', 'redis.mem', 'redis.keys', 'late.p99']) t.match(report, series)
  t.match(report, /\| series \| mean \| slope per 10 min \| bound per 10 min \| flat \|/, 'the slopes table')
  t.match(report, /not judged/, 'a minute is not judged')
  t.match(report, /0 task records/, 'no record outlived its TTL')
  t.ok(existsSync(join(out, 'soak-memory.svg')), 'the plot')
  t.match(readFileSync(join(out, 'soak-memory.svg'), 'utf8'), /^<svg [^>]*>[\s\S]*<polyline [\s\S]*<\/svg>\n$/)
})
