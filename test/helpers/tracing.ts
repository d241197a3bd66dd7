/**
 * An OpenTelemetry SDK for the tests of tracing: a tracer provider exporting to memory, the
 * AsyncLocalStorage context manager (as a Node.js SDK sets up) and, when asked, the W3C propagator.
 * Registered once per test file (tap runs each file in a process of its own); a file that checks
 * what happens without an SDK registers none.
 */
import { context, propagation, trace, type SpanContext } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { shadowKeys, storedKey } from '../../src/redis/keys.js'
import { adminRedis, waitFor } from './shadow.js'

/** The spans the registered SDK ended so far. */
export interface TestTracing {
  readonly exporter: InMemorySpanExporter
  /** Ended spans, in the order they ended. */
  spans(): ReadableSpan[]
  /** Resolves with the ended spans named `name` once there are at least `count`. */
  waitForSpans(name: string, count?: number): Promise<ReadableSpan[]>
}

/** Registers the SDK for this process; `propagator`: register the W3C propagator too. */
export function registerTracing(options: { propagator?: boolean } = {}): TestTracing {
  const exporter = new InMemorySpanExporter()
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  if (options.propagator) propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  const spans = () => exporter.getFinishedSpans()
  return {
    exporter,
    spans,
    async waitForSpans(name, count = 1) {
      await waitFor(() => spans().filter((s) => s.name === name).length >= count, 10_000, `${count} span(s) ${name}`)
      return spans().filter((s) => s.name === name)
    },
  }
}

/** Whether `child` is a child of the span of `parent` (same trace, parent span id). */
export function isChildOf(child: ReadableSpan, parent: SpanContext): boolean {
  return child.spanContext().traceId === parent.traceId && child.parentSpanContext?.spanId === parent.spanId
}

/** The trace context the record of `key` on the shadow `name` stores; undefined when none. */
export async function storedTrace(name: string, key: string): Promise<string | undefined> {
  return (await adminRedis().hget(shadowKeys(name).task(storedKey(key)), 'trace')) ?? undefined
}
