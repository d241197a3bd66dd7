/**
 * Task limits across workers, as the Lua scripts keep them (shared.lua, start.lua, finish.lua,
 * renew.lua, limits.lua), and what a worker tells the scripts of its tasks' limits.
 *
 * A limit group is a task name, or, for a limit `by` a parameter, the task name, `|` and the
 * parameter's value (a string as it is, other JSON values as JSON; a missing one is empty).
 *
 * **Concurrency** (`concurrency: { limit, by? }`). `{name}:slots:{group}` holds the stream id of each
 * attempt holding a slot, scored by when its lease ends. The start script takes a slot for a task
 * when the group has room and nobody waits; otherwise the task's message leaves the stream (so it
 * holds up no other task) and its key joins `{name}:waiting:{group}`, scored by arrival: the record
 * stays `queued`, with its group in `waiting`. The finish script gives the slot of every attempt
 * back, whatever its outcome, and hands it to the oldest waiting task, which goes back on the stream
 * holding that slot, so workers hear of it at once (pushed, not polled). A slot's lease is the
 * worker's redelivery timeout, renewed with its claims: the slots of a dead worker lapse when its
 * messages become reclaimable, and a worker that takes a message over keeps the slot under the same
 * id. `{name}:limits` indexes the groups that have tasks waiting, by when a lease of theirs may
 * lapse, for the sweep (limits.lua) that workers run with their reclaims.
 *
 * **Rate** (`rateLimit: { limit, per, by? }`). `{name}:rate:{group}` holds the starts of the last
 * `per` ms, and the starts reserved ahead, scored by their time. A task that does not fit is
 * scheduled for the time the window allows it, with that start reserved for it (so that the tasks
 * waiting on one window are spaced out, each moved once, rather than woken together), in the state
 * `scheduled` with its reservation in `rated`. A start is counted when it happens: a reserved task
 * that starts late moves its entry to its start, and one that the earlier late starts leave no
 * room is scheduled again, by the lateness.
 *
 * Neither uses an attempt. Both hold across every worker of a shadow; each worker enforces the limits
 * of the tasks it runs, as its definitions say.
 */
import type { AnyTask } from '../core/task.js'

/** What the scripts need to know of one worker's limits. */
export interface WorkerLimits {
  /** The limits of the tasks that have some, encoded for the start script (see start.lua). */
  readonly spec: string
  /** Task name → concurrency limit, for the sweep. */
  readonly concurrency: ReadonlyMap<string, number>
  /** How long a slot stays held without a renewal, in ms: the worker's redelivery timeout. */
  readonly lease: number
}

/** The limits of `tasks`, for a worker whose claims lapse after `lease` ms. */
export function workerLimits(tasks: Iterable<AnyTask>, lease: number): WorkerLimits {
  const entries: string[] = []
  const concurrency = new Map<string, number>()
  for (const task of tasks) {
    const { concurrency: slots, rateLimit: rate } = task
    if (!slots && !rate) continue
    if (slots) concurrency.set(task.name, slots.limit)
    entries.push([task.name, slots?.limit ?? '', slots?.by ?? '', rate?.limit ?? '', rate?.per ?? '', rate?.by ?? ''].join('\x1f'))
  }
  return Object.freeze({ spec: entries.join('\x1e'), concurrency, lease })
}
