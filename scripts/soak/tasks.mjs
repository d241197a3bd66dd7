// The tasks of the soak run (`npm run soak`), loaded by its gateway and its workers
// (`shadows serve|worker --tasks scripts/soak/tasks.mjs`).
//
// A scheduled `work` task appends `<startedMs> <latenessMs>` to a file of its own process in
// SOAK_DIR (late-<pid>.log): the soak reads the punctuality of scheduled tasks from there.
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from '@sinclair/typebox'
import { defineTask } from '../../dist/src/index.js'
import { followParent, lineWriter } from '../chaos/task-files.mjs'

const late = lineWriter(process.env.SOAK_DIR, 'late')
// the soak ends its processes with SIGTERM; should the harness die first, they follow it
followParent(Number(process.env.SOAK_PARENT_PID))

/** Waits `ms`; a scheduled one (`s`) writes how late it started. */
export const work = defineTask({
  name: 'work',
  params: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 1000 }), s: Type.Optional(Type.Boolean()) }),
  async run({ ms, s }, ctx) {
    const started = Date.now()
    if (s && ctx.attempt === 1) late(`${started} ${started - ctx.when.getTime()}`)
    if (ms > 0) await sleep(ms)
    return { ms }
  },
})

/** Always fails: one retry, then it ends failed (and enters the history of failed tasks). */
export const flaky = defineTask({
  name: 'flaky',
  params: Type.Object({ n: Type.Integer({ minimum: 0 }) }),
  retry: { attempts: 2, delay: 200 },
  async run({ n }) {
    throw new Error(`flaky ${n} fails on purpose`)
  },
})

/** At most two at once per group, across every worker. */
export const limited = defineTask({
  name: 'limited',
  params: Type.Object({ group: Type.Integer({ minimum: 0, maximum: 99 }), ms: Type.Integer({ minimum: 0, maximum: 1000 }) }),
  concurrency: { limit: 2, by: 'group' },
  async run({ ms }) {
    if (ms > 0) await sleep(ms)
  },
})

/** Scheduled far ahead and cancelled before it is due: it never runs. */
export const later = defineTask({
  name: 'later',
  params: Type.Object({}),
  async run() {
    throw new Error('a cancelled task ran')
  },
})

export default [work, flaky, limited, later]
