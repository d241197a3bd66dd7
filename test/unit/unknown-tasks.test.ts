/**
 * The decision for a task no worker knows: put back after a delay that doubles with each deferral,
 * up to the cap, never past the moment it fails; failed with SHADOWS_ERR_UNKNOWN_TASK once the
 * timeout has passed since the first deferral.
 */
import t from 'tap'
import { TimeoutError, UnknownTaskError, TASK_ERRORS } from '../../src/index.js'
import { describeError } from '../../src/core/records.js'
import { decideUnknownTask, formatDuration, type UnknownTaskPolicy } from '../../src/core/unknown-tasks.js'

const NOW = 1_800_000_000_000
const HOUR: UnknownTaskPolicy = { firstDelay: 1_000, maxDelay: 60_000, timeout: 3_600_000 }

t.test('the delay doubles with each deferral, up to maxDelay', async (t) => {
  const dues = [0, 1, 2, 3, 5, 6, 7, 100].map((deferrals) => {
    const decision = decideUnknownTask('x', { deferrals, since: deferrals === 0 ? undefined : NOW - 1 }, HOUR, NOW)
    return decision.kind === 'defer' ? decision.due - NOW : undefined
  })
  t.same(dues, [1_000, 2_000, 4_000, 8_000, 32_000, 60_000, 60_000, 60_000])
})

t.test('never offered again past the moment it fails, and failed from then on', async (t) => {
  const since = NOW - 3_590_000
  t.same(decideUnknownTask('x', { deferrals: 40, since }, HOUR, NOW), { kind: 'defer', due: since + HOUR.timeout }, 'the last offer is at the timeout')
  const failed = decideUnknownTask('report', { deferrals: 41, since: NOW - HOUR.timeout }, HOUR, NOW)
  t.same(failed, {
    kind: 'fail',
    error: { type: 'UnknownTaskError', code: 'SHADOWS_ERR_UNKNOWN_TASK', message: 'no worker knows the task "report" (deferred for 1h)' },
  })
})

t.test('a record written by hand with a count or time that is none starts afresh', async (t) => {
  t.same(decideUnknownTask('x', { deferrals: Number.NaN, since: Number.NaN }, HOUR, NOW), { kind: 'defer', due: NOW + 1_000 })
  t.same(decideUnknownTask('x', { deferrals: -3, since: undefined }, HOUR, NOW), { kind: 'defer', due: NOW + 1_000 })
})

t.test('a timeout of 0 fails the task the first time a worker meets it', async (t) => {
  t.match(decideUnknownTask('x', { deferrals: 0, since: undefined }, { ...HOUR, timeout: 0 }, NOW), { kind: 'fail' })
})

t.test("shadows' own errors keep their code in the record; a task's own errors do not get one", async (t) => {
  t.same(describeError(new UnknownTaskError('lost')), { type: 'UnknownTaskError', code: 'SHADOWS_ERR_UNKNOWN_TASK', message: 'lost' })
  t.same(describeError(new TimeoutError(5)), { type: 'TimeoutError', code: 'SHADOWS_ERR_TIMEOUT', message: 'timed out after 5 ms' })
  const nodeError = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
  t.same(describeError(nodeError), { type: 'Error', message: 'refused' })
  t.same(describeError(Object.assign(new Error('odd'), { code: 'toString' })), { type: 'Error', message: 'odd' }, 'not fooled by the prototype')
  t.ok(Object.hasOwn(TASK_ERRORS, 'SHADOWS_ERR_UNKNOWN_TASK'), 'listed in TASK_ERRORS')
})

t.test('durations for people', async (t) => {
  t.same([250, 1_000, 42_400, 60_000, 303_000, 3_600_000, 9_000_000].map(formatDuration), ['250ms', '1s', '42s', '1m', '5m 3s', '1h', '2h 30m'])
})
