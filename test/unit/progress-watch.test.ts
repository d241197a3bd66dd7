/**
 * Stuck detection of the read loop, on an injected clock: alive while steps come within the bound,
 * stuck once none came for longer, alive however long it waits for running tasks; and the reply
 * readiness makes of a worker's health.
 */
import t from 'tap'
import { ProgressWatch } from '../../src/worker/health.js'
import { readyReply } from '../../src/cli/health.js'

/** A clock that moves only when told. */
function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let time = start
  return { now: () => time, advance: (ms) => (time += ms) }
}

t.test('before its first step the loop is not alive', async (t) => {
  const clock = manualClock()
  const watch = new ProgressWatch({ bound: 1_000, now: clock.now })
  t.same(watch.progress(), { alive: false, lastStepAt: undefined })
})

t.test('alive while steps come within the bound; stuck once none came for longer', async (t) => {
  const clock = manualClock()
  const watch = new ProgressWatch({ bound: 1_000, now: clock.now })
  watch.step()
  const first = clock.now()
  t.same(watch.progress(), { alive: true, lastStepAt: first })
  clock.advance(1_000)
  t.ok(watch.progress().alive, 'alive at exactly the bound')
  clock.advance(1)
  t.same(watch.progress(), { alive: false, lastStepAt: first }, 'stuck just past it, and says when it last stepped')
  watch.step()
  t.same(watch.progress(), { alive: true, lastStepAt: clock.now() }, 'a step makes it alive again')
})

t.test('waiting for running tasks to free a slot is never stuck, until the next step', async (t) => {
  const clock = manualClock()
  const watch = new ProgressWatch({ bound: 1_000, now: clock.now })
  watch.waitOnTasks()
  const waitedFrom = clock.now()
  clock.advance(3_600_000)
  t.same(watch.progress(), { alive: true, lastStepAt: waitedFrom }, 'an hour-long task keeps every slot: still alive')
  watch.step()
  clock.advance(1_001)
  t.notOk(watch.progress().alive, 'once it moved on, the bound applies again')
})

t.test('readiness: 200 ok only when Redis answers and the read loop is alive; 503 unavailable otherwise', async (t) => {
  t.same(readyReply({ redis: true, readLoop: true }), { statusCode: 200, body: { status: 'ok', redis: true, readLoop: true } })
  t.same(readyReply({ redis: false, readLoop: true }), { statusCode: 503, body: { status: 'unavailable', redis: false, readLoop: true } })
  t.same(readyReply({ redis: true, readLoop: false }), { statusCode: 503, body: { status: 'unavailable', redis: true, readLoop: false } })
  t.same(readyReply({ redis: false, readLoop: false }), { statusCode: 503, body: { status: 'unavailable', redis: false, readLoop: false } })
})
