/**
 * The examples for other languages, run against a real gateway: examples/python/shadows_example.py
 * with python3 (standard library only) and examples/curl/shadows.sh with bash and curl. Each step
 * prints "STEP STATUS ANSWER"; the test checks every line, then what the gateway holds after them,
 * with and without tokens, the base URL and token given as arguments or in the environment.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { closeAdmin } from '../helpers/shadow.js'
import { serve } from '../helpers/client.js'

t.teardown(closeAdmin)

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const PYTHON = ['python3', [`${ROOT}examples/python/shadows_example.py`]] as const
const CURL = ['bash', [`${ROOT}examples/curl/shadows.sh`]] as const

/** What a run printed and how it ended. */
interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs an example with `args` and `env` (added to a copy of this process's, without SHADOWS_ variables). */
function run([command, script]: typeof PYTHON | typeof CURL, args: readonly string[], env: Record<string, string>): Promise<Run> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHADOWS_')))
  return new Promise((resolve) => {
    execFile(command, [...script, ...args], { env: { ...clean, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

/** The printed lines as [step, status, answer]. */
function lines(stdout: string): [string, number, Record<string, unknown>][] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => {
      const match = /^(\S+) (\d{3}) (\{.*\})$/.exec(line)
      if (!match) throw new Error(`not "STEP STATUS JSON": ${line}`)
      return [match[1] as string, Number(match[2]), JSON.parse(match[3] as string) as Record<string, unknown>]
    })
}

/** Checks every line of a successful run with key prefix `prefix`, then the gateway's state. */
async function checkRun(t: Test, app: FastifyInstance, result: Run, prefix: string, headers: Record<string, string> = {}): Promise<void> {
  t.equal(result.code, 0, `exit code 0 (stderr: ${result.stderr})`)
  const printed = lines(result.stdout)
  t.same(
    printed.map(([step, status]) => [step, status]),
    [
      ['add', 202],
      ['schedule', 202],
      ['read', 200],
      ['cancel', 200],
      ['strike', 201],
      ['refused', 409],
      ['restore', 200],
      ['add-again', 202],
    ],
    'every step, with its status',
  )
  const [add, schedule, read, cancel, strike, refused, restore, again] = printed.map(([, , answer]) => answer)
  t.same(add, { key: `${prefix}-now`, task: 'greet', when: add?.when, state: 'queued' }, 'add: queued now')
  t.same(schedule, { key: `${prefix}-later`, task: 'greet', when: schedule?.when, state: 'scheduled' }, 'schedule: scheduled')
  const inAnHour = Date.parse(String(schedule?.when)) - Date.now()
  t.ok(inAnHour > 3_500_000 && inAnHour <= 3_600_000, 'for an hour from now')
  t.match(read, { key: `${prefix}-later`, task: 'greet', params: { name: 'Grace' }, when: schedule?.when, state: 'scheduled' }, 'read: the record')
  t.same(cancel, { key: `${prefix}-later`, state: 'cancelled' }, 'cancel: cancelled')
  t.match(strike, { id: /^\S+$/, task: 'greet', parameter: 'name', operator: '==', value: 'Mallory', createdAt: String }, 'strike: the rule')
  t.match(refused, { statusCode: 409, code: 'SHADOWS_ERR_STRUCK', error: 'Conflict', message: String }, 'refused: struck')
  t.same(restore, strike, 'restore: the same rule, removed')
  t.same(again, { key: `${prefix}-struck`, task: 'greet', when: again?.when, state: 'queued' }, 'add-again: accepted once restored')

  const state = async (key: string) => JSON.parse((await app.inject({ method: 'GET', url: `/tasks/${key}`, headers })).body).state
  t.same(
    [await state(`${prefix}-now`), await state(`${prefix}-later`), await state(`${prefix}-struck`)],
    ['queued', 'cancelled', 'queued'],
    'the gateway agrees',
  )
  t.same(JSON.parse((await app.inject({ method: 'GET', url: '/strikes', headers })).body), { strikes: [] }, 'no strike left')
}

t.test('python3 and curl against a gateway without tokens: base URL as an argument, or in the environment', async (t) => {
  const { app, baseUrl } = await serve(t)
  await checkRun(t, app, await run(PYTHON, [baseUrl], { SHADOWS_EXAMPLE_KEY: 'py-arg' }), 'py-arg')
  await checkRun(t, app, await run(PYTHON, [], { SHADOWS_GATEWAY_URL: `${baseUrl}/`, SHADOWS_EXAMPLE_KEY: 'py-env' }), 'py-env')
  await checkRun(t, app, await run(CURL, [baseUrl], { SHADOWS_EXAMPLE_KEY: 'sh-arg' }), 'sh-arg')
  await checkRun(t, app, await run(CURL, [], { SHADOWS_GATEWAY_URL: `${baseUrl}/`, SHADOWS_EXAMPLE_KEY: 'sh-env' }), 'sh-env')
})

t.test('with tokens: the token as an argument or in the environment; a token without the scope stops the example', async (t) => {
  const { app, baseUrl } = await serve(t, { tokens: 'ops-token-123:ops;read-token-123:read' })
  const headers = { authorization: 'Bearer ops-token-123' }
  await checkRun(t, app, await run(PYTHON, [baseUrl, 'ops-token-123'], { SHADOWS_EXAMPLE_KEY: 'py-tok' }), 'py-tok', headers)
  await checkRun(t, app, await run(CURL, [baseUrl], { SHADOWS_TOKEN: 'ops-token-123', SHADOWS_EXAMPLE_KEY: 'sh-tok' }), 'sh-tok', headers)

  for (const example of [PYTHON, CURL]) {
    const refused = await run(example, [baseUrl, 'read-token-123'], { SHADOWS_EXAMPLE_KEY: 'refused' })
    t.equal(refused.code, 1, `${example[0]}: exit code 1`)
    const [only, ...rest] = lines(refused.stdout)
    t.match(only, ['add', 403, { code: 'SHADOWS_ERR_FORBIDDEN' }], `${example[0]}: stops at the first step, 403`)
    t.same(rest, [], 'and goes no further')
    t.match(refused.stderr, /add: expected 202, got 403/, `${example[0]}: says why`)
  }
})
