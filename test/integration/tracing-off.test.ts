/**
 * Without an OpenTelemetry SDK (this file registers none), tracing costs nothing: no trace context
 * is stored with any task, whatever the caller's headers, and tasks run as ever.
 */
import t from 'tap'
import { trace } from '@opentelemetry/api'
import { defineTask } from '../../src/index.js'
import { tracingEnabled } from '../../src/core/tracing.js'
import { makeApp } from '../helpers/gateway.js'
import { closeAdmin, makeShadow, makeWorker } from '../helpers/shadow.js'
import { storedTrace } from '../helpers/tracing.js'

t.teardown(closeAdmin)

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

t.test('no SDK: tracing is off', async (t) => {
  t.equal(tracingEnabled(), false)
})

t.test('no SDK: adds, batch adds and replaces store no trace context, and tasks run', async (t) => {
  const shadow = makeShadow(t)
  const seen: (string | undefined)[] = []
  const plain = defineTask({
    name: 'plain',
    run: () => {
      seen.push(trace.getActiveSpan()?.spanContext().spanId)
      return 'ran'
    },
  })
  await shadow.add(plain, { key: 'one' })({})
  await shadow.add(plain, { key: 'later', delay: 50 })({})
  await shadow.addBatch([{ task: 'plain', key: 'b1' }, { task: 'plain' }])
  await shadow.replace(plain, { key: 'swapped' })({})
  for (const key of ['one', 'later', 'b1', 'swapped']) t.equal(await storedTrace(shadow.name, key), undefined, `${key}: no trace field`)
  await makeWorker(t, shadow, [plain]).runUntilFinished()
  t.equal(seen.length, 5, 'every task ran')
  t.same(seen, [undefined, undefined, undefined, undefined, undefined], 'with no span active')
  t.equal((await shadow.get('later'))?.result, 'ran')
})

t.test('no SDK: the gateway does not read traceparent and stores nothing', async (t) => {
  const { app, name } = await makeApp(t)
  const answer = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { traceparent: TRACEPARENT },
    payload: { task: 'greet', key: 'from-http', delay: 60_000, params: { name: 'Jane' } },
  })
  t.equal(answer.statusCode, 202)
  t.equal(await storedTrace(name, 'from-http'), undefined)
  await app.inject({ method: 'DELETE', url: '/tasks/from-http' })
})
