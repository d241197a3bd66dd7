/**
 * OpenTelemetry, through `@opentelemetry/api` only: the user registers the SDK (or none). What the
 * client, the worker and the gateway share: shadows' tracer, whether an SDK is there at all, the
 * span attributes, and the text form of a trace context that a task record stores.
 *
 * Nothing here costs anything while no SDK is registered: every caller asks {@link tracingEnabled}
 * first and does no other work (no span, no string, no Redis argument) when it says no.
 */
import {
  createTraceState,
  isSpanContextValid,
  isValidSpanId,
  isValidTraceId,
  SpanStatusCode,
  trace,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api'

/** The instrumentation scope of shadows' spans. */
export const TRACER_NAME = 'shadows'

/**
 * shadows' tracer. The API hands out a proxy while no SDK is registered, which follows an SDK
 * registered later (a tasks module or a preload may register it after shadows is loaded).
 */
export const tracer: Tracer = trace.getTracer(TRACER_NAME)

/** The part of the API's global proxy provider that tells whether an SDK stands behind it. */
interface ProxyProvider {
  getDelegateTracer?: (name: string) => Tracer | undefined
}

/**
 * Whether an SDK is registered, so that spans are made. Asked on every traced call, as an SDK may
 * be registered at any time; without one it costs a property read and a call that answers at once.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider() as ProxyProvider
  // a provider that is no proxy (another copy of the API set it) is an SDK's
  return provider.getDelegateTracer === undefined || provider.getDelegateTracer(TRACER_NAME) !== undefined
}

/** The value of `messaging.system` on every span of shadows. */
export const MESSAGING_SYSTEM = 'shadows'

/** Attribute names: the messaging semantic conventions, and shadows' own. */
export const ATTR = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  messageId: 'messaging.message.id',
  consumerGroup: 'messaging.consumer.group.name',
  batchCount: 'messaging.batch.message_count',
  task: 'shadows.task',
  key: 'shadows.key',
  attempt: 'shadows.attempt',
  state: 'shadows.state',
  duplicate: 'shadows.duplicate',
  outcome: 'shadows.outcome',
  strike: 'shadows.strike',
} as const

/** Ends `span`, marking it failed with `error` when given. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    span.recordException(error instanceof Error ? error : String(error))
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) })
  }
  span.end()
}

/**
 * A span context as a task record stores it: its W3C `traceparent`, and `;` and its `tracestate`
 * when it has one; "" for an invalid context (no SDK: nothing to store).
 */
export function traceContextText(context: SpanContext): string {
  if (!isSpanContextValid(context)) return ''
  const flags = (context.traceFlags & 0xff).toString(16).padStart(2, '0')
  const parent = `00-${context.traceId}-${context.spanId}-${flags}`
  const state = context.traceState?.serialize()
  return state ? `${parent};${state}` : parent
}

/** A stored trace context ({@link traceContextText}) read back, as a remote context; undefined when unreadable. */
export function parseTraceContext(text: string): SpanContext | undefined {
  const semicolon = text.indexOf(';')
  if (semicolon < 0) return parseTraceparent(text)
  return parseTraceparent(text.slice(0, semicolon), text.slice(semicolon + 1))
}

// version, trace id, parent id, flags, and what a later version may add after a dash
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/**
 * A W3C Trace Context `traceparent` (and `tracestate`) as a remote span context, read strictly:
 * undefined for anything malformed (version ff, an all-zero id, uppercase hex, version 00 with
 * anything after the flags). Members of `tracestate` that are malformed are dropped.
 */
export function parseTraceparent(traceparent: string, tracestate?: string): SpanContext | undefined {
  const match = TRACEPARENT.exec(traceparent)
  if (!match) return undefined
  const [, version, traceId = '', spanId = '', flags = '', rest] = match
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined
  const context: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true }
  if (tracestate) context.traceState = createTraceState(tracestate)
  return context
}
