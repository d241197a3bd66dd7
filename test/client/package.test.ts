/**
 * shadows/client as published: `npm run build` emits it, package.json `exports` names it, its
 * JavaScript loads only its own files, and it works with nothing but the web platform's globals
 * (no process, Buffer, require or node: module), as in a browser.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import * as source from '../../src/http-client/index.js'
import { closeAdmin } from '../helpers/shadow.js'
import { serve } from '../helpers/client.js'

t.teardown(closeAdmin)

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DIST = `${ROOT}dist/src/http-client`

t.test('package.json exports ./client: types and import from dist', async (t) => {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { exports: Record<string, { types: string; import: string }> }
  t.same(pkg.exports['./client'], { types: './dist/src/http-client/index.d.ts', import: './dist/src/http-client/index.js' })
  t.ok(existsSync(`${DIST}/index.js`) && existsSync(`${DIST}/index.d.ts`), 'npm run build emitted both')
  // a variable, so that the compiler does not need dist/ to check this file
  const specifier = 'shadows/client'
  const published = (await import(specifier)) as Record<string, unknown>
  t.same(Object.keys(published).sort(), Object.keys(source).sort(), "import 'shadows/client' gives the same exports as the source")
})

t.test('the built JavaScript imports only its own files', async (t) => {
  for (const file of readdirSync(DIST).filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(`${DIST}/${file}`, 'utf8')
    const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2])
    const foreign = specifiers.filter((s) => !s?.startsWith('./'))
    t.same(foreign, [], `${file}: only ./ imports`)
  }
})

t.test('it works with only the web platform’s globals, against a real gateway', async (t) => {
  const { baseUrl } = await serve(t)
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--experimental-vm-modules', '--no-warnings', `${ROOT}test/fixtures/client/web-only.mjs`, DIST, baseUrl],
    { timeout: 30_000 },
  )
  t.same(JSON.parse(stdout), {
    added: 'queued',
    notFound: 'SHADOWS_ERR_NOT_FOUND',
    event: 'added',
    cancelled: 'cancelled',
    nodeGlobals: ['undefined', 'undefined', 'undefined'],
    imported: ['./client.js', './errors.js', './events.js', './request.js', './sse.js'],
  })
})
