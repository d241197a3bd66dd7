/**
 * What a real gateway never sends but a proxy or a network may: answers that are not the
 * gateway's (a proxy's HTML page, a body that is not JSON), a Retry-After as an HTTP date, and
 * Server-Sent Events split anywhere, with CR, LF or CRLF. A fake `fetch` gives these answers.
 */
import t from 'tap'
import { ShadowsClient, ShadowsError, type RetryInfo } from '../../src/http-client/index.js'
import { retryAfterMs } from '../../src/http-client/errors.js'
import { SseParser, type SseMessage } from '../../src/http-client/sse.js'

/** A fetch that answers each call with the next of `answers`, and records the requests. */
function fakeFetch(answers: (() => Response)[]) {
  const requests: { url: string; init: RequestInit | undefined }[] = []
  const fetch = async (input: string | URL | Request, init?: RequestInit) => {
    requests.push({ url: String(input), init })
    const answer = answers.shift()
    if (!answer) throw new Error('no more answers')
    return answer()
  }
  return { fetch: fetch as typeof globalThis.fetch, requests }
}

t.test('an answer that is not the gateway’s: SHADOWS_ERR_UNEXPECTED_RESPONSE with its status', async (t) => {
  const { fetch } = fakeFetch([
    () => new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway', headers: { 'content-type': 'text/html' } }),
    () => new Response('not json', { status: 200 }),
  ])
  const client = new ShadowsClient({ baseUrl: 'http://gateway.test', fetch })
  await t.rejects(client.snapshot(), { name: 'ShadowsError', code: 'SHADOWS_ERR_UNEXPECTED_RESPONSE', status: 502, message: /502 Bad Gateway: <html>/ })
  await t.rejects(client.snapshot(), { code: 'SHADOWS_ERR_UNEXPECTED_RESPONSE', status: 200, message: /not JSON/ })
})

t.test('requests: the method, path, JSON body, token, and a Date sent as RFC 3339', async (t) => {
  const ok = () => new Response('{"key":"k","task":"greet","when":"2026-11-28T10:00:00.000Z","state":"scheduled"}', { status: 202 })
  const { fetch, requests } = fakeFetch([ok, ok])
  const client = new ShadowsClient({ baseUrl: 'https://gateway.test/prefix/', token: 's3cret-token', fetch })
  await client.add({ task: 'greet', key: 'k', when: new Date('2026-11-28T10:00:00Z') })
  await client.replace('a:b@c', { task: 'greet' })
  const [add, replace] = requests
  t.equal(add?.url, 'https://gateway.test/prefix/tasks')
  t.equal(add?.init?.method, 'POST')
  t.same(JSON.parse(String(add?.init?.body)), { task: 'greet', key: 'k', when: '2026-11-28T10:00:00.000Z' })
  t.match(add?.init?.headers, { authorization: 'Bearer s3cret-token', 'content-type': 'application/json', accept: 'application/json' })
  t.equal(replace?.url, 'https://gateway.test/prefix/tasks/a%3Ab%40c', 'the key as a path segment')
  t.equal(replace?.init?.method, 'PUT')
})

t.test('a 503 with Retry-After as an HTTP date', async (t) => {
  const unavailable = () =>
    new Response('{"statusCode":503,"code":"SHADOWS_ERR_UNAVAILABLE","error":"Service Unavailable","message":"Redis is away"}', {
      status: 503,
      headers: { 'retry-after': new Date(Date.now() + 1000).toUTCString() },
    })
  const { fetch } = fakeFetch([unavailable, () => new Response('{"strikes":[]}')])
  const retries: RetryInfo[] = []
  const client = new ShadowsClient({ baseUrl: 'http://gateway.test', fetch, onRetry: (info) => retries.push(info) })
  t.same(await client.strikes(), { strikes: [] }, 'the retry answered')
  t.equal(retries.length, 1)
  t.ok(retries[0] && retries[0].delay > 0 && retries[0].delay <= 1000, 'waited until the date')
  t.equal(retryAfterMs('3'), 3000)
  t.equal(retryAfterMs('soon'), undefined)
  t.equal(retryAfterMs(null), undefined)
  t.equal(retryAfterMs('Thu, 01 Jan 1970 00:00:00 GMT'), 0, 'a date in the past: at once')
})

t.test('ShadowsError', async (t) => {
  const err = new ShadowsError('SHADOWS_ERR_STRUCK', 409, 'struck', { retryAfter: undefined })
  t.ok(err instanceof Error)
  t.match(err, { name: 'ShadowsError', code: 'SHADOWS_ERR_STRUCK', status: 409, statusCode: 409, message: 'struck' })
})

/** Feeds `chunks` to a parser; the events it gave. */
function parse(chunks: readonly string[]): SseMessage[] {
  const parser = new SseParser()
  return chunks.flatMap((chunk) => parser.push(chunk))
}

t.test('the SSE parser: events split anywhere, CR, LF and CRLF, comments, multi-line data, retry', async (t) => {
  const stream = ': hello\n\nid: 1-0\nevent: added\ndata: {"a":1}\n\nevent: gap\ndata: {"b":2}\n\n'
  const expected = [
    { id: '1-0', event: 'added', data: '{"a":1}' },
    { id: undefined, event: 'gap', data: '{"b":2}' },
  ]
  t.same(parse([stream]), expected, 'whole')
  t.same(parse([...stream]), expected, 'one character at a time')
  t.same(parse([stream.replaceAll('\n', '\r\n')]), expected, 'CRLF')
  const crlf = stream.replaceAll('\n', '\r\n')
  t.same(parse(crlf.split('\r').flatMap((part, i, all) => (i < all.length - 1 ? [`${part}\r`] : [part]))), expected, 'CRLF split between the CR and the LF')
  t.same(parse([stream.replaceAll('\n', '\r')]), expected, 'CR')
  t.same(parse(['data: one\ndata: two\ndata\n\n']), [{ id: undefined, event: 'message', data: 'one\ntwo\n' }], 'data lines joined; no event: message')
  t.same(parse(['data:no space\n\n']), [{ id: undefined, event: 'message', data: 'no space' }], 'no space after the colon')
  t.same(parse(['id: 5-0\n\n']), [], 'no data: no event')
  t.same(parse(['data: x']), [], 'not dispatched before the blank line')
  const parser = new SseParser()
  parser.push('retry: 2500\n\n')
  t.equal(parser.retry, 2500, 'retry: read')
  t.equal(parser.lastEventId, undefined, 'no id seen yet')
  parser.push('id: 5-0\n\n')
  t.equal(parser.lastEventId, '5-0', 'an id without data is no event, but where to resume from')
  parser.push('id: 6-0\ndata: {}\n\nevent: gap\ndata: {}\n\n')
  t.equal(parser.lastEventId, '6-0', "an event's id moves it; a message without an id does not")
})
