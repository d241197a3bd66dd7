/**
 * The soak's judgement (scripts/soak/report.mjs): the fitted slope, which series it calls flat after
 * the warm-up, and the plot it writes. Synthetic series, so that a leak of a known size must be
 * caught and a flat series, noise and all, must pass.
 */
import t from 'tap'
// @ts-expect-error: a plain ES module of the scripts, without types
import { judgeSeries, memoryPlot, p99, slope, slopesTable } from '../../scripts/soak/report.mjs'

type Sample = { at: number; series: Record<string, { kind: string; value: number }> }

const MB = 1024 * 1024

/** Samples every 10 s for `minutes`, one series per entry of `make` (value at minute m). */
function samples(minutes: number, make: Record<string, [kind: string, (m: number, i: number) => number]>): Sample[] {
  const out: Sample[] = []
  for (let i = 0; i <= minutes * 6; i++) {
    const series: Sample['series'] = {}
    for (const [name, [kind, value]] of Object.entries(make)) series[name] = { kind, value: value(i / 6, i) }
    out.push({ at: 1_700_000_000_000 + i * 10_000, series })
  }
  return out
}

t.test('slope: least squares, per unit of x', async (t) => {
  t.equal(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2)
  t.equal(slope([0, 1, 2], [4, 4, 4]), 0)
  t.equal(slope([5], [1]), 0, 'one point has no slope')
  t.equal(p99([3, 1, 2]), 3)
  t.equal(p99(Array.from({ length: 200 }, (_, i) => i)), 197)
  t.equal(p99([]), undefined)
})

t.test('a leak is caught after the warm-up; flat and noisy series pass', async (t) => {
  // a jittering 80 MB process, one that gains 2 MB a minute, Redis flat, keys that fall
  const run = samples(30, {
    'gw.rss': ['rss', (_m, i) => 80 * MB + (i % 2 ? 1 : -1) * 3 * MB],
    'w1.heap': ['heap', (m) => 40 * MB + m * 2 * MB],
    'redis.mem': ['redisMemory', () => 20 * MB],
    'redis.keys': ['redisKeys', (m) => 50_000 - m * 100],
    'gw.loop': ['loopP99', (_m, i) => 12 + (i % 3)],
  })
  const verdict = judgeSeries(run, 4 * 60_000)
  t.ok(verdict.judged, 'judged: 26 minutes of samples after the warm-up')
  const byName = Object.fromEntries(verdict.rows.map((r: { name: string }) => [r.name, r])) as Record<string, { flat: boolean; perTenMinutes: number }>
  t.notOk(byName['w1.heap']!.flat, '2 MB a minute is a leak')
  t.ok(Math.abs(byName['w1.heap']!.perTenMinutes - 20 * MB) < 1, 'its slope: 20 MB per 10 min')
  t.ok(byName['gw.rss']!.flat, 'jitter around a flat line is flat')
  t.ok(byName['redis.mem']!.flat, 'flat')
  t.ok(byName['redis.keys']!.flat, 'a falling series is flat')
  t.ok(byName['gw.loop']!.flat, 'a flat delay')
  t.match(slopesTable(verdict), /\| w1\.heap \| .* \| NO \|/, 'the table says which grew')
})

t.test('growth during the warm-up alone does not count; too few samples are not judged', async (t) => {
  // grows for 3 minutes, then holds
  const run = samples(20, { 'gw.heap': ['heap', (m) => 30 * MB + Math.min(m, 3) * 10 * MB] })
  t.ok(judgeSeries(run, 4 * 60_000).rows[0].flat, 'flat once warmed up')
  t.notOk(judgeSeries(run, 0).rows[0].flat, 'the same series judged from the start grows')
  const short = judgeSeries(samples(1, { 'gw.heap': ['heap', (m) => 30 * MB + m * 50 * MB] }), 30_000)
  t.notOk(short.judged, 'a minute with a 30 s warm-up leaves too few samples to judge')
  t.match(slopesTable(short), /not judged/)
})

t.test('the plot: an SVG with a line and a legend entry per memory series, and the warm-up', async (t) => {
  const run = samples(5, {
    'gw.rss': ['rss', () => 80 * MB],
    'w1.rss': ['rss', () => 60 * MB],
    'redis.mem': ['redisMemory', () => 10 * MB],
    'gw.loop': ['loopP99', () => 3],
  })
  const svg = memoryPlot(run, { warmupMs: 60_000, title: 'a <title> & more' }) as string
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.equal((svg.match(/<polyline /g) ?? []).length, 3, 'one line per memory series, none for the delay')
  for (const name of ['gw.rss', 'w1.rss', 'redis.mem']) t.match(svg, `>${name}</text>`)
  t.notMatch(svg, 'gw.loop')
  t.match(svg, 'a &lt;title> &amp; more', 'the title is escaped')
  t.match(svg, '>warm-up</text>')
  t.match(svg, /<\/svg>\n$/)
})
