/**
 * Drift guards: openapi.yaml is what the app generates; every route the app registers is in
 * openapi.yaml (and the other way round), and the contract's routes are all there; the error
 * registry, the Error schema's code enum and the README's Errors table agree.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { buildApp } from '../../src/gateway/app.js'
import { openApiDocument } from '../../src/gateway/openapi.js'
import { ERRORS, ERROR_CODES } from '../../src/index.js'
import { closeAdmin } from '../helpers/shadow.js'
import { TASKS, json, makeApp } from '../helpers/gateway.js'

t.teardown(closeAdmin)

const ROOT = new URL('../../', import.meta.url)
const yamlDocument = parse(readFileSync(new URL('openapi.yaml', ROOT), 'utf8')) as {
  paths: Record<string, Record<string, unknown>>
  components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> }
}

/** The routes of the HTTP contract (v1 and v2), as `METHOD /path` with OpenAPI-style parameters. */
const CONTRACT_ROUTES = [
  'POST /tasks',
  'POST /tasks/batch',
  'GET /tasks/{key}',
  'PUT /tasks/{key}',
  'DELETE /tasks/{key}',
  'GET /snapshot',
  'GET /strikes',
  'POST /strikes',
  'DELETE /strikes/{id}',
  'GET /workers',
  'GET /health/live',
  'GET /health/ready',
  'GET /metrics',
  'GET /docs',
  'GET /openapi.json',
  'GET /ui',
  'GET /ui/{file}',
  'GET /tasks',
  'POST /tasks/{key}/retry',
  'POST /tasks/retry',
  'GET /events',
]

/**
 * The routes of the browsable docs' page (Swagger UI): its assets and copies of the document.
 * They are not part of the API; openapi.yaml documents /docs itself.
 */
const DOCS_ASSETS = /^\/docs\//

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'])

/**
 * Every route `app.printRoutes()` shows, as `METHOD /path` with `{param}` for `:param`. The tree
 * gives one path segment per line, indented four characters per level.
 */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^([│├└─\s]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!match) continue
    const [, indent = '', segment = '', methods] = match
    const depth = Math.floor(indent.length / 4)
    stack.length = depth
    stack.push(segment)
    const path = stack.join('').replace(/:([A-Za-z_]\w*)/g, '{$1}')
    for (const method of methods?.split(',').map((m) => m.trim()) ?? []) routes.push(`${method} ${path}`)
  }
  return routes
}

/** Every operation of an OpenAPI document, as `METHOD /path`. */
function documentedRoutes(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.has(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  )
}

t.test('openapi.yaml is exactly what the app generates (regenerate with npm run openapi)', async (t) => {
  const generated = await openApiDocument()
  t.same(yamlDocument, generated, 'openapi.yaml deep-equals openApiDocument()')
  t.same(generated, yamlDocument, 'and the other way round (no extra fields)')

  const { app } = await makeApp(t)
  const served = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(served.statusCode, 200)
  t.same(json(served), yamlDocument, 'GET /openapi.json serves the same document')
})

t.test('every registered route is in openapi.yaml with the same methods, and the contract routes are all there', async (t) => {
  const app = await buildApp({ tasks: TASKS, url: 'redis://127.0.0.1:1', connectTimeout: 0 })
  t.teardown(() => app.close())
  await app.ready()
  const registered = registeredRoutes(app.printRoutes({ commonPrefix: false }))
  t.ok(registered.length >= CONTRACT_ROUTES.length, `found ${registered.length} routes`)

  // Fastify answers HEAD for every GET route; those are the only HEAD routes
  const heads = registered.filter((route) => route.startsWith('HEAD '))
  for (const head of heads) t.ok(registered.includes(head.replace(/^HEAD /, 'GET ')), `${head} is the automatic HEAD of a GET route`)

  const api = registered.filter((route) => !route.startsWith('HEAD ') && !DOCS_ASSETS.test(route.split(' ')[1] ?? ''))
  const documented = documentedRoutes(yamlDocument)
  t.same([...api].sort(), [...documented].sort(), 'the registered routes (but HEAD and the docs assets) are exactly the documented ones')
  for (const route of CONTRACT_ROUTES) t.ok(registered.includes(route), `${route} is registered`)
  t.same([...documented].sort(), [...CONTRACT_ROUTES].sort(), 'openapi.yaml documents exactly the contract routes')
  for (const route of registered.filter((r) => DOCS_ASSETS.test(r.split(' ')[1] ?? ''))) {
    t.match(route, /^(GET|HEAD) \/docs\//, `${route} is a read-only docs asset`)
  }
})

t.test('GET /events is documented as a text/event-stream, and its filters and Last-Event-ID as parameters', async (t) => {
  const operation = yamlDocument.paths['/events']?.get as {
    responses: Record<string, { content?: Record<string, unknown> }>
    parameters: { in: string; name: string }[]
  }
  t.same(Object.keys(operation.responses['200']?.content ?? {}), ['text/event-stream'], 'the stream, not JSON')
  t.same(operation.parameters.map((p) => `${p.in} ${p.name}`).sort(), ['header last-event-id', 'query key', 'query task', 'query type'])
  const list = yamlDocument.paths['/tasks']?.get as { parameters: { name: string; required?: boolean }[] }
  t.same(
    list.parameters.map((p) => `${p.name}${p.required ? '' : '?'}`),
    ['state', 'task?', 'limit?', 'cursor?'],
    'GET /tasks: state is required',
  )
})

t.test('the error registry, the Error schema and the README Errors table agree', async (t) => {
  const registry = ERROR_CODES.map((code) => [code, ERRORS[code].status, ERRORS[code].summary] as const)
  t.ok(registry.length > 0)

  const enumCodes = yamlDocument.components.schemas.Error?.properties.code?.enum
  t.same(enumCodes, [...ERROR_CODES], 'the Error schema lists every code, in registry order')

  const readme = readFileSync(new URL('README.md', ROOT), 'utf8')
  const section = /^## Errors\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? ''
  t.ok(section.length > 0, 'README.md has an "## Errors" section')
  const rows = [...section.matchAll(/^\| `(SHADOWS_ERR_[A-Z_]+)` \| (\d{3}) \| (.*?) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]] as const)
  t.same(rows, registry, 'the README table lists every code with its status and meaning, in registry order')

  // each status in the registry is a real HTTP status whose errors are documented by some route
  const documentedStatuses = new Set(
    Object.values(yamlDocument.paths).flatMap((item) =>
      Object.values(item).flatMap((operation) => Object.keys((operation as { responses?: Record<string, unknown> }).responses ?? {})),
    ),
  )
  for (const [code, status] of registry) {
    if (status === 500) continue // an internal error is never planned for
    t.ok(documentedStatuses.has(String(status)), `${code}: some route documents status ${status}`)
  }
})

t.test('every route that parses a body documents the 413 and 415 it answers to an overlong or non-JSON one', async (t) => {
  const { app } = await makeApp(t, { bodyLimit: 1024 })
  const samples: Record<string, string> = { '{key}': 'contract-k', '{id}': 'contract-id' }
  for (const [path, item] of Object.entries(yamlDocument.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      if (!['post', 'put', 'delete'].includes(method)) continue
      const url = path.replace(/\{\w+\}/g, (param) => samples[param] ?? 'x')
      const responses = (operation as { responses?: Record<string, unknown> }).responses ?? {}
      const route = `${method.toUpperCase()} ${path}`
      const plain = await app.inject({ method: method.toUpperCase() as 'POST', url, payload: 'hello', headers: { 'content-type': 'text/plain' } })
      t.equal(plain.statusCode, 415, `${route}: a text/plain body is a 415`)
      t.ok('415' in responses, `${route}: openapi.yaml documents its 415`)
      const long = await app.inject({
        method: method.toUpperCase() as 'POST',
        url,
        payload: JSON.stringify({ pad: 'x'.repeat(2048) }),
        headers: { 'content-type': 'application/json' },
      })
      t.equal(long.statusCode, 413, `${route}: a body over the limit is a 413`)
      t.ok('413' in responses, `${route}: openapi.yaml documents its 413`)
    }
  }
  // an id no strike can have (strike ids are short) is refused before Redis is asked
  const restore = await app.inject({ method: 'DELETE', url: `/strikes/${'x'.repeat(1001)}` })
  t.equal(restore.statusCode, 400, 'DELETE /strikes/{id} with an overlong id is a 400')
  t.ok('400' in ((yamlDocument.paths['/strikes/{id}']?.delete as { responses?: object })?.responses ?? {}), 'and openapi.yaml documents its 400')
})
