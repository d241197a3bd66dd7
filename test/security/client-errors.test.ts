/**
 * What a library inside the gateway refuses with a 4xx stays a 4xx: the docs' static files refuse
 * path traversal and bad bytes (403, 400), and the gateway answers that status in the one error
 * shape and logs it at info, without a stack. Otherwise anyone could fill the error log with
 * stack traces by asking for `/docs/static/../../etc/passwd`.
 */
import t from 'tap'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino } from 'pino'
import { assertError, makeApp } from '../helpers/gateway.js'
import { closeAdmin } from '../helpers/shadow.js'

t.teardown(closeAdmin)

/** GETs `path` byte for byte (no normalisation on the way) over a real socket. */
function get(port: number, path: string): Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('path traversal and bad bytes under /docs/static/ are 4xx in the one error shape, logged at info', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'trace' }, { write: (line: string) => lines.push(line) })
  const { app } = await makeApp(t, { logger })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const paths = [
    '/docs/static/../../package.json',
    '/docs/static/%2e%2e/%2e%2e/package.json',
    '/docs/static/.%2e/x',
    '/docs/static/..%5c..%5cpackage.json',
    '/docs/static/%2e%2e',
    '/docs/static/a%00b',
  ]
  for (const path of paths) {
    const answer = await get(port, path)
    t.ok(answer.statusCode >= 400 && answer.statusCode < 500, `${path}: a 4xx (${answer.statusCode})`)
    if (answer.statusCode === 403) assertError(t, answer, 403, 'SHADOWS_ERR_FORBIDDEN', path)
    else if (answer.statusCode === 404) assertError(t, answer, 404, 'SHADOWS_ERR_NOT_FOUND', path)
    else assertError(t, answer, 400, 'SHADOWS_ERR_VALIDATION', path)
  }
  const logged = lines.map((line) => JSON.parse(line) as { level: number; msg?: string; err?: { stack?: string } })
  t.same(
    logged.filter((entry) => entry.level >= 50),
    [],
    'nothing was logged at error level',
  )
  t.same(
    logged.filter((entry) => entry.err?.stack !== undefined),
    [],
    'no stack trace was logged',
  )
  t.ok(
    logged.some((entry) => entry.level === 30 && entry.msg === 'request refused'),
    'the refusals were logged at info',
  )
  const real = await get(port, '/docs/static/index.css')
  t.equal(real.statusCode, 200, 'the static files are still served')
})
