/**
 * The worker's span of each attempt: `shadows.run <task>`, kind consumer, a child of the span of the
 * add that stored the task (the record keeps its context through a delay, retries, redeliveries and
 * a retry of the finished task), so the attempt joins the add's trace. A later run of a perpetual or
 * cron task starts a trace of its own, linked to the add's span: one trace per run, not one that
 * grows for as long as the chain goes on. The task runs inside the span's context, so the spans it
 * makes are the attempt's children.
 *
 * Without an SDK nothing is made: {@link startRunSpan} answers undefined and the task runs as it
 * would untraced.
 */
import { ROOT_CONTEXT, SpanKind, trace, type Context, type Link, type Span } from '@opentelemetry/api'
import type { AttemptResult, OutcomeKind } from '../core/outcome-policy.js'
import { RetryRequestedError } from '../core/errors.js'
import { ATTR, MESSAGING_SYSTEM, endSpan, parseTraceContext, tracer, tracingEnabled } from '../core/tracing.js'
import { CONSUMER_GROUP, userKey } from '../redis/keys.js'

/** What the span of an attempt records of it. */
export interface TracedAttempt {
  /** Stream id of its message. */
  readonly id: string
  /** The key's stored form. */
  readonly key: string
  readonly task: { readonly name: string }
  readonly attempt: number
  /** The stored trace context, as the start script answers it (see `StartEntry.trace`). */
  readonly trace: string
}

/** An attempt's span, and the context its task runs in. */
export interface RunSpan {
  readonly span: Span
  readonly context: Context
}

/** Starts the span of an attempt on `shadow`; undefined when no SDK is registered. */
export function startRunSpan(shadow: string, attempt: TracedAttempt): RunSpan | undefined {
  if (!tracingEnabled()) return undefined
  // from the root, not the worker's own context: an attempt belongs to its add's trace, or starts one
  let parent = ROOT_CONTEXT
  let links: Link[] | undefined
  const stored = attempt.trace
  if (stored !== '') {
    const linked = stored.startsWith('~')
    const added = parseTraceContext(linked ? stored.slice(1) : stored)
    if (added && linked) links = [{ context: added }]
    else if (added) parent = trace.setSpanContext(ROOT_CONTEXT, added)
  }
  const span = tracer.startSpan(
    `shadows.run ${attempt.task.name}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTR.system]: MESSAGING_SYSTEM,
        [ATTR.destination]: shadow,
        [ATTR.operationName]: 'run',
        [ATTR.operationType]: 'process',
        [ATTR.consumerGroup]: CONSUMER_GROUP,
        [ATTR.messageId]: attempt.id,
        [ATTR.task]: attempt.task.name,
        [ATTR.key]: userKey(attempt.key),
        [ATTR.attempt]: attempt.attempt,
      },
      ...(links ? { links } : {}),
    },
    parent,
  )
  return { span, context: trace.setSpan(parent, span) }
}

/**
 * Ends an attempt's span with what became of it: the outcome written, and, for a task that threw
 * or was aborted (cancel, timeout, shutdown), the error and status ERROR. A retry the task asked
 * for (`ctx.retryIn()`) is no error.
 */
export function endRunSpan(run: RunSpan, result: AttemptResult, outcome: OutcomeKind): void {
  run.span.setAttribute(ATTR.outcome, outcome)
  // a success leaves the status unset, as instrumentation libraries do
  if (result.kind === 'returned' || (result.kind === 'threw' && result.error instanceof RetryRequestedError)) endSpan(run.span)
  else endSpan(run.span, result.error)
}
