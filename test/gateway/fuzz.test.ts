/**
 * Property-based hostile input (fast-check, fixed seed): thousands of generated bodies, keys,
 * params, timestamps, headers and query strings against every route. Every answer is a 2xx that
 * fits the contract or a 4xx in the one error shape, never a 5xx; the gateway keeps answering;
 * and at the end Redis holds nothing but what the accepted (2xx) requests stored.
 * No worker runs: nothing may execute.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { isUtf8 } from 'node:buffer'
import { STATUS_CODES } from 'node:http'
import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { ERRORS, ERROR_CODES, type ErrorCode } from '../../src/index.js'
import { Health } from '../../routes/health/schemas.js'
import { SnapshotBody, WorkerList } from '../../routes/inspect/schemas.js'
import { StrikeBody, StrikeList } from '../../routes/strikes/schemas.js'
import { Added, Cancelled, Duplicate, Replaced, TaskRecord } from '../../routes/tasks/schemas.js'
import { storedKey } from '../../src/redis/keys.js'
import { messageHead } from '../../src/redis/stream.js'
import { adminRedis, closeAdmin, shadowKeysIn } from '../helpers/shadow.js'
import { makeApp } from '../helpers/gateway.js'
import { indexedKeys, logEvents } from '../helpers/history.js'
import {
  FUZZ_TASKS,
  FUZZ_TOKENS,
  addLike,
  authorization,
  bodyFor,
  contentType,
  delay,
  extraHeaders,
  params,
  pathSegment,
  queryString,
  strikeLike,
  taskKey,
  taskName,
  timestamp,
  validAdd,
  validStrike,
} from '../helpers/arbitraries.js'

t.teardown(closeAdmin)

/** The seed every property starts from: a failure replays exactly. */
const SEED = 20_261_128

/** Cases per property: about 14,000 requests in all, some seconds on a busy two-core machine. */
const RUNS = { add: 3000, batch: 800, replace: 2500, keys: 3000, strikes: 1500, headers: 3000 } as const

/** A valid token with every scope, for the properties that probe more than authentication. */
const OPS = { authorization: 'Bearer fuzz-ops-token' }
const JSON_TYPE = { 'content-type': 'application/json' }

const KEY_PATTERN = /^[A-Za-z0-9._:@-]{1,200}$/
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

// ---------------------------------------------------------------------------------------------
// invariants

const check = (schema: TSchema) => TypeCompiler.Compile(schema)
const SUCCESS = {
  added: check(Added),
  duplicate: check(Duplicate),
  replaced: check(Replaced),
  record: check(TaskRecord),
  cancelled: check(Cancelled),
  strike: check(StrikeBody),
  strikes: check(StrikeList),
  snapshot: check(SnapshotBody),
  workers: check(WorkerList),
  health: check(Health),
}

/** What the accepted requests stored, to compare with Redis at the end. */
interface Accepted {
  readonly keys: Set<string>
  readonly strikes: Set<string>
  requests: number
  readonly statuses: Map<number, number>
}

/** A property broke: fast-check reports the request and shrinks it. */
function broken(what: string, answer: { statusCode: number; body: string }): never {
  throw new Error(`${what} (status ${answer.statusCode}, body ${answer.body.slice(0, 300)})`)
}

/** The one error shape, with a registered code whose status is the answer's. */
function assertErrorShape(answer: { statusCode: number; headers: Record<string, unknown>; body: string }, method: string): void {
  if (method === 'HEAD') return
  if (!/^application\/json/.test(String(answer.headers['content-type']))) broken('an error that is not JSON', answer)
  let body: Record<string, unknown>
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>
  } catch {
    broken('an error body that does not parse', answer)
  }
  const keys = Object.keys(body).sort().join(',')
  if (keys !== 'code,error,message,statusCode') broken(`an error with fields ${keys}`, answer)
  const code = body.code as ErrorCode
  if (!ERROR_CODES.includes(code) || !String(code).startsWith('SHADOWS_ERR_')) broken(`an unregistered code ${String(code)}`, answer)
  if (ERRORS[code].status !== answer.statusCode || body.statusCode !== answer.statusCode) broken(`code ${code} with the wrong status`, answer)
  if (body.error !== STATUS_CODES[answer.statusCode]) broken('a wrong reason phrase', answer)
  if (typeof body.message !== 'string' || body.message.length === 0) broken('an error without a message', answer)
}

/** What a route answers on success: checked against the contract, and what it stored noted. */
type Route = 'add' | 'batch' | 'get' | 'put' | 'cancel' | 'strike' | 'restore' | 'other'

/** Sends one request and checks every invariant; throws (for fast-check) when one breaks. */
async function send(
  app: FastifyInstance,
  accepted: Accepted,
  route: Route,
  request: InjectOptions,
  context: { key?: string; items?: number } = {},
): Promise<void> {
  const answer = await app.inject(request)
  accepted.requests += 1
  accepted.statuses.set(answer.statusCode, (accepted.statuses.get(answer.statusCode) ?? 0) + 1)
  const method = String(request.method ?? 'GET').toUpperCase()
  if (answer.statusCode >= 500) broken('a 5xx', answer)
  if (answer.statusCode >= 400) {
    assertErrorShape(answer, method)
    return
  }
  if (answer.statusCode < 200 || answer.statusCode >= 300) broken('neither a 2xx nor a 4xx', answer)
  // decoding bytes that are not UTF-8 would store params the client never sent
  if (Buffer.isBuffer(request.payload) && !isUtf8(request.payload)) broken('a body that is not UTF-8 accepted', answer)
  if (method === 'HEAD' || method === 'OPTIONS') return
  if (!/^application\/json/.test(String(answer.headers['content-type']))) {
    if (route !== 'other') broken('a success that is not JSON', answer)
    return
  }
  const body = JSON.parse(answer.body) as Record<string, unknown>
  const ok = (valid: boolean, what: string) => {
    if (!valid) broken(`a success that breaks the contract: ${what}`, answer)
  }
  const liveTask = (b: Record<string, unknown>) => {
    ok(typeof b.key === 'string' && KEY_PATTERN.test(b.key), 'a valid key')
    ok(typeof b.when === 'string' && RFC3339.test(b.when), 'when in RFC 3339')
    ok(['greet', 'resize', 'ping'].includes(String(b.task)), 'a registered task')
  }
  switch (route) {
    case 'add':
      if (answer.statusCode === 202) {
        ok(SUCCESS.added.Check(body), 'the 202 body')
        ok(answer.headers.location === `/tasks/${String(body.key)}`, 'Location: /tasks/{key}')
      } else {
        ok(answer.statusCode === 200 && SUCCESS.duplicate.Check(body), 'the 200 duplicate body')
        ok(accepted.keys.has(String(body.key)), 'a duplicate of an accepted key')
      }
      liveTask(body)
      accepted.keys.add(String(body.key))
      return
    case 'batch': {
      ok(answer.statusCode === 200 && Array.isArray(body.results), 'results')
      const results = body.results as Record<string, unknown>[]
      ok(context.items !== undefined && results.length === context.items, 'one result per item of a { tasks: [...] } body')
      for (const result of results) {
        const status = Number(result.status)
        if (status === 200 || status === 202) {
          liveTask(result)
          ok(result.duplicate === (status === 200), 'duplicate iff 200')
          ok(result.state === 'queued' || result.state === 'scheduled', 'a live state')
          accepted.keys.add(String(result.key))
        } else {
          const code = result.code as ErrorCode
          ok(
            ERROR_CODES.includes(code) && ERRORS[code].status === status && status >= 400 && status < 500,
            `an item refused with a 4xx code (${status} ${String(code)})`,
          )
          ok(typeof result.message === 'string' && result.key === undefined, 'a refused item has a message and no key')
        }
      }
      return
    }
    case 'put':
      ok(SUCCESS.replaced.Check(body), 'the 200 body')
      ok(body.key === context.key, 'the key of the path')
      liveTask(body)
      accepted.keys.add(String(body.key))
      return
    case 'get':
      ok(SUCCESS.record.Check(body), 'the task record')
      ok(body.key === context.key && accepted.keys.has(String(body.key)), 'the record of an accepted key')
      return
    case 'cancel':
      ok(SUCCESS.cancelled.Check(body), 'the 200 body')
      ok(body.key === context.key && accepted.keys.has(String(body.key)), 'a cancelled accepted key')
      return
    case 'strike':
      ok((answer.statusCode === 201 || answer.statusCode === 200) && SUCCESS.strike.Check(body), 'the strike')
      ok(typeof body.createdAt === 'string' && RFC3339.test(body.createdAt), 'createdAt in RFC 3339')
      ok(answer.statusCode === 201 || accepted.strikes.has(String(body.id)), 'a 200 strike existed')
      accepted.strikes.add(String(body.id))
      return
    case 'restore':
      ok(SUCCESS.strike.Check(body) && body.id === context.key && accepted.strikes.has(String(body.id)), 'a restored accepted strike')
      return
    case 'other': {
      const path = String(request.url).split('?')[0]
      const schema =
        path === '/snapshot'
          ? SUCCESS.snapshot
          : path === '/strikes'
            ? SUCCESS.strikes
            : path === '/workers'
              ? SUCCESS.workers
              : path?.startsWith('/health/')
                ? SUCCESS.health
                : undefined
      ok(schema === undefined || schema.Check(body), `the body of GET ${path}`)
      return
    }
  }
}

/**
 * The path parameter the route sees for `/prefix/segment`, normalized as a client (and
 * light-my-request) does with the WHATWG URL parser; none when it is not one segment.
 */
function paramOf(prefix: '/tasks/' | '/strikes/', segment: string): { key?: string } {
  const url = new URL(`${prefix}${segment}`, 'http://localhost')
  if (!url.pathname.startsWith(prefix)) return {}
  const param = url.pathname.slice(prefix.length)
  if (param.includes('/')) return {}
  try {
    return { key: decodeURIComponent(param) }
  } catch {
    return {}
  }
}

/** How many items a batch body holds, or -1 when it is not `{ tasks: [...] }`. */
function itemsOf(text: string | Buffer): number {
  try {
    const body = JSON.parse(text.toString()) as { tasks?: unknown } | null
    return body !== null && typeof body === 'object' && Array.isArray(body.tasks) ? body.tasks.length : -1
  } catch {
    return -1
  }
}

/** Runs a property with the fixed seed; a failure becomes one tap failure with the counterexample. */
async function holds<T>(t: Test, what: string, arbitrary: fc.Arbitrary<T>, numRuns: number, predicate: (value: T) => Promise<void>): Promise<void> {
  try {
    await fc.assert(fc.asyncProperty(arbitrary, predicate), { seed: SEED, numRuns, endOnFailure: true })
    t.pass(`${what}: ${numRuns} cases hold`)
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ` | ${((err as Error).cause as Error).message}` : ''
    t.fail(`${what}: ${(err as Error).message.replace(/\s*\n\s*/g, ' | ')}${cause}`)
  }
}

/** The app still answers. */
async function alive(t: Test, app: FastifyInstance, after: string): Promise<void> {
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200, `/health/live answers after ${after}`)
}

/** Every key of the shadow, and every entry inside them, belongs to an accepted request. */
async function onlyAcceptedStored(t: Test, name: string, accepted: Accepted): Promise<void> {
  const redis = adminRedis()
  const tag = `{${name}}:`
  const stray: string[] = []
  // Redis holds task keys in their stored form (a UUID compacted)
  const keys = new Set([...accepted.keys].map(storedKey))
  for (const key of await shadowKeysIn(name)) {
    const rest = key.slice(tag.length)
    if (rest.startsWith('task:')) {
      if (!keys.has(rest.slice('task:'.length))) stray.push(key)
    } else if (rest === 'stream') {
      const entries = await redis.xrange(key, '-', '+')
      for (const [, fields] of entries) {
        const taskKey = messageHead(fields)?.key
        if (taskKey === undefined || !keys.has(taskKey)) stray.push(`${key} entry ${String(taskKey)}`)
      }
    } else if (rest === 'schedule') {
      for (const member of await redis.zrange(key, 0, -1)) if (!keys.has(member)) stray.push(`${key} member ${member}`)
    } else if (rest === 'strikes') {
      for (const id of await redis.hkeys(key)) if (!accepted.strikes.has(id)) stray.push(`${key} field ${id}`)
    } else if (rest.startsWith('ended:')) {
      // the history indexes of finished tasks (cancelled ones, here)
      for (const member of await indexedKeys(key)) if (!keys.has(member)) stray.push(`${key} member ${member}`)
    } else if (rest === 'events:log') {
      // one event per transition: of an accepted task, or of an accepted strike (no key)
      for (const event of await logEvents(name)) {
        if ('key' in event && !accepted.keys.has(event.key)) stray.push(`${key} event ${event.key}`)
      }
    } else if (rest === 'ended') {
      // how many tasks each history index was given: one count per index
    } else if (rest === 'events:log:count') {
      // how many events the log was given: one number
    } else if (rest === 'strikes:version' || rest === 'strikes:change') {
      if (accepted.strikes.size === 0) stray.push(key)
    } else {
      stray.push(key)
    }
  }
  t.same(stray, [], `Redis holds only what ${accepted.keys.size} accepted tasks and ${accepted.strikes.size} accepted strikes stored`)
}

t.test('thousands of hostile requests: 2xx or 4xx with a code, the gateway stays up, rejected requests store nothing', async (t) => {
  const { app, name } = await makeApp(t, { tasks: FUZZ_TASKS, tokens: FUZZ_TOKENS })
  const accepted: Accepted = { keys: new Set(), strikes: new Set(), requests: 0, statuses: new Map() }

  await holds(t, 'POST /tasks bodies', fc.oneof(bodyFor(addLike), bodyFor(validAdd)), RUNS.add, async (payload) => {
    await send(app, accepted, 'add', { method: 'POST', url: '/tasks', payload, headers: { ...JSON_TYPE, ...OPS } })
  })
  await alive(t, app, 'POST /tasks')

  const batchBody = fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .array(fc.oneof({ weight: 3, arbitrary: validAdd }, { weight: 3, arbitrary: addLike }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }), {
          maxLength: 12,
        })
        .map((tasks) => ({ tasks })),
    },
    { weight: 1, arbitrary: fc.record({ tasks: fc.jsonValue({ maxDepth: 2 }), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: fc.constant({ tasks: Array.from({ length: 1001 }, () => ({ task: 'ping' })) }) },
  )
  await holds(
    t,
    'POST /tasks/batch bodies',
    fc.oneof({ weight: 6, arbitrary: batchBody.map((b) => JSON.stringify(b)) }, { weight: 1, arbitrary: bodyFor(batchBody) }),
    RUNS.batch,
    async (text) => {
      await send(app, accepted, 'batch', { method: 'POST', url: '/tasks/batch', payload: text, headers: { ...JSON_TYPE, ...OPS } }, { items: itemsOf(text) })
    },
  )
  await alive(t, app, 'POST /tasks/batch')

  const replaceLike = fc
    .tuple(fc.record({ task: taskName, params, when: timestamp, delay }, { requiredKeys: [] }), fc.option(fc.record({ key: taskKey }), { freq: 8 }))
    .map(([body, extra]) => ({ ...body, ...(extra ?? {}) }))
  const validReplace = validAdd.map(({ key: _key, ...body }: Record<string, unknown>) => body)
  await holds(
    t,
    'PUT /tasks/{key} keys and bodies',
    fc.tuple(pathSegment, fc.oneof(bodyFor(replaceLike), bodyFor(validReplace))),
    RUNS.replace,
    async ([segment, payload]) => {
      await send(app, accepted, 'put', { method: 'PUT', url: `/tasks/${segment}`, payload, headers: { ...JSON_TYPE, ...OPS } }, paramOf('/tasks/', segment))
    },
  )
  await alive(t, app, 'PUT /tasks/{key}')

  await holds(
    t,
    'GET, HEAD and DELETE /tasks/{key}, DELETE /strikes/{id}',
    fc.tuple(fc.constantFrom('GET', 'HEAD', 'DELETE', 'DELETE-STRIKE', 'OPTIONS', 'PATCH') as fc.Arbitrary<string>, pathSegment),
    RUNS.keys,
    async ([method, segment]) => {
      if (method === 'DELETE-STRIKE')
        return send(app, accepted, 'restore', { method: 'DELETE', url: `/strikes/${segment}`, headers: OPS }, paramOf('/strikes/', segment))
      const route: Route = method === 'GET' ? 'get' : method === 'DELETE' ? 'cancel' : 'other'
      return send(app, accepted, route, { method: method as InjectOptions['method'], url: `/tasks/${segment}`, headers: OPS }, paramOf('/tasks/', segment))
    },
  )
  await alive(t, app, 'the key routes')

  await holds(
    t,
    'POST /strikes bodies and DELETE /strikes/{id}',
    fc.tuple(fc.oneof(bodyFor(strikeLike), bodyFor(validStrike)), fc.boolean()),
    RUNS.strikes,
    async ([payload, restore]) => {
      const before = new Set(accepted.strikes)
      await send(app, accepted, 'strike', { method: 'POST', url: '/strikes', payload, headers: { ...JSON_TYPE, ...OPS } })
      const added = [...accepted.strikes].find((id) => !before.has(id))
      if (restore && added !== undefined) {
        // restored right away, so that strikes do not pile up to the limit; the id stays accepted
        await send(app, accepted, 'restore', { method: 'DELETE', url: `/strikes/${encodeURIComponent(added)}`, headers: OPS }, { key: added })
      }
    },
  )
  await alive(t, app, 'POST /strikes')

  const ROUTES: readonly { method: InjectOptions['method']; url: string; route: Route; body?: unknown }[] = [
    { method: 'POST', url: '/tasks', route: 'add', body: { task: 'greet', params: { name: 'hdr' } } },
    { method: 'POST', url: '/tasks/batch', route: 'batch', body: { tasks: [{ task: 'ping' }] } },
    { method: 'GET', url: '/tasks/k1', route: 'get' },
    { method: 'PUT', url: '/tasks/k2', route: 'put', body: { task: 'resize', params: { width: 1, height: 2, format: 'png' }, delay: 60_000 } },
    { method: 'DELETE', url: '/tasks/order-42', route: 'cancel' },
    { method: 'GET', url: '/snapshot', route: 'other' },
    { method: 'GET', url: '/strikes', route: 'other' },
    { method: 'POST', url: '/strikes', route: 'strike', body: { task: 'nope' } },
    { method: 'DELETE', url: '/strikes/abc', route: 'restore' },
    { method: 'GET', url: '/workers', route: 'other' },
    { method: 'GET', url: '/health/live', route: 'other' },
    { method: 'GET', url: '/health/ready', route: 'other' },
    { method: 'GET', url: '/metrics', route: 'other' },
    { method: 'GET', url: '/openapi.json', route: 'other' },
    { method: 'GET', url: '/nowhere', route: 'other' },
  ]
  const headerCase = fc.record({
    target: fc.constantFrom(...ROUTES),
    authorization: fc.option(authorization, { freq: 8 }),
    contentType: fc.option(contentType, { freq: 6 }),
    query: queryString,
    headers: extraHeaders,
    body: fc.option(bodyFor(addLike), { freq: 4 }),
  })
  await holds(t, 'headers and query strings on every route', headerCase, RUNS.headers, async (c) => {
    const headers: Record<string, string> = { ...c.headers }
    if (c.authorization !== null) headers.authorization = c.authorization
    if (c.contentType !== null) headers['content-type'] = c.contentType
    const hasBody = c.target.body !== undefined
    const payload = c.body ?? (hasBody ? JSON.stringify(c.target.body) : undefined)
    // light-my-request sets content-length itself; a forged one would only confuse the simulation
    delete headers['content-length']
    delete headers['transfer-encoding']
    const request: InjectOptions = {
      method: c.target.method,
      url: `${c.target.url}${c.query}`,
      headers,
      ...(payload !== undefined && hasBody ? { payload } : {}),
    }
    const context =
      c.target.route === 'batch'
        ? { items: itemsOf(payload ?? '') }
        : c.target.url.startsWith('/strikes/')
          ? paramOf('/strikes/', c.target.url.slice('/strikes/'.length))
          : c.target.url.startsWith('/tasks/')
            ? paramOf('/tasks/', c.target.url.slice('/tasks/'.length))
            : {}
    await send(app, accepted, c.target.route, request, context)
  })
  await alive(t, app, 'the header and query cases')

  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is not polluted')
  t.ok(accepted.requests >= 10_000, `${accepted.requests} requests sent`)
  const statuses = [...accepted.statuses.entries()].sort(([a], [b]) => a - b)
  t.ok(statuses.some(([s]) => s >= 200 && s < 300) && statuses.some(([s]) => s >= 400), `a mix of successes and refusals: ${JSON.stringify(statuses)}`)
  t.ok(accepted.keys.size > 0, `${accepted.keys.size} tasks accepted`)
  await onlyAcceptedStored(t, name, accepted)
})
