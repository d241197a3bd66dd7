/**
 * openapi.yaml is good input for client generators: every operation has a unique operationId, the
 * document has servers and a license, and Redocly's recommended rules pass with no error and no
 * warning. The few problems `.redocly.lint-ignore.yaml` sets aside must still be what it says.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

interface Operation {
  operationId?: string
  security?: unknown[]
  responses?: Record<string, unknown>
}

const document = parse(readFileSync(`${ROOT}openapi.yaml`, 'utf8')) as {
  info: { license?: { name?: string; identifier?: string } }
  servers?: { url: string }[]
  paths: Record<string, Record<string, Operation>>
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])

const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => HTTP_METHODS.has(method))
    .map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, path, method, operation })),
)

/** A problem of Redocly's JSON report. */
interface Problem {
  ruleId: string
  severity: 'error' | 'warn'
  message: string
  location?: { pointer?: string }[]
}

/** Runs the linter installed as a dev dependency; no config: its built-in recommended rules. */
async function lint(): Promise<{ totals: { errors: number; warnings: number; ignored: number }; problems: Problem[] }> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [`${ROOT}node_modules/@redocly/cli/bin/cli.js`, 'lint', 'openapi.yaml', '--format=json'],
      {
        cwd: ROOT,
        // no usage telemetry, no check for a newer version: the linter runs offline
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_NOTIFICATIONS: 'true' },
        maxBuffer: 16 * 1024 * 1024,
      },
      // it exits non-zero when it finds an error: the report on stdout says which
      (err, out, stderr) => (out.trim().startsWith('{') ? resolve(out) : reject(new Error(`redocly lint printed no report: ${String(err)}\n${stderr}`))),
    )
  })
  return JSON.parse(stdout) as Awaited<ReturnType<typeof lint>>
}

t.test('every operation has a camelCase operationId, each a different one', async (t) => {
  t.ok(operations.length > 0)
  for (const { route, operation } of operations) t.match(operation.operationId, /^[a-z][A-Za-z]*$/, `${route}: ${operation.operationId}`)
  const ids = operations.map(({ operation }) => operation.operationId)
  t.same([...new Set(ids)].sort(), [...ids].sort(), 'no two operations share an operationId')
})

t.test('the document has servers and the MIT license', async (t) => {
  t.ok((document.servers ?? []).length > 0, 'servers')
  t.same(document.info.license, { name: 'MIT', identifier: 'MIT' }, 'the package license, as an SPDX identifier')
})

t.test("Redocly's recommended rules pass with no error and no warning", async (t) => {
  const report = await lint()
  const listed = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location?.[0]?.pointer ?? '?'}: ${p.message}`)
  t.equal(report.totals.errors, 0, 'no error')
  t.equal(report.totals.warnings, 0, 'no warning')
  t.same(listed, [], 'no problem at all')
})

t.test('the problems the lint ignores are public operations that answer no 4xx', async (t) => {
  const ignore = parse(readFileSync(`${ROOT}.redocly.lint-ignore.yaml`, 'utf8')) as Record<string, Record<string, string[]>>
  t.same(Object.keys(ignore), ['openapi.yaml'])
  t.same(Object.keys(ignore['openapi.yaml'] ?? {}), ['operation-4xx-response'], 'only operation-4xx-response is ever ignored')
  for (const pointer of ignore['openapi.yaml']?.['operation-4xx-response'] ?? []) {
    const [, path = '', method = ''] = /^#\/paths\/([^/]+)\/(\w+)\/responses$/.exec(pointer) ?? []
    const operation = document.paths[path.replaceAll('~1', '/').replaceAll('~0', '~')]?.[method]
    t.ok(operation, `${pointer} is an operation of openapi.yaml`)
    t.same(operation?.security, [], `${pointer} is public`)
    t.same(
      Object.keys(operation?.responses ?? {}).filter((status) => status.startsWith('4')),
      [],
      `${pointer} documents no 4xx`,
    )
  }
})
