/**
 * Storing adds: one task, or a batch a chunk at a time, each judged against the strike rules
 * before it goes out and judged again when the add script answers that the rules changed meanwhile.
 */
import { ShadowsError, isShadowsError } from '../core/errors.js'
import type { AnyTask } from '../core/task.js'
import { STALE, type AddResult } from '../redis/commands.js'
import type { StrikeCopy } from '../redis/strike-copy.js'
import { BATCH_CHUNK, type AddCalls, type AddReply, type Prepared } from './adds.js'
import { prepareAdd, struckError, toExecution } from './prepare.js'
import type { BatchItem, BatchResult } from './types.js'

/** What storing needs of a shadow: its add-script calls, its strike copy and its task registry. */
export interface StoreContext {
  readonly adds: AddCalls
  readonly strikes: StrikeCopy
  readonly registry: ReadonlyMap<string, AnyTask> | undefined
}

/** How often an add is judged again when the strikes changed under it. */
const MAX_STALE_RETRIES = 10

/** One item of a batch add, prepared. */
interface BatchEntry {
  readonly index: number
  readonly prepared: Prepared
}

/** Stores one prepared task: refused with `SHADOWS_ERR_STRUCK` when a strike matches it. */
export async function storeOne(ctx: StoreContext, prepared: Prepared): Promise<AddResult> {
  for (let tries = 0; tries <= MAX_STALE_RETRIES; tries++) {
    const strikes = await ctx.strikes.current(tries > 0)
    const strike = strikes.match(prepared.task, prepared.params)
    if (strike) throw struckError(prepared, strike)
    const [reply] = await ctx.adds.send([prepared], strikes.version)
    if (reply !== undefined && reply !== STALE) return reply
  }
  throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'strikes kept changing while adding')
}

/**
 * Prepares and sends a batch a chunk at a time: each chunk goes out as soon as it is ready, so
 * Redis stores one while the next is validated. Items whose strikes check went stale (the
 * strikes changed meanwhile) are judged again, in order, against the new strikes. Every task
 * stores `trace`, the batch span's context ("" for none).
 */
export async function storeBatch(ctx: StoreContext, items: readonly BatchItem[], trace = ''): Promise<BatchResult[]> {
  if (items.length === 0) return []
  const results: (BatchResult | undefined)[] = new Array(items.length)
  let retry: BatchEntry[] = []
  let prepared = 0
  for (let tries = 0; tries === 0 || retry.length > 0; tries++) {
    if (tries > MAX_STALE_RETRIES) throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'strikes kept changing while adding')
    const strikes = await ctx.strikes.current(tries > 0)
    const again = retry
    retry = []
    const calls: Promise<void>[] = []
    let failure: { err: unknown } | undefined
    const send = (entries: readonly BatchEntry[]) => {
      const sendable: BatchEntry[] = []
      for (const entry of entries) {
        const strike = strikes.match(entry.prepared.task, entry.prepared.params)
        if (strike) results[entry.index] = { ok: false, error: struckError(entry.prepared, strike) }
        else sendable.push(entry)
      }
      const sent = ctx.adds.send(
        sendable.map((entry) => entry.prepared),
        strikes.version,
      )
      calls.push(
        sent.then(
          (replies) =>
            sendable.forEach((entry, i) => {
              const reply = replies[i] as AddReply
              if (reply === STALE) retry.push(entry)
              else results[entry.index] = { ok: true, execution: toExecution(entry.prepared, reply) }
            }),
          (err: unknown) => {
            failure ??= { err }
          },
        ),
      )
    }
    for (let i = 0; i < again.length; i += BATCH_CHUNK) send(again.slice(i, i + BATCH_CHUNK))
    // a call that failed stops the rest: the batch rejects, as it would have sent as one
    while (prepared < items.length && !failure) {
      const chunk: BatchEntry[] = []
      for (; prepared < items.length && chunk.length < BATCH_CHUNK; prepared++) {
        const item = items[prepared] as BatchItem | null | undefined
        try {
          if (typeof item !== 'object' || item === null) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'a batch item must be an object', { field: 'item' })
          chunk.push({ index: prepared, prepared: prepareAdd(ctx.registry, item.task, item.params ?? {}, item, 'add', trace) })
        } catch (err) {
          results[prepared] = { ok: false, error: asShadowsError(err) }
        }
      }
      send(chunk)
      // let this chunk go out (see AddCalls.send) while the next one is prepared
      if (prepared < items.length) await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all(calls)
    if (failure) throw failure.err
    retry.sort((a, b) => a.index - b.index)
  }
  return results as BatchResult[]
}

function asShadowsError(err: unknown): ShadowsError {
  if (isShadowsError(err)) return err
  throw err
}
