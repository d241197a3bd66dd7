/**
 * Helpers for the gateway tests: an app on its own shadow name (closed, checked for leaked keys and
 * wiped on teardown), the example tasks, and the one-error-shape assertion.
 */
import { STATUS_CODES } from 'node:http'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { defineTask, type AnyTask, type ErrorCode } from '../../src/index.js'
import { buildApp, type AppOptions } from '../../src/gateway/app.js'
import { TEST_URL, adminRedis, leakedKeys, shadowKeysIn, testLogger, uniqueName } from './shadow.js'

/** The tap test these helpers assert on. */
export type Asserts = Test

/** The answer of `app.inject()` or a `fetch()` as the assertions need it. */
export interface Answer {
  readonly statusCode: number
  readonly headers: Record<string, unknown>
  readonly body: string
}

/** `greet({ name, greeting? })` returns "Hello, name". */
export const greet = defineTask({
  name: 'greet',
  params: Type.Object({ name: Type.String(), greeting: Type.Optional(Type.String()) }),
  async run({ name, greeting = 'Hello' }) {
    return `${greeting}, ${name}`
  },
})

/** `boom({})` always fails with a TypeError. */
export const boom = defineTask({
  name: 'boom',
  async run() {
    throw new TypeError('kaput')
  },
})

/** The tasks most gateway tests register. */
export const TASKS: readonly AnyTask[] = [greet, boom]

/** A gateway app built for one test. */
export interface TestApp {
  readonly app: FastifyInstance
  /** The app's shadow name. */
  readonly name: string
}

/**
 * Builds and readies an app on a new shadow name. On teardown: the no-leak check, the app closed,
 * then every key of the shadow deleted.
 */
export async function makeApp(t: Asserts, options: Partial<AppOptions> = {}): Promise<TestApp> {
  const name = options.name ?? uniqueName('gw')
  const app = await buildApp({ tasks: TASKS, url: TEST_URL, logger: testLogger, ...options, name })
  t.teardown(async () => {
    try {
      const leaked = await leakedKeys(name)
      if (leaked.length > 0) t.fail(`finished task records left without a TTL: ${leaked.join(', ')}`)
    } finally {
      await app.close()
      const keys = await shadowKeysIn(name)
      if (keys.length > 0) await adminRedis().del(...keys)
    }
  })
  await app.ready()
  return { app, name }
}

/** The JSON body of an answer. */
export function json<T = Record<string, unknown>>(answer: Answer): T {
  return JSON.parse(answer.body) as T
}

/**
 * Asserts the one error shape: `{ statusCode, code, error, message }` and nothing else, with the
 * given status and code, as JSON. Returns the body.
 */
export function assertError(t: Asserts, answer: Answer, status: number, code: ErrorCode, what = `${status} ${code}`): Record<string, unknown> {
  t.equal(answer.statusCode, status, `${what}: status`)
  t.match(String(answer.headers['content-type']), /^application\/json/, `${what}: JSON`)
  let body: Record<string, unknown> = {}
  try {
    body = json(answer)
  } catch {
    t.fail(`${what}: body is not JSON: ${answer.body.slice(0, 200)}`)
    return body
  }
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], `${what}: exactly statusCode, code, error, message`)
  t.equal(body.statusCode, status, `${what}: body.statusCode`)
  t.equal(body.code, code, `${what}: body.code`)
  t.equal(body.error, STATUS_CODES[status], `${what}: body.error is the reason phrase`)
  t.ok(typeof body.message === 'string' && body.message.length > 0, `${what}: a message`)
  return body
}
