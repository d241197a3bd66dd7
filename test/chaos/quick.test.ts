import t from 'tap'
import { runHarness } from '../fixtures/chaos/worker-process.js'

// the quick run is bounded by its own watchdog (about 4 minutes at worst); this is a backstop
t.setTimeout(360_000)

t.test('the quick chaos run passes (node scripts/chaos/run.mjs --quick --seed 1)', async (t) => {
  const { exit, stdout, stderr } = await runHarness(t, 'scripts/chaos/run.mjs', ['--quick', '--seed', '1'])
  const last = stdout.trimEnd().split('\n').at(-1) ?? ''
  t.comment(stdout.trimEnd())
  const diagnostics = { stderr: stderr.trimEnd().split('\n').slice(-20).join('\n') }
  t.same(exit, { code: 0, signal: null }, 'the run exits 0', diagnostics)
  t.equal(last, 'chaos: PASS', 'its last line says PASS', diagnostics)
})
