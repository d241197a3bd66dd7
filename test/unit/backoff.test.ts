/**
 * The one backoff: failures in a row are counted, the 1st and every Nth logged, the delay grows to
 * a cap, and a success starts over.
 */
import t from 'tap'
import { Backoff } from '../../src/core/backoff.js'

/** A logger that keeps what it is told at warn. */
function warnings(): { logger: { warn(fields: object, message: string): void }; lines: { fields: Record<string, unknown>; message: string }[] } {
  const lines: { fields: Record<string, unknown>; message: string }[] = []
  return { lines, logger: { warn: (fields, message) => lines.push({ fields: fields as Record<string, unknown>, message }) } }
}

t.test('the delay grows by one step per failure in a row, up to the cap', async (t) => {
  const { logger } = warnings()
  const backoff = new Backoff({ step: 50, max: 200, logEvery: 20, logger, message: 'retrying' })
  t.same(
    Array.from({ length: 6 }, () => backoff.failed(new Error('down'))),
    [50, 100, 150, 200, 200, 200],
  )
  t.equal(backoff.failures, 6)
})

t.test('the 1st failure in a row and every Nth are logged, with the error and the count', async (t) => {
  const { logger, lines } = warnings()
  const backoff = new Backoff({ step: 10, max: 1_000, logEvery: 3, logger, message: 'could not do it; retrying' })
  const errors = Array.from({ length: 7 }, (_, i) => new Error(`failure ${i + 1}`))
  for (const err of errors) backoff.failed(err)
  t.same(
    lines.map((line) => line.fields.failures),
    [1, 3, 6],
  )
  t.same(
    lines.map((line) => line.fields.err),
    [errors[0], errors[2], errors[5]],
  )
  t.ok(
    lines.every((line) => line.message === 'could not do it; retrying'),
    'with the message given',
  )
})

t.test('a success starts a new run: the next failure is the 1st again, logged, with the first delay', async (t) => {
  const { logger, lines } = warnings()
  const backoff = new Backoff({ step: 100, max: 2_000, logEvery: 20, logger, message: 'retrying' })
  backoff.failed(new Error('a'))
  backoff.failed(new Error('b'))
  backoff.succeeded()
  t.equal(backoff.failures, 0)
  t.equal(backoff.failed(new Error('c')), 100)
  t.same(
    lines.map((line) => line.fields.failures),
    [1, 1],
  )
})

t.test('the message may be made from the error', async (t) => {
  const { logger, lines } = warnings()
  const backoff = new Backoff({ step: 500, max: 5_000, logEvery: 10, logger, message: (err) => `cannot reach redis: ${(err as Error).message}` })
  backoff.failed(new Error('ECONNREFUSED'))
  t.same(
    lines.map((line) => line.message),
    ['cannot reach redis: ECONNREFUSED'],
  )
})

t.test('with no step the delay stays 0: only the logging is throttled', async (t) => {
  const { logger, lines } = warnings()
  const backoff = new Backoff({ step: 0, max: 0, logEvery: 30, logger, message: 'heartbeat failed' })
  const delays = Array.from({ length: 60 }, () => backoff.failed(new Error('down')))
  t.ok(
    delays.every((delay) => delay === 0),
    'no delay',
  )
  t.same(
    lines.map((line) => line.fields.failures),
    [1, 30, 60],
  )
})
