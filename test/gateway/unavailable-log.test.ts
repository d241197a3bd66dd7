/**
 * UnavailableLog: while Redis is away the gateway logs the first failed request whole, then one
 * line per interval with how many more failed, and starts over once a whole interval passed
 * without one. The intervals are stepped by hand here.
 */
import t from 'tap'
import { UnavailableLog } from '../../src/gateway/logging.js'

interface Line {
  readonly fields: Record<string, unknown>
  readonly message: string
}

function capture(): { lines: Line[]; logger: { error(fields: Record<string, unknown>, message: string): void } } {
  const lines: Line[] = []
  return { lines, logger: { error: (fields, message) => void lines.push({ fields, message }) } }
}

/** A schedule whose one pending interval ends when the test says so. */
function manualSchedule() {
  let pending: (() => void) | undefined
  return {
    schedule: (fn: () => void) => {
      pending = fn
      return () => {
        pending = undefined
      }
    },
    pending: () => pending !== undefined,
    /** Ends the pending interval. */
    end: () => {
      const fn = pending
      pending = undefined
      fn?.()
    },
  }
}

const UNAVAILABLE = 'SHADOWS_ERR_UNAVAILABLE'

t.test('the first failure whole, the rest summed up per interval, and a quiet interval ends the outage', async (t) => {
  const gateway = capture()
  const request = capture()
  const clock = manualSchedule()
  const log = new UnavailableLog(gateway.logger as never, 10_000, clock.schedule)
  const err = new Error('Connection is closed.')
  for (let i = 0; i < 50; i++) log.failed(request.logger as never, err, UNAVAILABLE)
  t.equal(request.lines.length, 1, 'one line for the first failure, on the request logger')
  t.match(request.lines[0], { message: 'request failed', fields: { err, code: UNAVAILABLE } }, 'with its cause')
  t.equal(gateway.lines.length, 0, 'nothing summed up before the interval ends')

  clock.end()
  t.equal(gateway.lines.length, 1, 'one line when the interval ends')
  t.match(gateway.lines[0], { fields: { code: UNAVAILABLE, requests: 49 }, message: /^49 more requests failed/ }, 'counting the other 49')
  t.ok(clock.pending(), 'and the counting goes on')

  for (let i = 0; i < 3; i++) log.failed(request.logger as never, err, UNAVAILABLE)
  clock.end()
  t.equal(request.lines.length, 1, 'no line per request while it lasts')
  t.match(gateway.lines[1], { fields: { requests: 3 } }, 'the second interval counts its own')

  clock.end()
  t.equal(gateway.lines.length, 2, 'an interval without a failure logs nothing')
  t.notOk(clock.pending(), 'and ends the outage')
  log.failed(request.logger as never, err, UNAVAILABLE)
  t.equal(request.lines.length, 2, 'a failure after the outage ended is logged whole')
  t.ok(clock.pending(), 'and counting starts again')
})

t.test('closing logs what was counted and stops the interval', async (t) => {
  const gateway = capture()
  const request = capture()
  const clock = manualSchedule()
  const log = new UnavailableLog(gateway.logger as never, 10_000, clock.schedule)
  log.failed(request.logger as never, new Error('x'), UNAVAILABLE)
  log.failed(request.logger as never, new Error('x'), UNAVAILABLE)
  log.close()
  t.match(gateway.lines, [{ fields: { requests: 1 } }], 'the one counted, at close')
  t.notOk(clock.pending(), 'no interval left pending')
  log.close()
  t.equal(gateway.lines.length, 1, 'closing twice logs nothing more')
})
