/**
 * Example tasks, used by `shadows dev` and the docs. A tasks module is an ES module whose default
 * export is an array of tasks; the gateway and the workers load the same one.
 */
import { Type } from '@sinclair/typebox'
import { setTimeout as sleep } from 'node:timers/promises'
import { defineTask } from '../core/task.js'

/** Logs a greeting. */
export const greet = defineTask({
  name: 'greet',
  params: Type.Object({ name: Type.String({ minLength: 1 }), greeting: Type.Optional(Type.String()) }),
  async run({ name, greeting = 'Hello' }, ctx) {
    const text = `${greeting}, ${name}!`
    ctx.logger.info({ text }, 'greeting')
    return { text, at: new Date().toISOString() }
  },
})

/** Waits `ms` milliseconds in ten steps, reporting progress; honours cancel. */
export const sleepTask = defineTask({
  name: 'sleep',
  params: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: 3_600_000 }) }),
  timeout: 3_700_000,
  async run({ ms }, ctx) {
    for (let step = 1; step <= 10; step++) {
      await sleep(ms / 10, undefined, { signal: ctx.signal })
      await ctx.progress(step, 10, `slept ${Math.round((ms * step) / 10)} ms`)
    }
    return { slept: ms }
  },
})

/** Fails until its third attempt: shows retries with exponential backoff. */
export const flaky = defineTask({
  name: 'flaky',
  params: Type.Object({ succeedOnAttempt: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })) }),
  retry: { attempts: 5, delay: 500, backoff: 'exponential', maxDelay: 5000 },
  async run({ succeedOnAttempt = 3 }, ctx) {
    if (ctx.attempt < succeedOnAttempt) throw new Error(`attempt ${ctx.attempt} failed on purpose`)
    return { attempt: ctx.attempt }
  },
})

export default [greet, sleepTask, flaky]
