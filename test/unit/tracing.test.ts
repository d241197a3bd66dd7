/**
 * The text form of a trace context that a task record stores, and the strict reading of a W3C
 * `traceparent`: what is malformed is refused, never half read.
 */
import t from 'tap'
import { INVALID_SPAN_CONTEXT, TraceFlags, createTraceState } from '@opentelemetry/api'
import { parseTraceContext, parseTraceparent, traceContextText } from '../../src/core/tracing.js'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const SPAN_ID = '00f067aa0ba902b7'

t.test('a span context as stored, and read back', async (t) => {
  const sampled = { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED }
  t.equal(traceContextText(sampled), `00-${TRACE_ID}-${SPAN_ID}-01`)
  t.equal(traceContextText({ ...sampled, traceFlags: TraceFlags.NONE }), `00-${TRACE_ID}-${SPAN_ID}-00`, 'not sampled')
  const withState = { ...sampled, traceState: createTraceState('vendor=a;b,other=1') }
  const text = traceContextText(withState)
  t.equal(text, `00-${TRACE_ID}-${SPAN_ID}-01;vendor=a;b,other=1`)
  const back = parseTraceContext(text)
  t.match(back, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true })
  t.equal(back?.traceState?.get('vendor'), 'a;b', 'a ; inside the trace state survives: only the first one splits')
  t.equal(traceContextText(INVALID_SPAN_CONTEXT), '', 'nothing to store for an invalid context (no SDK)')
})

t.test('traceparent is read strictly', async (t) => {
  t.match(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-01`), { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 })
  t.match(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-00-and-more`), { traceId: TRACE_ID, traceFlags: 0 }, 'a later version may add fields')
  const refused = [
    '',
    'garbage',
    `00-${TRACE_ID}-${SPAN_ID}`,
    `00-${TRACE_ID}-${SPAN_ID}-1`,
    `00-${TRACE_ID}-${SPAN_ID}-01-more`,
    `00-${TRACE_ID}-${SPAN_ID}-01 `,
    `ff-${TRACE_ID}-${SPAN_ID}-01`,
    `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
    `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
    `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
    `0-${TRACE_ID}-${SPAN_ID}-01`,
    `00_${TRACE_ID}_${SPAN_ID}_01`,
  ]
  for (const text of refused) t.equal(parseTraceparent(text), undefined, JSON.stringify(text))
})
