/**
 * Pure task logic: defineTask validation and defaults, retryDelay, nextCronTime.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask, ShadowsError, type RetryOptions } from '../../src/index.js'
import { isAutomatic, isRecurring, nextCronTime, retryDelay } from '../../src/core/task.js'
import { throwsCode } from '../helpers/engine-rules.js'

const run = async () => undefined

t.test('defineTask: a valid task and its defaults', async (t) => {
  const task = defineTask({ name: 'greet', params: Type.Object({ name: Type.String() }), run })
  t.equal(task.name, 'greet')
  t.equal(task.run, run)
  t.equal(task.retry, undefined, 'no retry: one try')
  t.equal(task.timeout, undefined)
  t.equal(task.perpetual, undefined)
  t.equal(task.cron, undefined)
  t.ok(Object.isFrozen(task), 'the task is frozen')
  t.equal(isRecurring(task), false)
  t.equal(isAutomatic(task), false)

  const bare = defineTask({ name: 'bare', run })
  t.equal(bare.params.type, 'object', 'params default to an empty object schema')
  t.doesNotThrow(() => bare.validate({}))

  t.doesNotThrow(() => task.validate({ name: 'Jane' }))
  throwsCode(t, () => task.validate({ nam: 'Jane' }), 'SHADOWS_ERR_INVALID_PARAMS', 'validate: a missing field')
  throwsCode(t, () => task.validate({ name: 5 }), 'SHADOWS_ERR_INVALID_PARAMS', 'validate: a wrong type')

  for (const name of ['a', 'x'.repeat(100), 'mail.send:v2_final-1', 'A.B']) {
    t.equal(defineTask({ name, run }).name, name, `name ${JSON.stringify(name)} is accepted`)
  }
})

t.test('defineTask: retry defaults and normalisation', async (t) => {
  const minimal = defineTask({ name: 'r1', run, retry: { attempts: 3 } })
  t.same(minimal.retry, { attempts: 3, delay: 1000, backoff: 'fixed', maxDelay: Number.MAX_SAFE_INTEGER })
  t.ok(Object.isFrozen(minimal.retry))
  const full = defineTask({ name: 'r2', run, retry: { attempts: 5, delay: 0, backoff: 'exponential', maxDelay: 0 } })
  t.same(full.retry, { attempts: 5, delay: 0, backoff: 'exponential', maxDelay: 0 }, 'zero delays are allowed')
  t.same(defineTask({ name: 'r3', run, retry: { attempts: 1 } }).retry?.attempts, 1, 'attempts: 1 is one try')
  t.equal(defineTask({ name: 't', run, timeout: 1 }).timeout, 1)
})

t.test('defineTask: invalid options throw SHADOWS_ERR_VALIDATION', async (t) => {
  const cases: [string, () => unknown][] = [
    ['empty name', () => defineTask({ name: '', run })],
    ['name too long', () => defineTask({ name: 'x'.repeat(101), run })],
    ['name with a space', () => defineTask({ name: 'a b', run })],
    ['name with a slash', () => defineTask({ name: 'a/b', run })],
    ['name with @ (allowed in keys, not in task names)', () => defineTask({ name: 'a@b', run })],
    ['name not a string', () => defineTask({ name: 5 as unknown as string, run })],
    ['run not a function', () => defineTask({ name: 'x', run: 'nope' as unknown as typeof run })],
    ['params not an object schema', () => defineTask({ name: 'x', params: Type.String() as never, run })],
    ['retry.attempts 0', () => defineTask({ name: 'x', run, retry: { attempts: 0 } })],
    ['retry.attempts negative', () => defineTask({ name: 'x', run, retry: { attempts: -1 } })],
    ['retry.attempts fractional', () => defineTask({ name: 'x', run, retry: { attempts: 1.5 } })],
    ['retry.attempts missing', () => defineTask({ name: 'x', run, retry: {} as RetryOptions })],
    ['retry.attempts a string', () => defineTask({ name: 'x', run, retry: { attempts: '3' as unknown as number } })],
    ['retry.delay negative', () => defineTask({ name: 'x', run, retry: { attempts: 2, delay: -1 } })],
    ['retry.delay fractional', () => defineTask({ name: 'x', run, retry: { attempts: 2, delay: 0.5 } })],
    ['retry.maxDelay negative', () => defineTask({ name: 'x', run, retry: { attempts: 2, maxDelay: -5 } })],
    ['retry.backoff unknown', () => defineTask({ name: 'x', run, retry: { attempts: 2, backoff: 'linear' as 'fixed' } })],
    ['timeout 0', () => defineTask({ name: 'x', run, timeout: 0 })],
    ['timeout negative', () => defineTask({ name: 'x', run, timeout: -100 })],
    ['timeout fractional', () => defineTask({ name: 'x', run, timeout: 10.5 })],
    ['timeout NaN', () => defineTask({ name: 'x', run, timeout: Number.NaN })],
    ['perpetual.every 0', () => defineTask({ name: 'x', run, perpetual: { every: 0 } })],
    ['perpetual.every negative', () => defineTask({ name: 'x', run, perpetual: { every: -1 } })],
    ['perpetual.every missing', () => defineTask({ name: 'x', run, perpetual: {} as { every: number } })],
    ['perpetual and cron together', () => defineTask({ name: 'x', run, perpetual: { every: 1000 }, cron: { expression: '* * * * *' } })],
    ['cron not an expression', () => defineTask({ name: 'x', run, cron: { expression: 'not a cron' } })],
    ['cron with too few fields', () => defineTask({ name: 'x', run, cron: { expression: '* * *' } })],
    ['cron with too many fields', () => defineTask({ name: 'x', run, cron: { expression: '* * * * * * * *' } })],
    ['cron minute out of range', () => defineTask({ name: 'x', run, cron: { expression: '61 * * * *' } })],
    ['cron hour out of range', () => defineTask({ name: 'x', run, cron: { expression: '0 25 * * *' } })],
    ['cron empty', () => defineTask({ name: 'x', run, cron: { expression: '' } })],
    ['cron with an unknown time zone', () => defineTask({ name: 'x', run, cron: { expression: '* * * * *', tz: 'Not/AZone' } })],
  ]
  for (const [what, fn] of cases) {
    const err = throwsCode(t, fn, 'SHADOWS_ERR_VALIDATION', `${what} is refused`)
    if (err !== undefined) t.type(err, ShadowsError, `${what}: a ShadowsError`)
  }
})

t.test('defineTask: perpetual and cron tasks', async (t) => {
  const perpetual = defineTask({ name: 'tick', run, perpetual: { every: 50 } })
  t.same(perpetual.perpetual, { every: 50 })
  t.equal(isRecurring(perpetual), true)
  t.equal(isAutomatic(perpetual), false, 'perpetual tasks are not automatic unless asked')
  const automatic = defineTask({ name: 'tock', run, perpetual: { every: 50, automatic: true } })
  t.equal(isAutomatic(automatic), true)
  const cron = defineTask({ name: 'nightly', run, cron: { expression: '0 0 3 * * *', tz: 'Europe/Paris' } })
  t.same(cron.cron, { expression: '0 0 3 * * *', tz: 'Europe/Paris' })
  t.equal(isRecurring(cron), true)
  t.equal(isAutomatic(cron), true, 'cron tasks are always automatic')
  t.ok(defineTask({ name: 'secs', run, cron: { expression: '*/1 * * * * *' } }), 'a seconds field is accepted')
})

t.test('retryDelay: fixed backoff waits delay each time', async (t) => {
  const fixed = { attempts: 10, delay: 250, backoff: 'fixed', maxDelay: Number.MAX_SAFE_INTEGER } as const
  t.same(
    [1, 2, 3, 4, 9].map((n) => retryDelay(fixed, n)),
    [250, 250, 250, 250, 250],
  )
  const zero = { attempts: 3, delay: 0, backoff: 'fixed', maxDelay: Number.MAX_SAFE_INTEGER } as const
  t.same(
    [1, 2].map((n) => retryDelay(zero, n)),
    [0, 0],
  )
  const viaDefine = defineTask({ name: 'f', run, retry: { attempts: 4, delay: 300 } }).retry
  t.ok(viaDefine)
  if (viaDefine)
    t.same(
      [1, 2, 3].map((n) => retryDelay(viaDefine, n)),
      [300, 300, 300],
      'backoff defaults to fixed',
    )
  const defaults = defineTask({ name: 'g', run, retry: { attempts: 2 } }).retry
  if (defaults) t.equal(retryDelay(defaults, 1), 1000, 'delay defaults to 1000 ms')
})

t.test('retryDelay: exponential backoff doubles, capped by maxDelay', async (t) => {
  const uncapped = { attempts: 20, delay: 100, backoff: 'exponential', maxDelay: Number.MAX_SAFE_INTEGER } as const
  t.same(
    [1, 2, 3, 4, 5, 10].map((n) => retryDelay(uncapped, n)),
    [100, 200, 400, 800, 1600, 51_200],
    'delay * 2^(n-1)',
  )
  const capped = { attempts: 20, delay: 100, backoff: 'exponential', maxDelay: 500 } as const
  t.same(
    [1, 2, 3, 4, 5, 15].map((n) => retryDelay(capped, n)),
    [100, 200, 400, 500, 500, 500],
    'capped at maxDelay',
  )
  const exact = { attempts: 20, delay: 100, backoff: 'exponential', maxDelay: 400 } as const
  t.same(
    [3, 4].map((n) => retryDelay(exact, n)),
    [400, 400],
    'a delay equal to maxDelay is kept',
  )
  const viaDefine = defineTask({ name: 'e', run, retry: { attempts: 6, delay: 40, backoff: 'exponential', maxDelay: 100 } }).retry
  t.ok(viaDefine)
  if (viaDefine)
    t.same(
      [1, 2, 3, 4, 5].map((n) => retryDelay(viaDefine, n)),
      [40, 80, 100, 100, 100],
    )
  const huge = { attempts: 2000, delay: 1000, backoff: 'exponential', maxDelay: 60_000 } as const
  t.equal(retryDelay(huge, 1500), 60_000, 'a huge attempt number stays capped (no Infinity/NaN)')
})

t.test('nextCronTime: next matching wall-clock time, strictly after', async (t) => {
  const everySecond = { expression: '*/1 * * * * *' }
  t.same(nextCronTime(everySecond, new Date('2024-01-01T00:00:00.000Z')), new Date('2024-01-01T00:00:01.000Z'), 'strictly after a matching time')
  t.same(nextCronTime(everySecond, new Date('2024-01-01T00:00:00.500Z')), new Date('2024-01-01T00:00:01.000Z'), 'rounds up to the whole second')
  t.same(nextCronTime(everySecond, new Date('2024-01-01T00:00:59.999Z')), new Date('2024-01-01T00:01:00.000Z'))
  const everyFive = { expression: '*/5 * * * * *' }
  t.same(nextCronTime(everyFive, new Date('2024-01-01T00:00:03.000Z')), new Date('2024-01-01T00:00:05.000Z'))
  t.same(nextCronTime(everyFive, new Date('2024-01-01T00:00:05.000Z')), new Date('2024-01-01T00:00:10.000Z'))
  const hourly = { expression: '0 * * * *', tz: 'UTC' }
  t.same(nextCronTime(hourly, new Date('2024-03-10T10:15:00Z')), new Date('2024-03-10T11:00:00Z'), 'five fields: minutes first')
  const nineUtc = { expression: '0 9 * * *', tz: 'UTC' }
  t.same(nextCronTime(nineUtc, new Date('2024-01-15T09:00:00Z')), new Date('2024-01-16T09:00:00Z'), 'at the matching minute: the next day')
  t.same(nextCronTime(nineUtc, new Date('2024-01-15T08:59:59Z')), new Date('2024-01-15T09:00:00Z'))
  const weekday = { expression: '30 8 * * MON', tz: 'UTC' }
  t.same(nextCronTime(weekday, new Date('2024-01-17T12:00:00Z')), new Date('2024-01-22T08:30:00Z'), 'day of week (2024-01-22 is a Monday)')
  t.equal(nextCronTime({ expression: '0 0 0 30 2 *' }, new Date('2024-01-01T00:00:00Z')), undefined, 'never matching again: undefined')
})

t.test('nextCronTime: the time zone decides the wall clock', async (t) => {
  const paris = { expression: '0 0 9 * * *', tz: 'Europe/Paris' }
  t.same(nextCronTime(paris, new Date('2024-01-15T00:00:00Z')), new Date('2024-01-15T08:00:00Z'), '09:00 Paris in winter is 08:00Z')
  t.same(nextCronTime(paris, new Date('2024-07-15T00:00:00Z')), new Date('2024-07-15T07:00:00Z'), '09:00 Paris in summer is 07:00Z')
  t.same(nextCronTime(paris, new Date('2024-01-15T08:00:00Z')), new Date('2024-01-16T08:00:00Z'), 'strictly after, in a zone')
  const newYork = { expression: '0 9 * * *', tz: 'America/New_York' }
  t.same(nextCronTime(newYork, new Date('2024-01-15T00:00:00Z')), new Date('2024-01-15T14:00:00Z'), '09:00 New York in winter is 14:00Z')
  t.same(nextCronTime(newYork, new Date('2024-07-15T00:00:00Z')), new Date('2024-07-15T13:00:00Z'), '09:00 New York in summer is 13:00Z')
  const tokyo = { expression: '0 0 * * *', tz: 'Asia/Tokyo' }
  t.same(nextCronTime(tokyo, new Date('2024-01-15T16:00:00Z')), new Date('2024-01-16T15:00:00Z'), 'midnight Tokyo is 15:00Z the day before')
  // across a DST change: Paris switched to summer time on 2024-03-31
  t.same(nextCronTime(paris, new Date('2024-03-30T12:00:00Z')), new Date('2024-03-31T07:00:00Z'), 'across the spring DST change')
})

t.test('retry for ever: attempts Infinity; with exponential backoff it needs maxDelay, and its delays stay finite', async (t) => {
  const forever = defineTask({ name: 'forever', run, retry: { attempts: Infinity, delay: 100, backoff: 'exponential', maxDelay: 60_000 } })
  t.equal(forever.retry?.attempts, Infinity)
  t.equal(retryDelay(forever.retry!, 1), 100)
  t.equal(retryDelay(forever.retry!, 10_000), 60_000, 'attempt 10,000 waits maxDelay, not Infinity')
  const zero = defineTask({ name: 'zero', run, retry: { attempts: Infinity, delay: 0, backoff: 'exponential', maxDelay: 10 } })
  t.equal(retryDelay(zero.retry!, 5_000), 0, 'a zero delay stays 0, never NaN')
  t.equal(defineTask({ name: 'fixed', run, retry: { attempts: Infinity } }).retry?.attempts, Infinity, 'fixed backoff needs no maxDelay')
  throwsCode(
    t,
    () => defineTask({ name: 'x', run, retry: { attempts: Infinity, backoff: 'exponential' } }),
    'SHADOWS_ERR_VALIDATION',
    'exponential for ever without maxDelay',
  )
  for (const attempts of [-Infinity, Number.NaN, 0, 1.5]) {
    throwsCode(t, () => defineTask({ name: 'x', run, retry: { attempts } }), 'SHADOWS_ERR_VALIDATION', `attempts ${attempts}`)
  }
})

t.test('cron without tz runs in UTC, whatever the host time zone', async (t) => {
  const saved = process.env.TZ
  t.teardown(() => {
    if (saved === undefined) delete process.env.TZ
    else process.env.TZ = saved
  })
  const after = new Date('2026-07-01T00:00:00Z')
  for (const zone of ['America/New_York', 'Asia/Kolkata', 'UTC']) {
    process.env.TZ = zone
    t.equal(nextCronTime({ expression: '0 12 * * *' }, after)?.toISOString(), '2026-07-01T12:00:00.000Z', `noon UTC on a host in ${zone}`)
  }
  t.equal(nextCronTime({ expression: '0 12 * * *', tz: 'Europe/Paris' }, after)?.toISOString(), '2026-07-01T10:00:00.000Z', 'a tz given is kept')
})
