/**
 * OpenTelemetry with an SDK registered: the add's span is a child of the active context and its
 * context is stored with the task; the worker's span of each attempt is the add span's child across
 * a delay, retries and a redelivery; later perpetual runs link to it; the task's own spans are the
 * attempt's children; cancels and strikes have spans.
 */
import t from 'tap'
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { defineTask } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { startTasks } from '../../src/redis/commands.js'
import { CONSUMER_GROUP } from '../../src/redis/keys.js'
import { workerLimits } from '../../src/redis/limits.js'
import { rawRecord } from '../helpers/engine-state.js'
import { closeAdmin, makeShadow, makeWorker, waitFor } from '../helpers/shadow.js'
import { isChildOf, registerTracing } from '../helpers/tracing.js'

t.teardown(closeAdmin)
const tracing = registerTracing()
const caller = trace.getTracer('test')
// each test looks at its own spans only
t.beforeEach(() => tracing.exporter.reset())

/** Runs `work` inside a span of the test's own, as user code adding tasks would; answers the span's context too. */
async function inCallerSpan<T>(work: () => Promise<T>) {
  return caller.startActiveSpan('caller', async (span) => {
    try {
      return { result: await work(), parent: span.spanContext() }
    } finally {
      span.end()
    }
  })
}

/** The add span of `key`. */
function addSpanOf(key: string) {
  const span = tracing.spans().find((s) => s.name.startsWith('shadows.add') && s.attributes['shadows.key'] === key)
  if (!span) throw new Error(`no add span for ${key}`)
  return span
}

t.test('an add is a producer span, child of the active span, and the task record stores its context', async (t) => {
  const shadow = makeShadow(t)
  const { result, parent } = await inCallerSpan(() => shadow.add('greet', { key: 'traced' })({ name: 'Jane' }))
  t.equal(result.state, 'queued')
  const add = addSpanOf('traced')
  t.equal(add.name, 'shadows.add greet')
  t.equal(add.kind, SpanKind.PRODUCER)
  t.ok(isChildOf(add, parent), 'the add span is a child of the active span')
  t.match(add.attributes, {
    'messaging.system': 'shadows',
    'messaging.destination.name': shadow.name,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'add',
    'shadows.task': 'greet',
    'shadows.key': 'traced',
    'shadows.state': 'queued',
    'shadows.duplicate': false,
  })
  const { traceId, spanId } = add.spanContext()
  t.equal((await rawRecord(shadow, 'traced')).trace, `00-${traceId}-${spanId}-01`, 'the record stores the add span as a traceparent')
  await shadow.cancel('traced')
})

t.test('the run span is the add span child across a delay, and the task runs in its context', async (t) => {
  const shadow = makeShadow(t)
  const inner: { parent?: string | undefined; trace?: string } = {}
  const later = defineTask({
    name: 'later',
    async run() {
      const span = caller.startSpan('inside the task')
      inner.parent = trace.getActiveSpan()?.spanContext().spanId
      inner.trace = trace.getActiveSpan()?.spanContext().traceId ?? ''
      span.end()
      return 'done'
    },
  })
  await inCallerSpan(() => shadow.add(later, { key: 'delayed', delay: 300 })({}))
  const add = addSpanOf('delayed')
  await makeWorker(t, shadow, [later]).runUntilFinished()
  const [run] = await tracing.waitForSpans('shadows.run later')
  t.ok(run && isChildOf(run, add.spanContext()), 'the run span is a child of the add span, in its trace')
  t.equal(run?.kind, SpanKind.CONSUMER)
  t.match(run?.attributes, {
    'messaging.system': 'shadows',
    'messaging.destination.name': shadow.name,
    'messaging.operation.type': 'process',
    'messaging.consumer.group.name': CONSUMER_GROUP,
    'shadows.task': 'later',
    'shadows.key': 'delayed',
    'shadows.attempt': 1,
    'shadows.outcome': 'completed',
  })
  t.equal(run?.status.code, SpanStatusCode.UNSET, 'a success leaves the status unset')
  t.equal(inner.parent, run?.spanContext().spanId, "the task's active span is its attempt's")
  const [own] = await tracing.waitForSpans('inside the task')
  t.ok(own && run && isChildOf(own, run.spanContext()), 'a span the task makes is the run span child')
})

t.test('each attempt of a retried task is a child of the add span; a failed one records its error', async (t) => {
  const shadow = makeShadow(t)
  let tries = 0
  const flaky = defineTask({
    name: 'flaky',
    retry: { attempts: 2, delay: 20 },
    async run() {
      tries += 1
      if (tries === 1) throw new Error('first try fails')
      return 'second try works'
    },
  })
  await inCallerSpan(() => shadow.add(flaky, { key: 'retried' })({}))
  const add = addSpanOf('retried')
  await makeWorker(t, shadow, [flaky]).runUntilFinished()
  const runs = await tracing.waitForSpans('shadows.run flaky', 2)
  t.equal(runs.length, 2, 'two attempts, two spans')
  for (const run of runs) t.ok(isChildOf(run, add.spanContext()), `attempt ${String(run.attributes['shadows.attempt'])} is a child of the add span`)
  const [first, second] = runs
  t.equal(first?.attributes['shadows.attempt'], 1)
  t.equal(first?.attributes['shadows.outcome'], 'retry')
  t.equal(first?.status.code, SpanStatusCode.ERROR, 'the failed attempt is an error')
  t.equal(first?.status.message, 'first try fails')
  t.match(first?.events, [{ name: 'exception', attributes: { 'exception.message': 'first try fails' } }], 'with its exception')
  t.equal(second?.attributes['shadows.attempt'], 2)
  t.equal(second?.attributes['shadows.outcome'], 'completed')
})

t.test('a task redelivered after its worker died runs in a child of the add span', async (t) => {
  const shadow = makeShadow(t)
  const { redis, keys } = shadowContext(shadow)
  await inCallerSpan(() => shadow.add('orphan', { key: 'redelivered' })({}))
  const add = addSpanOf('redelivered')
  // a worker that starts the task and dies: it never finishes it nor renews its claim
  await redis.xgroup('CREATE', keys.stream, CONSUMER_GROUP, '0', 'MKSTREAM').catch(() => undefined)
  const started = await startTasks(redis, keys, 'dead', '', shadow.eventsLimit, workerLimits([], 30_000), { mode: 'read', count: 1, tasks: ['orphan'] })
  t.match(started, [{ kind: 'run', trace: `00-${add.spanContext().traceId}-${add.spanContext().spanId}-01` }], 'the start script hands on the stored context')
  t.equal((await shadow.get('redelivered'))?.worker, 'dead')

  const orphan = defineTask({ name: 'orphan', run: () => 'rescued' })
  const rescuer = makeWorker(t, shadow, [orphan], { name: 'rescuer', redeliveryTimeout: 300 })
  const running = rescuer.run()
  await waitFor(async () => (await shadow.get('redelivered'))?.state === 'completed', 10_000, 'the task completed on the rescuer')
  const [run] = await tracing.waitForSpans('shadows.run orphan')
  t.ok(run && isChildOf(run, add.spanContext()), 'the redelivered run is a child of the add span')
  t.equal(run?.attributes['shadows.attempt'], 1)
  await rescuer.close()
  await running
})

t.test('the first perpetual run is the add span child; each later run links to it in a trace of its own', async (t) => {
  const shadow = makeShadow(t)
  const tick = defineTask({ name: 'tick', perpetual: { every: 20 }, run: () => 'tick' })
  await inCallerSpan(() => shadow.add(tick, { key: 'ticker' })({}))
  const add = addSpanOf('ticker')
  await makeWorker(t, shadow, [tick]).runAtMost({ tick: 3 })
  const runs = await tracing.waitForSpans('shadows.run tick', 3)
  const [first, ...later] = runs
  t.ok(first && isChildOf(first, add.spanContext()), 'the first run is a child of the add span')
  for (const run of later) {
    t.equal(run.parentSpanContext, undefined, 'a later run starts a trace')
    t.not(run.spanContext().traceId, add.spanContext().traceId)
    t.match(run.links, [{ context: { traceId: add.spanContext().traceId, spanId: add.spanContext().spanId } }], 'linked to the add span')
  }
  await shadow.cancel('ticker')
})

t.test('a retried finished task keeps its trace', async (t) => {
  const shadow = makeShadow(t)
  const once = defineTask({ name: 'once', run: () => 'ok' })
  await inCallerSpan(() => shadow.add(once, { key: 'again' })({}))
  const add = addSpanOf('again')
  await makeWorker(t, shadow, [once]).runUntilFinished()
  await shadow.retry('again')
  await makeWorker(t, shadow, [once]).runUntilFinished()
  const runs = await tracing.waitForSpans('shadows.run once', 2)
  for (const run of runs) t.ok(isChildOf(run, add.spanContext()), 'each run is a child of the add span')
})

t.test('a batch add is one span, and every task of it stores its context', async (t) => {
  const shadow = makeShadow(t)
  const { parent } = await inCallerSpan(() =>
    shadow.addBatch([
      { task: 'greet', key: 'b1' },
      { task: 'greet', key: 'b2', delay: 60_000 },
    ]),
  )
  const [batch] = await tracing.waitForSpans('shadows.add_batch')
  t.ok(batch && isChildOf(batch, parent))
  t.equal(batch?.attributes['messaging.batch.message_count'], 2)
  const stored = `00-${batch?.spanContext().traceId}-${batch?.spanContext().spanId}-01`
  t.equal((await rawRecord(shadow, 'b1')).trace, stored, 'a queued task')
  t.equal((await rawRecord(shadow, 'b2')).trace, stored, 'a scheduled task')
  await shadow.cancel('b1')
  await shadow.cancel('b2')
})

t.test('replace, cancel, strike and restore have spans; a refused add is an error', async (t) => {
  const shadow = makeShadow(t)
  await inCallerSpan(() => shadow.replace('greet', { key: 'r', delay: 60_000 })({}))
  const [replace] = await tracing.waitForSpans('shadows.replace greet')
  t.match(replace?.attributes, { 'shadows.key': 'r', 'messaging.operation.name': 'replace', 'shadows.state': 'scheduled' })
  t.equal((await rawRecord(shadow, 'r')).trace?.split('-')[2], replace?.spanContext().spanId, 'the replace stores its own span')

  const { parent } = await inCallerSpan(() => shadow.cancel('r'))
  const [cancel] = await tracing.waitForSpans('shadows.cancel')
  t.ok(cancel && isChildOf(cancel, parent))
  t.equal(cancel?.kind, SpanKind.CLIENT)
  t.match(cancel?.attributes, { 'shadows.key': 'r', 'messaging.operation.name': 'cancel', 'messaging.destination.name': shadow.name })

  const { strike } = await shadow.strike({ task: 'greet' })
  const [struck] = await tracing.waitForSpans('shadows.strike')
  t.match(struck?.attributes, { 'shadows.strike': strike.id, 'shadows.task': 'greet' })
  await t.rejects(shadow.add('greet', { key: 'refused' })({}), { code: 'SHADOWS_ERR_STRUCK' })
  const refused = tracing.spans().filter((s) => s.name === 'shadows.add greet' && s.status.code === SpanStatusCode.ERROR)
  t.equal(refused.length, 1, 'the refused add is an error span')
  await shadow.restore(strike.id)
  const [restore] = await tracing.waitForSpans('shadows.restore')
  t.match(restore?.attributes, { 'shadows.strike': strike.id })
})
