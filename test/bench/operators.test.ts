/**
 * The operators scenario of the benchmark harness works: at a tiny size, one pair, it exits 0,
 * reports a figure for each of its parts (drain with history and events on and off and BullMQ,
 * Redis memory, list latency, idle SSE clients) and leaves no key behind. No figure is judged:
 * benchmarks print numbers, tests check behaviour.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { keysMatching, runBench, url, type Figure } from './run-bench.js'

t.test('bench --only operators at a tiny size reports every part and cleans up', { timeout: 300_000 }, async (t) => {
  const tag = `smoke${randomBytes(3).toString('hex')}`
  const { code, stdout, stderr } = await runBench(['--quick', '--only', 'operators', '--n', '200', '--pairs', '1', '--url', url, '--tag', tag])
  t.equal(code, 0, 'exits 0', { stderr })

  const runs = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Figure)
    .filter((f) => f.stat === undefined)
  t.same(
    [...new Set(runs.map((f) => f.system))].sort(),
    ['bullmq', 'shadows', 'shadows-off'],
    'the drain is measured with history and events on, with both off, and for BullMQ',
  )
  const expected = [
    'drain throughput c=100',
    'finished task, history and events off',
    'history per finished task',
    'events per finished task',
    'history + events per finished task, default limits',
    'history indexes at the default limit',
    'events log at the default limit',
    'GET /tasks?state=failed&limit=100 median',
    'GET /tasks?state=failed&limit=100 p99',
    'shadow.list failed limit=100 median',
    'shadow.list failed limit=100 p99',
    'gateway RSS with 200 SSE clients',
    'gateway RSS per SSE client',
    'gateway heap per SSE client',
    'Redis connections added by the SSE clients',
    'one event fanned out to 200 SSE clients',
  ]
  t.same([...new Set(runs.map((f) => f.figure))].sort(), [...expected].sort(), 'one figure per measurement of every part')
  t.same(
    runs.filter((f) => f.scenario !== 'operators' || typeof f.value !== 'number' || !Number.isFinite(f.value) || f.unit === ''),
    [],
    'every line names its scenario, a number and its unit',
  )
  t.match(stdout, /^\| operators: drain throughput c=100 \(tasks\/s\) \| [\d,]+ \| [\d,]+ \| [\d.]+× \| ≥ 3× BullMQ, history and events on \| (yes|NO) \|$/m)
  t.match(stdout, /^\| operators: drain throughput c=100 \(tasks\/s\) — shadows-off \| shadows, history and events off: [\d,]+ \| [\d,]+ \| [\d.]+× \|/m)

  t.same(await keysMatching(`*bench-${tag}-*`), [], 'no key left behind')
})
