/**
 * The client's spans: one per add, replace, batch add, cancel, strike and restore, each a child of
 * the active context (`context.active()`). An add's span context is what the task record stores, so
 * that the worker's span of each attempt joins the add's trace.
 *
 * Without an SDK each call costs one {@link tracingEnabled} check and nothing else: the work runs
 * as it would untraced, with no trace context to store.
 */
import { SpanKind, type Attributes, type Span } from '@opentelemetry/api'
import { ATTR, MESSAGING_SYSTEM, endSpan, traceContextText, tracer, tracingEnabled } from '../core/tracing.js'
import type { AnyTask } from '../core/task.js'

/** What an add or replace answers that its span records. */
interface Stored {
  readonly key: string
  readonly state?: string | undefined
  readonly duplicate?: boolean
}

/**
 * Runs one add (or replace) of `task` in its span (`shadows.add <task>`, `shadows.replace <task>`,
 * kind producer): `store` gets the span's context as the record stores it ("" without an SDK).
 */
export function traceAdd<T extends Stored>(
  shadow: string,
  operation: 'add' | 'replace',
  task: string | AnyTask,
  store: (trace: string) => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return store('')
  const name = typeof task === 'string' ? task : String(task?.name)
  const span = tracer.startSpan(`shadows.${operation} ${name}`, {
    kind: SpanKind.PRODUCER,
    attributes: { ...messaging(shadow, operation, 'send'), [ATTR.task]: name },
  })
  return settle(span, store(traceContextText(span.spanContext())), (stored) => {
    span.setAttribute(ATTR.key, stored.key)
    if (stored.state !== undefined) span.setAttribute(ATTR.state, stored.state)
    if (stored.duplicate !== undefined) span.setAttribute(ATTR.duplicate, stored.duplicate)
  })
}

/**
 * Runs a batch add in one span (`shadows.add_batch`, kind producer): every task of the batch stores
 * its context, so their runs join its trace. One span for the batch, not one per task: a batch of a
 * thousand would otherwise cost a thousand spans.
 */
export function traceBatch<T>(shadow: string, count: number, store: (trace: string) => Promise<T>): Promise<T> {
  if (!tracingEnabled()) return store('')
  const span = tracer.startSpan('shadows.add_batch', {
    kind: SpanKind.PRODUCER,
    attributes: { ...messaging(shadow, 'add_batch', 'send'), [ATTR.batchCount]: count },
  })
  return settle(span, store(traceContextText(span.spanContext())))
}

/**
 * Runs a cancel, strike or restore in its span (`shadows.cancel`, `shadows.strike`,
 * `shadows.restore`, kind client), with `attributes` (the key, the strike id).
 */
export function traceCall<T>(
  shadow: string,
  operation: 'cancel' | 'strike' | 'restore',
  attributes: () => Attributes,
  call: () => Promise<T>,
  describe?: (result: T, span: Span) => void,
): Promise<T> {
  if (!tracingEnabled()) return call()
  const span = tracer.startSpan(`shadows.${operation}`, {
    kind: SpanKind.CLIENT,
    attributes: { ...messaging(shadow, operation), ...attributes() },
  })
  let work: Promise<T>
  try {
    work = call()
  } catch (err) {
    work = Promise.reject(err as Error)
  }
  return settle(span, work, describe && ((result) => describe(result, span)))
}

/** The messaging attributes of a span of `operation` on the shadow. */
function messaging(shadow: string, operation: string, type?: string): Attributes {
  const attributes: Attributes = { [ATTR.system]: MESSAGING_SYSTEM, [ATTR.destination]: shadow, [ATTR.operationName]: operation }
  if (type !== undefined) attributes[ATTR.operationType] = type
  return attributes
}

/** Ends `span` once `work` settles: with `describe`'s attributes, or failed with its error. */
async function settle<T>(span: Span, work: Promise<T>, describe?: (result: T) => void): Promise<T> {
  try {
    const result = await work
    describe?.(result)
    endSpan(span)
    return result
  } catch (err) {
    endSpan(span, err)
    throw err
  }
}
