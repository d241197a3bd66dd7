// The tasks of the chaos run: the tasks module that its gateway and its workers load
// (`shadows serve|worker --tasks scripts/chaos/tasks.mjs`).
//
// Every run of a task appends one line to a file of its own process in CHAOS_RUNS_DIR
// (runs-<pid>.log), with a synchronous write on a file opened for appending: the line is in the
// kernel once the call returns, so it survives a kill -9 of the worker and a restart of Redis.
//
//   R key pid startedMs endedMs   `record` ran to its end (a normal task of the producers)
//   V key pid enteredMs round     `victim` was called (its strike round is in params.round)
//   C key pid ms                  `crash` is about to end its process
//   T key pid ms attempt          `throw` is about to throw
//   H key pid ms                  `hang` started hanging
//   S key pid startedMs group     `limited` started (concurrency limit per group)
//   E key pid startedMs endedMs   `limited` ended, whatever its end (not when its process died)
//   Q key pid startedMs           `rated` started (rate limit), at the time the start script
//                                 counted it in the window (its record's startedAt)
//
// CHAOS_PARENT_PID: when set, the process exits once that process is gone (an orphan guard, so
// that nothing outlives a harness that was itself killed).
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import { defineTask } from '../../dist/src/index.js'
import { followParent, lineWriter } from './task-files.mjs'

const record = lineWriter(process.env.CHAOS_RUNS_DIR, 'runs')
followParent(Number(process.env.CHAOS_PARENT_PID))

/** The producers' task: waits `ms`, then writes its line (not when the worker aborted it). */
export const recordTask = defineTask({
  name: 'record',
  params: Type.Object({ i: Type.Integer({ minimum: 0 }), ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
  async run({ ms }, ctx) {
    const started = Date.now()
    if (ms > 0) await sleep(ms)
    // an aborted attempt (shutdown, cancel) goes back on the queue: it did not run to its end
    if (ctx.signal.aborted) throw ctx.signal.reason
    record(`R ${ctx.key} ${process.pid} ${started} ${Date.now()}`)
    return ms
  },
})

/** At most LIMITED_SLOTS run at once per group, across every worker. */
export const LIMITED_SLOTS = 3
/**
 * At most RATE_LIMIT starts in any RATE_WINDOW ms, across every worker: CHAOS_RATE_LIMIT, which the
 * harness sets for itself, the gateway and the workers from the run's rate (20 by default).
 */
export const RATE_LIMIT = Number(process.env.CHAOS_RATE_LIMIT) > 0 ? Number(process.env.CHAOS_RATE_LIMIT) : 20
export const RATE_WINDOW = 1000

/** A producers' task under a concurrency limit per group: as `record`, and its start and end. */
export const limited = defineTask({
  name: 'limited',
  params: Type.Object({
    i: Type.Integer({ minimum: 0 }),
    ms: Type.Integer({ minimum: 0, maximum: 10_000 }),
    group: Type.Integer({ minimum: 0, maximum: 99 }),
  }),
  concurrency: { limit: LIMITED_SLOTS, by: 'group' },
  async run({ ms, group }, ctx) {
    const started = Date.now()
    record(`S ${ctx.key} ${process.pid} ${started} ${group}`)
    try {
      if (ms > 0) await sleep(ms)
      if (ctx.signal.aborted) throw ctx.signal.reason
      record(`R ${ctx.key} ${process.pid} ${started} ${Date.now()}`)
      return ms
    } finally {
      record(`E ${ctx.key} ${process.pid} ${started} ${Date.now()}`)
    }
  },
})

/**
 * A producers' task under a rate limit: as `record`, and its start as the start script judged it
 * (the record's startedAt): on a loaded host the function may begin well after that, and the limit
 * is on the starts the engine admits. Should the record not be read, the function's own start.
 */
export const rated = defineTask({
  name: 'rated',
  params: Type.Object({ i: Type.Integer({ minimum: 0 }), ms: Type.Integer({ minimum: 0, maximum: 10_000 }) }),
  rateLimit: { limit: RATE_LIMIT, per: RATE_WINDOW },
  async run({ ms }, ctx) {
    const started = Date.now()
    const judged = await ctx.shadow.get(ctx.key).then(
      (info) => info?.startedAt?.getTime(),
      () => undefined,
    )
    record(`Q ${ctx.key} ${process.pid} ${judged ?? started}`)
    if (ms > 0) await sleep(ms)
    if (ctx.signal.aborted) throw ctx.signal.reason
    record(`R ${ctx.key} ${process.pid} ${started} ${Date.now()}`)
    return ms
  },
})

/** Enqueued only by the strike rounds, due while its round's strike is in force. */
export const victim = defineTask({
  name: 'victim',
  params: Type.Object({ round: Type.Integer({ minimum: 0 }) }),
  async run({ round }, ctx) {
    record(`V ${ctx.key} ${process.pid} ${Date.now()} ${round}`)
  },
})

/** Toxic: ends its worker process every time it is delivered (a poison task). */
export const crash = defineTask({
  name: 'crash',
  params: Type.Object({ how: Type.Union([Type.Literal('exit'), Type.Literal('kill')]) }),
  async run({ how }, ctx) {
    record(`C ${ctx.key} ${process.pid} ${Date.now()}`)
    if (how === 'exit') process.exit(70)
    process.kill(process.pid, 'SIGKILL')
  },
})

/** Toxic: throws on every attempt (two attempts). */
export const throwTask = defineTask({
  name: 'throw',
  retry: { attempts: 2, delay: 200 },
  async run(_params, ctx) {
    record(`T ${ctx.key} ${process.pid} ${Date.now()} ${ctx.attempt}`)
    throw new Error('toxic task: thrown on purpose')
  },
})

/** Toxic: never returns and ignores its signal; its 500 ms timeout ends the attempt. */
export const hang = defineTask({
  name: 'hang',
  timeout: 500,
  async run(_params, ctx) {
    record(`H ${ctx.key} ${process.pid} ${Date.now()}`)
    await new Promise(() => undefined)
  },
})

export default [recordTask, limited, rated, victim, crash, throwTask, hang]
