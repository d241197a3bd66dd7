import t from 'tap'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { childEnv, waitForDist } from '../fixtures/chaos/worker-process.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

// the quick run is bounded by its own watchdog (about 4 minutes at worst); this is a backstop
t.setTimeout(360_000)

t.test('the quick chaos run passes (node scripts/chaos/run.mjs --quick --seed 1)', async (t) => {
  await waitForDist()
  const child = spawn(process.execPath, [join(ROOT, 'scripts/chaos/run.mjs'), '--quick', '--seed', '1'], {
    cwd: ROOT,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  // the run kills what it started when it gets SIGTERM; SIGKILL if it does not end
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  })

  const exit = await exited
  const lines = stdout.trimEnd().split('\n')
  const last = lines.at(-1) ?? ''
  t.comment(stdout.trimEnd())
  const diagnostics = { stderr: stderr.trimEnd().split('\n').slice(-20).join('\n') }
  t.same(exit, { code: 0, signal: null }, 'the run exits 0', diagnostics)
  t.equal(last, 'chaos: PASS', 'its last line says PASS', diagnostics)
})
