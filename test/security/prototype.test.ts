/**
 * Names and keys that are also members of Object.prototype (`__proto__`, `constructor`,
 * `toString`, …) can neither pollute the process nor vanish from a view: every object keyed by data
 * has no prototype (or is a Map), task names follow one pattern everywhere, and the names and
 * params keys that rewrite prototypes are refused when a task is added.
 */
import t from 'tap'
import fc from 'fast-check'
import { Type } from '@sinclair/typebox'
import { defineTask, isShadowsError, type Shadow } from '../../src/index.js'
import { shadowKeys, storedKey } from '../../src/redis/keys.js'
import { FUZZ_TOKENS } from '../helpers/arbitraries.js'
import { cliSession, runFails } from '../helpers/cli.js'
import { assertError, json, makeApp, TASKS } from '../helpers/gateway.js'
import { adminRedis, closeAdmin, makeShadow } from '../helpers/shadow.js'

t.teardown(closeAdmin)

/** Every name a plain object already answers to, and the two that rewrite prototypes. */
const PROTOTYPE_NAMES = [...new Set([...Object.getOwnPropertyNames(Object.prototype), '__proto__', 'prototype'])]
/** The names refused outright as task names, parameter names and params keys. */
const REFUSED = ['__proto__', 'constructor', 'prototype']

/** Object.prototype's own property names, to check that nothing was added to it. */
const pristine = Object.getOwnPropertyNames(Object.prototype).sort()
function assertPrototypeUntouched(what: string): void {
  const now = Object.getOwnPropertyNames(Object.prototype).sort()
  if (now.join() !== pristine.join()) throw new Error(`${what}: Object.prototype gained ${now.filter((n) => !pristine.includes(n)).join(', ')}`)
}

/** Whether `value` holds, at any depth, a `__proto__` key or a `constructor` object with a `prototype`. */
function rewritesPrototype(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(rewritesPrototype)
  if (value === null || typeof value !== 'object') return false
  const record = value as Record<string, unknown>
  if (Object.hasOwn(record, '__proto__')) return true
  const ctor = Object.hasOwn(record, 'constructor') ? record.constructor : undefined
  if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return true
  return Object.values(record).some(rewritesPrototype)
}

/**
 * Writes scheduled and queued tasks the way an older version could have stored them, bypassing
 * today's checks: a record and a schedule entry, or a record and a stream entry.
 */
async function storeRaw(name: string, task: string, key: string, state: 'scheduled' | 'queued'): Promise<void> {
  const keys = shadowKeys(name)
  const redis = adminRedis()
  const due = Date.now() + 3_600_000
  await redis.hset(keys.task(storedKey(key)), { task, params: '{}', when: String(due), state, attempt: '0', gen: '1' })
  if (state === 'scheduled') await redis.zadd(keys.schedule, due, storedKey(key))
  else await redis.xadd(keys.stream, '*', 'key', storedKey(key), 'task', task, 'params', '{}', 'when', String(due), 'attempt', '1', 'gen', '1')
}

t.test('a task named after a prototype member is refused by the library and the CLI, and nothing is stored', async (t) => {
  const shadow = makeShadow(t)
  for (const task of REFUSED) {
    const err = await shadow
      .add(task, { delay: 3_600_000 })({})
      .catch((e: unknown) => e)
    t.ok(isShadowsError(err, 'SHADOWS_ERR_VALIDATION'), `add(${task}) is refused`)
    const replaced = await shadow
      .replace(task, { key: 'k', delay: 1000 })({})
      .catch((e: unknown) => e)
    t.ok(isShadowsError(replaced, 'SHADOWS_ERR_VALIDATION'), `replace(${task}) is refused`)
    const batch = await shadow.addBatch([{ task, params: {} }])
    t.ok(!batch[0]?.ok && batch[0]?.error.code === 'SHADOWS_ERR_VALIDATION', `a batch item named ${task} is refused`)
  }
  t.equal((await shadow.snapshot()).counts.scheduled, 0, 'nothing was scheduled')

  const cli = cliSession(t, 'proto')
  const stderr = await runFails(t, cli, ['add', '__proto__', '--delay', '3600000'], 2)
  t.match(stderr, /SHADOWS_ERR_VALIDATION: task name/, 'the CLI says why')
  t.notOk(await adminRedis().exists(shadowKeys(cli.name).schedule), 'the CLI stored nothing')

  t.throws(() => defineTask({ name: 'constructor', run() {} }), /task name/, 'defineTask refuses it too')
})

t.test('params holding a key that rewrites a prototype are refused at add time', async (t) => {
  const shadow = makeShadow(t)
  const hostile = [
    JSON.parse('{"__proto__": {"polluted": true}}'),
    JSON.parse('{"user": {"__proto__": {"polluted": true}}}'),
    JSON.parse('{"list": [{"constructor": {"prototype": {"polluted": true}}}]}'),
  ] as Record<string, unknown>[]
  for (const params of hostile) {
    const err = await shadow
      .add('anything', { delay: 1000 })(params)
      .catch((e: unknown) => e)
    t.ok(isShadowsError(err, 'SHADOWS_ERR_INVALID_PARAMS'), `refused: ${JSON.stringify(params)}`)
  }
  const ok = await shadow.add('anything', { delay: 1000 })({ constructor: 'a name', toString: 1, valueOf: [1] })
  t.equal(ok.state, 'scheduled', 'keys named after ordinary prototype members are fine')
  t.equal((await shadow.snapshot()).counts.scheduled, 1, 'only the ordinary one was stored')
  assertPrototypeUntouched('after the adds')
})

t.test('strikes on a prototype member as task or parameter name are refused', async (t) => {
  const shadow = makeShadow(t)
  for (const name of REFUSED) {
    const byTask = await shadow.strike({ task: name }).catch((e: unknown) => e)
    t.ok(isShadowsError(byTask, 'SHADOWS_ERR_VALIDATION'), `strike task ${name} is refused`)
    const byParameter = await shadow.strike({ parameter: name, value: 1 }).catch((e: unknown) => e)
    t.ok(isShadowsError(byParameter, 'SHADOWS_ERR_VALIDATION'), `strike parameter ${name} is refused`)
  }
  const inValue = await shadow.strike({ parameter: 'user', value: JSON.parse('{"__proto__": {"x": 1}}') }).catch((e: unknown) => e)
  t.ok(isShadowsError(inValue, 'SHADOWS_ERR_VALIDATION'), 'a strike value holding __proto__ is refused')
  const strike = await shadow.strike({ parameter: 'toString', value: 'x' })
  t.ok(strike.created, 'a parameter named after an ordinary prototype member can be struck')
  t.same(await shadow.strikes(), [strike.strike], 'nothing else was stored')
})

t.test('a snapshot counts tasks named after prototype members, and a gateway serving it stays whole', async (t) => {
  const { app, name } = await makeApp(t, { tokens: FUZZ_TOKENS })
  const read = { authorization: 'Bearer fuzz-read-token' }
  for (const [i, task] of ['__proto__', 'constructor', 'toString', '__proto__'].entries()) await storeRaw(name, task, `s${i}`, 'scheduled')
  await storeRaw(name, 'hasOwnProperty', 'q1', 'queued')
  await storeRaw(name, '__proto__', 'q2', 'queued')

  const answer = await app.inject({ method: 'GET', url: '/snapshot', headers: read })
  t.equal(answer.statusCode, 200, 'the snapshot is served')
  assertPrototypeUntouched('after GET /snapshot')
  const body = json<{ byTask: Record<string, { scheduled: number; queued: number; running: number }> }>(answer)
  t.same(
    Object.entries(body.byTask).sort(([a], [b]) => a.localeCompare(b)),
    [
      ['__proto__', { scheduled: 2, queued: 1, running: 0 }],
      ['constructor', { scheduled: 1, queued: 0, running: 0 }],
      ['hasOwnProperty', { scheduled: 0, queued: 1, running: 0 }],
      ['toString', { scheduled: 1, queued: 0, running: 0 }],
    ],
    'every task is counted under its own name',
  )

  const added = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { authorization: 'Bearer fuzz-ops-token', 'content-type': 'application/json' },
    payload: { task: TASKS[0]?.name, params: { name: 'Jane' } },
  })
  t.equal(added.statusCode, 202, 'a valid add still succeeds afterwards')
  const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: read })
  t.equal(metrics.statusCode, 200, 'metrics are still served')
  const refused = await app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { authorization: 'Bearer fuzz-ops-token', 'content-type': 'application/json' },
    payload: { task: '__proto__' },
  })
  assertError(t, refused, 400, 'SHADOWS_ERR_UNKNOWN_TASK', 'POST a task named __proto__')
})

t.test('property: prototype-ish names and keys through every path that builds an object', async (t) => {
  const shadow = makeShadow(t)
  const probe = defineTask({ name: 'probe', params: Type.Object({}, { additionalProperties: true }), run() {} })
  const registered: Shadow = makeShadow(t, { tasks: [probe] })
  const name = fc.constantFrom(...PROTOTYPE_NAMES)
  const nested = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.jsonValue({ maxDepth: 1 }),
      fc.array(tie('value'), { maxLength: 3 }),
      fc.dictionary(name, tie('value'), { maxKeys: 3 }),
    ),
  })).value
  // the model: what the snapshot must count, by task name, in a Map (at most one at a time)
  const model = new Map<string, number>()
  let keyCounter = 0

  await fc.assert(
    fc.asyncProperty(name, fc.dictionary(name, nested, { maxKeys: 4 }), async (task, rawParams) => {
      // the params as a JSON body delivers them: own properties, even __proto__
      const params = JSON.parse(JSON.stringify(rawParams)) as Record<string, unknown>
      const hostileParams = rewritesPrototype(params)
      const key = `p${keyCounter++}`
      for (const target of [shadow, registered]) {
        const outcome = await target
          .add(target === registered ? 'probe' : task, { key, delay: 3_600_000 })(params)
          .then(
            () => 'stored',
            (err: unknown) => (isShadowsError(err) ? err.code : `threw ${String(err)}`),
          )
        const taskRefused = target === shadow && REFUSED.includes(task)
        const expected = taskRefused ? 'SHADOWS_ERR_VALIDATION' : hostileParams ? 'SHADOWS_ERR_INVALID_PARAMS' : 'stored'
        if (outcome !== expected) throw new Error(`add(${target === shadow ? task : 'probe'}, ${JSON.stringify(params)}): ${outcome}, expected ${expected}`)
        if (outcome === 'stored' && target === shadow) model.set(task, (model.get(task) ?? 0) + 1)
      }
      // the name as parameter, and as a key inside the value (small: strike values are bounded)
      const value = JSON.parse(`{${JSON.stringify(task)}: 1}`) as Record<string, number>
      const struck = await shadow.strike({ parameter: task, value }).then(
        ({ strike }) => shadow.restore(strike.id).then(() => 'stored'),
        (err: unknown) => (isShadowsError(err) ? err.code : `threw ${String(err)}`),
      )
      const strikeExpected = REFUSED.includes(task) ? 'SHADOWS_ERR_VALIDATION' : 'stored'
      if (struck !== strikeExpected) throw new Error(`strike(${task}, ${JSON.stringify(value)}): ${struck}, expected ${strikeExpected}`)
      const snapshot = await shadow.snapshot()
      assertPrototypeUntouched(`task ${task}`)
      const counted = Object.entries(snapshot.byTask).map(([name, counts]) => [name, counts.scheduled] as const)
      const expected = [...model].filter(([, scheduled]) => scheduled > 0)
      const order = (a: readonly [string, number], b: readonly [string, number]) => a[0].localeCompare(b[0])
      if (JSON.stringify(counted.sort(order)) !== JSON.stringify(expected.sort(order))) {
        throw new Error(`snapshot counts ${JSON.stringify(counted)}, expected ${JSON.stringify(expected)}`)
      }
      // the shadow stays small, so that the snapshot's bounded scan sees every task
      if (model.get(task)) {
        await shadow.cancel(key)
        model.set(task, (model.get(task) as number) - 1)
      }
    }),
    { seed: 16_161_616, numRuns: 150, endOnFailure: true },
  )
  t.pass('every path kept Object.prototype whole and counted every name')
})
