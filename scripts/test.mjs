// The test command: builds, makes sure a Redis answers (the one on 127.0.0.1:6379, or a private
// redis-server on a free port), runs every tap test, and ends with the line "N passed, N failed".
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
execFileSync(process.execPath, [`${root}/scripts/build.mjs`], { stdio: 'inherit' })
const { ensureRedis } = await import(`${root}/dist/src/cli/private-redis.js`)
const probed = process.env.SHADOWS_TEST_URL ?? 'redis://127.0.0.1:6379'
const redis = await ensureRedis(probed)
if (redis.private) console.log(`# no Redis answered at ${probed}; using a private redis-server at ${redis.url}`)

const tap = spawn(process.execPath, [`${root}/node_modules/tap/dist/esm/run.mjs`, '--reporter=tap', ...process.argv.slice(2)], {
  cwd: root,
  env: { ...process.env, SHADOWS_TEST_URL: redis.url },
  stdio: ['ignore', 'pipe', 'inherit'],
})
let passed = 0
let failed = 0
let buffer = ''
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  buffer += chunk
  const lines = buffer.split('\n')
  buffer = lines.pop() ?? ''
  for (const line of lines) {
    // count the tests inside each file: lines "    ok N - name" one level below the file's own line
    if (/^ {4}ok \d+/.test(line)) passed += 1
    else if (/^ {4}not ok \d+/.test(line) && !/# (TODO|SKIP)/.test(line)) failed += 1
  }
})
const code = await new Promise((resolve) => tap.on('close', resolve))
await redis.stop()
if (code !== 0 && failed === 0) failed = 1
console.log(`${passed} passed, ${failed} failed`)
process.exit(code === 0 && failed === 0 ? 0 : 1)
