/**
 * A strike value is bounded in bytes: an oversized one is refused with SHADOWS_ERR_VALIDATION
 * naming the limit, by the library, over HTTP and by the CLI, and nothing is stored.
 */
import t, { type Test } from 'tap'
import type { JsonValue } from '../../src/index.js'
import { rejectsCode } from '../helpers/engine-rules.js'
import { assertError, json, makeApp } from '../helpers/gateway.js'
import { cliSession, runOk } from '../helpers/cli.js'
import { closeAdmin, makeShadow, shadowKeysIn } from '../helpers/shadow.js'

t.teardown(closeAdmin)

/** The documented limit on a strike value: 1 KiB of canonical JSON. */
const MAX_STRIKE_VALUE_BYTES = 1024

/** A JSON string whose JSON text (quotes included) is exactly `bytes` bytes of ASCII. */
function stringOfJsonBytes(bytes: number): string {
  return 'x'.repeat(bytes - 2)
}

/** Asserts that the shadow holds no strike at all: no rule, no version, no change. */
async function nothingStored(t: Test, name: string, what: string): Promise<void> {
  const strikeKeys = (await shadowKeysIn(name)).filter((key) => key.startsWith(`{${name}}:strikes`))
  t.same(strikeKeys, [], `${what}: no strike key in Redis`)
}

t.test('library: a value past the limit is refused, naming the limit; one at the limit is taken', async (t) => {
  const shadow = makeShadow(t)
  const oversized: [string, JsonValue][] = [
    ['a long string', stringOfJsonBytes(MAX_STRIKE_VALUE_BYTES + 1)],
    ['a 1 MiB string', 'x'.repeat(1024 * 1024)],
    ['multi-byte characters counted in bytes', 'é'.repeat(600)],
    ['an array of many numbers', Array.from({ length: 400 }, (_, i) => i)],
    ['an object of many keys', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i]))],
  ]
  for (const [what, value] of oversized) {
    const err = (await rejectsCode(t, shadow.strike({ parameter: 'customer', value }), 'SHADOWS_ERR_VALIDATION', `${what}: refused`)) as Error | undefined
    t.match(err?.message, /1024 bytes/, `${what}: the message says the limit`)
  }
  const wideBetween = ['a', stringOfJsonBytes(MAX_STRIKE_VALUE_BYTES)]
  await rejectsCode(
    t,
    shadow.strike({ parameter: 'customer', operator: 'between', value: wideBetween }),
    'SHADOWS_ERR_VALIDATION',
    'between: [lo, hi] counts as a whole',
  )
  await rejectsCode(
    t,
    shadow.restore({ parameter: 'customer', value: 'x'.repeat(4096) }),
    'SHADOWS_ERR_VALIDATION',
    'restore by an oversized rule: refused too',
  )
  await nothingStored(t, shadow.name, 'after the refusals')

  const atLimit = stringOfJsonBytes(MAX_STRIKE_VALUE_BYTES)
  const { strike, created } = await shadow.strike({ parameter: 'customer', value: atLimit })
  t.equal(created, true, 'a value of exactly the limit is stored')
  t.equal(strike.value, atLimit)
  await shadow.restore(strike.id)
})

t.test('HTTP: POST /strikes with an oversized value is 400 SHADOWS_ERR_VALIDATION and stores nothing', async (t) => {
  const { app, name } = await makeApp(t)
  for (const [what, value] of [
    ['a 2 KiB string', 'x'.repeat(2048)],
    ['a 64 KiB string', 'x'.repeat(64 * 1024)],
    ['a big object', Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`field${i}`, 'value']))],
  ] as const) {
    const answer = await app.inject({ method: 'POST', url: '/strikes', payload: { parameter: 'name', value } })
    const body = assertError(t, answer, 400, 'SHADOWS_ERR_VALIDATION', what)
    t.match(body.message, /1024 bytes/, `${what}: the message says the limit`)
  }
  t.same(json(await app.inject({ method: 'GET', url: '/strikes' })), { strikes: [] }, 'no strike listed')
  await nothingStored(t, name, 'after the refusals')
  const taken = await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'greet', params: { name: 'x'.repeat(2048) } } })
  t.equal(taken.statusCode, 202, 'and no rule strikes the value that was refused')
})

t.test('CLI: shadows strike with an oversized --value exits 2 with SHADOWS_ERR_VALIDATION and stores nothing', async (t) => {
  const cli = cliSession(t)
  // run directly rather than through runFails, whose messages would spell out the 4 KiB value
  const refused = await cli.run(['strike', '--parameter', 'name', '--value', 'x'.repeat(4096)])
  t.equal(refused.code, 2, 'exits 2')
  t.equal(refused.stdout, '', 'prints nothing on stdout')
  t.match(refused.stderr, /^shadows strike: SHADOWS_ERR_VALIDATION: .*1024 bytes/, 'names the limit on stderr')
  await nothingStored(t, cli.name, 'after the refusal')
  const fits = JSON.parse(await runOk(t, cli, ['strike', '--parameter', 'name', '--value', 'Jane'])) as { id: string }
  t.ok(fits.id, 'a small value still works')
  await runOk(t, cli, ['restore', fits.id])
})
