/**
 * The gateway continues the caller's trace: `traceparent` and `tracestate` of POST /tasks, PUT
 * /tasks/{key} and the batch request make the add span's parent, read as W3C Trace Context when no
 * propagator is registered and with the registered one otherwise. A malformed header is ignored.
 */
import t from 'tap'
import { propagation } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { json, makeApp } from '../helpers/gateway.js'
import { closeAdmin } from '../helpers/shadow.js'
import { registerTracing, storedTrace } from '../helpers/tracing.js'

t.teardown(closeAdmin)
const tracing = registerTracing()
t.beforeEach(() => tracing.exporter.reset())

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`
const NAME = { name: 'Jane' }

/** The one span named `name` this test made. */
async function only(name: string) {
  const spans = await tracing.waitForSpans(name)
  if (spans.length !== 1) throw new Error(`expected one span ${name}, found ${spans.length}`)
  return spans[0] as (typeof spans)[number]
}

t.test('POST /tasks continues the trace of traceparent and tracestate', async (t) => {
  const { app, name } = await makeApp(t)
  const answer = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { traceparent: TRACEPARENT, tracestate: 'vendor=abc,other=1' },
    payload: { task: 'greet', key: 'from-http', delay: 60_000, params: NAME },
  })
  t.equal(answer.statusCode, 202)
  const add = await only('shadows.add greet')
  t.equal(add.spanContext().traceId, TRACE_ID, "the caller's trace")
  t.equal(add.parentSpanContext?.spanId, PARENT_ID, "the caller's span is the parent")
  t.equal(add.spanContext().traceState?.get('vendor'), 'abc', 'tracestate goes along')
  t.equal(await storedTrace(name, 'from-http'), `00-${TRACE_ID}-${add.spanContext().spanId}-01;vendor=abc,other=1`, 'stored with the task')
  await app.inject({ method: 'DELETE', url: '/tasks/from-http' })
})

t.test('PUT /tasks/{key} and the batch request continue it too', async (t) => {
  const { app } = await makeApp(t)
  const put = await app.inject({
    method: 'PUT',
    url: '/tasks/put-key',
    headers: { traceparent: TRACEPARENT },
    payload: { task: 'greet', params: NAME, delay: 60_000 },
  })
  t.equal(put.statusCode, 200)
  const replace = await only('shadows.replace greet')
  t.equal(replace.spanContext().traceId, TRACE_ID)
  t.equal(replace.parentSpanContext?.spanId, PARENT_ID)

  const batch = await app.inject({
    method: 'POST',
    url: '/tasks/batch',
    headers: { traceparent: TRACEPARENT },
    payload: {
      tasks: [{ task: 'greet', params: NAME, key: 'b1', delay: 60_000 }, { task: 'greet', params: NAME, key: 'b2', delay: 60_000 }, { task: 'nope' }],
    },
  })
  t.same(
    json<{ results: { status: number }[] }>(batch).results.map((r) => r.status),
    [202, 202, 400],
  )
  const span = await only('shadows.add_batch')
  t.equal(span.spanContext().traceId, TRACE_ID)
  t.equal(span.parentSpanContext?.spanId, PARENT_ID)
  for (const key of ['put-key', 'b1', 'b2']) await app.inject({ method: 'DELETE', url: `/tasks/${key}` })
})

t.test('a malformed traceparent is ignored: the add is accepted and starts a trace of its own', async (t) => {
  const { app, name } = await makeApp(t)
  const malformed = [
    'garbage',
    `00-${TRACE_ID}-${PARENT_ID}`, // no flags
    `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`, // uppercase hex
    `00-${'0'.repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // all-zero parent id
    `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff
    `00-${TRACE_ID}-${PARENT_ID}-01-extra`, // version 00 with more
    `00-${TRACE_ID}-${PARENT_ID}-0`, // short flags
  ]
  for (const [i, traceparent] of malformed.entries()) {
    const answer = await app.inject({
      method: 'POST',
      url: '/tasks',
      headers: { traceparent },
      payload: { task: 'greet', params: NAME, key: `m${i}`, delay: 60_000 },
    })
    t.equal(answer.statusCode, 202, `${traceparent}: accepted`)
  }
  const repeated = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { traceparent: [TRACEPARENT, TRACEPARENT] },
    payload: { task: 'greet', params: NAME, key: 'repeated', delay: 60_000 },
  })
  t.equal(repeated.statusCode, 202, 'a repeated traceparent: accepted')
  const adds = await tracing.waitForSpans('shadows.add greet', malformed.length + 1)
  for (const add of adds) {
    t.equal(add.parentSpanContext, undefined, `${String(add.attributes['shadows.key'])}: a root span`)
    t.not(add.spanContext().traceId, TRACE_ID, 'in a trace of its own')
  }
  t.match(await storedTrace(name, 'm0'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'its own context is stored')
  for (const key of [...malformed.keys()].map((i) => `m${i}`).concat('repeated')) await app.inject({ method: 'DELETE', url: `/tasks/${key}` })
})

t.test('a later W3C version with more fields is read; with a registered propagator, the propagator reads the headers', async (t) => {
  const { app } = await makeApp(t)
  const future = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { traceparent: `cc-${TRACE_ID}-${PARENT_ID}-01-whatever` },
    payload: { task: 'greet', params: NAME, key: 'future', delay: 60_000 },
  })
  t.equal(future.statusCode, 202)
  t.equal((await only('shadows.add greet')).parentSpanContext?.spanId, PARENT_ID, 'version cc is read as 00 is')
  tracing.exporter.reset()

  propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  t.teardown(() => propagation.disable())
  const answer = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { traceparent: TRACEPARENT },
    payload: { task: 'greet', params: NAME, key: 'propagated', delay: 60_000 },
  })
  t.equal(answer.statusCode, 202)
  const add = await only('shadows.add greet')
  t.equal(add.spanContext().traceId, TRACE_ID)
  t.equal(add.parentSpanContext?.spanId, PARENT_ID)
  const bad = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { traceparent: 'nonsense' },
    payload: { task: 'greet', params: NAME, key: 'bad', delay: 60_000 },
  })
  t.equal(bad.statusCode, 202, 'the propagator ignores a malformed header too')
  for (const key of ['future', 'propagated', 'bad']) await app.inject({ method: 'DELETE', url: `/tasks/${key}` })
})

t.test('DELETE /tasks/{key} and the strike routes continue the trace as well', async (t) => {
  const { app } = await makeApp(t)
  await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: NAME, key: 'to-cancel', delay: 60_000 } })
  const cancel = await app.inject({ method: 'DELETE', url: '/tasks/to-cancel', headers: { traceparent: TRACEPARENT } })
  t.equal(cancel.statusCode, 200)
  t.equal((await only('shadows.cancel')).parentSpanContext?.spanId, PARENT_ID)
  const strike = await app.inject({ method: 'POST', url: '/strikes', headers: { traceparent: TRACEPARENT }, payload: { task: 'boom' } })
  t.equal(strike.statusCode, 201)
  t.equal((await only('shadows.strike')).parentSpanContext?.spanId, PARENT_ID)
  const restore = await app.inject({ method: 'DELETE', url: `/strikes/${json<{ id: string }>(strike).id}`, headers: { traceparent: TRACEPARENT } })
  t.equal(restore.statusCode, 200)
  t.equal((await only('shadows.restore')).parentSpanContext?.spanId, PARENT_ID)
})
