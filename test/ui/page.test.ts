/**
 * GET /ui and its files, over HTTP without a browser: public with tokens configured, a strict CSP
 * on the page, gzip when accepted, 304 for a current ETag, /ui/ sent to /ui, unknown and odd
 * names refused. No file of the page writes HTML from strings. Prints what the page weighs.
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'
import { CONTENT_SECURITY_POLICY } from '../../routes/ui/index.js'
import { ASSETS_DIR, acceptsGzip, matchesEtag } from '../../routes/ui/assets.js'
import { assertError, makeApp } from '../helpers/gateway.js'
import { closeAdmin } from '../helpers/shadow.js'

t.teardown(closeAdmin)

const FILES = readdirSync(ASSETS_DIR).filter((name) => name !== 'index.html')

t.test('the page and its files are public, even with tokens, and the API behind them is not', async (t) => {
  const { app } = await makeApp(t, { tokens: 'ui-read-token-1:read' })
  const page = await app.inject({ method: 'GET', url: '/ui' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
  t.equal(page.headers['content-security-policy'], CONTENT_SECURITY_POLICY)
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.match(page.body, /<script type="module" src="ui\/app\.js"><\/script>/)
  t.notMatch(page.body, /<script>|<script [^>]*>[^<]/, 'no inline script')
  t.notMatch(page.body, /https?:\/\//, 'nothing from elsewhere')
  for (const name of FILES) {
    const file = await app.inject({ method: 'GET', url: `/ui/${name}` })
    t.equal(file.statusCode, 200, `${name} is served`)
    t.equal(file.body, readFileSync(new URL(name, ASSETS_DIR), 'utf8'), `${name} as it is`)
    t.match(file.headers['content-type'], name.endsWith('.css') ? /^text\/css/ : /^text\/javascript/)
  }
  assertError(t, await app.inject({ method: 'GET', url: '/snapshot' }), 401, 'SHADOWS_ERR_UNAUTHORIZED', 'the API still needs the token')
})

t.test('the policy allows only the gateway itself', async (t) => {
  t.match(CONTENT_SECURITY_POLICY, /default-src 'self'(;|$)/)
  t.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/)
  t.match(CONTENT_SECURITY_POLICY, /style-src 'self'(;|$)/)
  t.match(CONTENT_SECURITY_POLICY, /connect-src 'self'(;|$)/)
  t.match(CONTENT_SECURITY_POLICY, /object-src 'none'(;|$)/)
  t.match(CONTENT_SECURITY_POLICY, /frame-ancestors 'none'(;|$)/)
  t.notMatch(CONTENT_SECURITY_POLICY, /unsafe-|\*/, 'no unsafe-inline, unsafe-eval or wildcard')
})

t.test('gzip when accepted, 304 for a current ETag, and what the page weighs', async (t) => {
  const { app } = await makeApp(t)
  let plainBytes = 0
  let gzipBytes = 0
  for (const url of ['/ui', ...FILES.map((name) => `/ui/${name}`)]) {
    const plain = await app.inject({ method: 'GET', url })
    const zipped = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip, deflate, br' } })
    t.equal(zipped.headers['content-encoding'], 'gzip', `${url} gzipped`)
    t.equal(zipped.headers.vary, 'accept-encoding')
    t.equal(gunzipSync(zipped.rawPayload).toString('utf8'), plain.body, `${url}: the same file`)
    t.not(zipped.headers.etag, plain.headers.etag, 'each form has its own ETag')
    const again = await app.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip', 'if-none-match': String(zipped.headers.etag) } })
    t.equal(again.statusCode, 304, `${url}: 304 when current`)
    t.equal(again.body, '')
    plainBytes += plain.rawPayload.length
    gzipBytes += zipped.rawPayload.length
  }
  t.comment(`the dashboard: ${FILES.length + 1} files, ${plainBytes} bytes, ${gzipBytes} bytes gzipped (bodies; headers not counted)`)
})

/** Every way of asking for something beside the dashboard's files: each must be a plain 404. */
const REFUSED = [
  '/ui/nothing.js',
  '/ui/index.html',
  '/ui/assets.ts',
  '/ui/index.ts',
  '/ui/../package.json',
  '/ui/..%2Fpackage.json',
  '/ui/..%2fassets.ts',
  '/ui/%2e%2e/package.json',
  '/ui/%2e%2e%2fpackage.json',
  '/ui/%2E%2E%2F%2E%2E%2Fpackage.json',
  '/ui/..%5cpackage.json',
  '/ui/%252e%252e%252fpackage.json',
  '/ui/..',
  '/ui/%2e%2e',
  '/ui/.hidden.js',
  '/ui/APP.JS',
  '/ui/app.js%00.css',
  '/ui/app.js%2f',
  '/ui/a/b.js',
  '/ui/assets/app.js',
  `/ui/${'a'.repeat(200)}.js`,
]

t.test('/ui/ redirects to /ui; unknown names and path traversal are a plain 404', async (t) => {
  const { app } = await makeApp(t)
  const slash = await app.inject({ method: 'GET', url: '/ui/' })
  t.equal(slash.statusCode, 301)
  t.equal(slash.headers.location, '../ui')
  for (const url of REFUSED) {
    const answer = await app.inject({ method: 'GET', url })
    assertError(t, answer, 404, 'SHADOWS_ERR_NOT_FOUND', url)
    t.notMatch(answer.body, /"shadows"|import |<html/, `${url}: nothing of any file`)
  }
})

t.test('path traversal over a real socket, the path sent exactly as written', async (t) => {
  const { app } = await makeApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  // fetch() and URL would resolve the dots before sending: http.get sends the path untouched
  const rawGet = (path: string) =>
    new Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (body += chunk))
        response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, headers: response.headers, body }))
      }).on('error', reject)
    })
  t.equal((await rawGet('/ui/app.js')).statusCode, 200, 'a file of the page')
  for (const path of REFUSED) assertError(t, await rawGet(path), 404, 'SHADOWS_ERR_NOT_FOUND', path)
})

t.test('header parsing', async (t) => {
  t.ok(acceptsGzip('gzip'))
  t.ok(acceptsGzip('deflate, GZIP;q=0.5'))
  t.ok(acceptsGzip('*'))
  t.notOk(acceptsGzip(undefined))
  t.notOk(acceptsGzip('br'))
  t.notOk(acceptsGzip('gzip;q=0'))
  t.notOk(acceptsGzip('gzip;q=0.0, br'))
  t.ok(matchesEtag('"a", "b"', '"b"'))
  t.ok(matchesEtag('W/"b"', '"b"'))
  t.ok(matchesEtag('*', '"b"'))
  t.notOk(matchesEtag('"a"', '"b"'))
  t.notOk(matchesEtag(undefined, '"b"'))
})

t.test('the page builds its DOM from text: no innerHTML, outerHTML, insertAdjacentHTML, document.write or eval', async (t) => {
  for (const name of FILES.filter((n) => n.endsWith('.js'))) {
    const source = readFileSync(new URL(name, ASSETS_DIR), 'utf8')
    t.notMatch(source, /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|DOMParser/, name)
  }
})
