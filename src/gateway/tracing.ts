/**
 * The trace context of a request that adds tasks: its `traceparent` and `tracestate` headers, read
 * with the registered propagator, or as W3C Trace Context when none is registered. The add's span
 * is then a child of the caller's span, and the task's runs join the caller's trace.
 *
 * A malformed header is ignored (the add starts a trace of its own), never an error: tracing must
 * not refuse work. Without an SDK the headers are not even read.
 */
import { context, propagation, trace, type Context } from '@opentelemetry/api'
import type { FastifyRequest } from 'fastify'
import { parseTraceparent, tracingEnabled } from '../core/tracing.js'

/**
 * Runs `work` (an add, a replace, a batch add) in the trace context of `request`. When the active
 * context already has a span (an HTTP instrumentation made the request's own), that one is the
 * parent and the headers are left to it.
 */
export function inRequestTrace<T>(request: FastifyRequest, work: () => T): T {
  if (!tracingEnabled()) return work()
  const active = context.active()
  if (trace.getSpanContext(active) !== undefined) return work()
  const parent = requestContext(active, request.headers)
  return parent === active ? work() : context.with(parent, work)
}

/** `base` with the remote span context of `headers`, or `base` itself when they carry none that is valid. */
function requestContext(base: Context, headers: FastifyRequest['headers']): Context {
  // the registered propagator, when there is one (a no-op one has no fields)
  if (propagation.fields().length > 0) {
    try {
      return propagation.extract(base, headers)
    } catch {
      return base
    }
  }
  const { traceparent, tracestate } = headers
  // a repeated traceparent is invalid (W3C Trace Context); repeated tracestate headers are one list
  if (typeof traceparent !== 'string') return base
  const state = Array.isArray(tracestate) ? tracestate.join(',') : tracestate
  const remote = parseTraceparent(traceparent.trim(), state)
  return remote ? trace.setSpanContext(base, remote) : base
}
