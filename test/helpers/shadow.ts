/**
 * Test helpers: each test gets its own shadow name on the test Redis, and on teardown checks that
 * no key of a finished task (record or history index) was left without a TTL, then removes every
 * key of the shadow (history indexes and the events log included).
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { Shadow, Worker, type AnyTask, type ShadowOptions, type WorkerOptions } from '../../src/index.js'
import { shadowKeys } from '../../src/redis/keys.js'

/** The Redis the tests use (scripts/test.mjs sets it). */
export const TEST_URL = process.env.SHADOWS_TEST_URL ?? 'redis://127.0.0.1:6379'

/** Quiet logs unless TEST_LOG_LEVEL says otherwise. */
export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' })

/** The tap test object, as far as these helpers need it. */
export interface TestLike {
  teardown(fn: () => unknown): void
  fail(message: string): unknown
}

/** A shadow name no other test uses. */
export function uniqueName(prefix = 'test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`
}

let admin: Redis | undefined
/** A plain connection for looking at keys directly. */
export function adminRedis(): Redis {
  admin ??= new Redis(TEST_URL, { lazyConnect: false })
  return admin
}

/** Every key of a shadow. */
export async function shadowKeysIn(name: string): Promise<string[]> {
  const redis = adminRedis()
  const found: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${name}}:*`, 'COUNT', 1000)
    found.push(...keys)
    cursor = next
  } while (cursor !== '0')
  return found
}

/**
 * Keys that would outlive their use (should be none): task records of finished tasks without a
 * TTL, history indexes and their counts without a TTL (each expires with the newest record it names), and throttle
 * windows without a TTL (the window is the TTL). The events log is bounded by its length (MAXLEN),
 * not by a TTL: it is not reported.
 */
export async function leakedKeys(name: string): Promise<string[]> {
  const redis = adminRedis()
  const leaked: string[] = []
  // -1: no TTL; a key that expired since it was listed (-2) left nothing behind
  const noTtl = async (key: string) => (await redis.pttl(key)) === -1
  for (const key of await shadowKeysIn(name)) {
    // concurrency slots and rate windows hold leases and times, each expiring once they are over;
    // history indexes, their counts and throttle windows expire too
    if (['slots:', 'rate:', 'ended', 'throttle:'].some((rest) => key.startsWith(`{${name}}:${rest}`))) {
      if (await noTtl(key)) leaked.push(key)
      continue
    }
    if (!key.includes('}:task:')) continue
    const state = await redis.hget(key, 'state')
    const live = state === 'scheduled' || state === 'queued' || state === 'running'
    if (!live && (await noTtl(key))) leaked.push(key)
  }
  return leaked
}

/**
 * A Shadow on its own name. On teardown: workers closed, the no-leak check, then every key of
 * the shadow deleted.
 */
export function makeShadow(t: TestLike, options: ShadowOptions = {}): Shadow {
  const shadow = new Shadow({ name: uniqueName(), url: TEST_URL, logger: testLogger, ...options })
  t.teardown(async () => {
    const leaked = await leakedKeys(shadow.name)
    if (leaked.length > 0) t.fail(`finished task records or history indexes left without a TTL: ${leaked.join(', ')}`)
    await shadow.close()
    const keys = await shadowKeysIn(shadow.name)
    if (keys.length > 0) await adminRedis().del(...keys)
  })
  return shadow
}

/** A worker on `shadow`, closed on teardown (before the shadow's own teardown runs). */
export function makeWorker(t: TestLike, shadow: Shadow, tasks: readonly AnyTask[], options: Partial<WorkerOptions> = {}): Worker {
  const worker = new Worker(shadow, { tasks, logger: testLogger, gracePeriod: 2000, ...options })
  t.teardown(() => worker.close())
  return worker
}

/** Resolves when `check` returns true, polling every 10 ms, or rejects after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Closes the admin connection after the last test of a file. */
export function closeAdmin(): void {
  admin?.disconnect()
  admin = undefined
}

/**
 * Every key of the shadow `name` with its content, to show that a call changed nothing. The
 * workers' heartbeats (`{name}:workers`, `{name}:worker:…`) are left out: a running worker rewrites
 * them every few seconds whatever the call did.
 */
export async function shadowContents(name: string): Promise<Record<string, unknown>> {
  const redis = adminRedis()
  const out: Record<string, unknown> = {}
  const { workers, worker } = shadowKeys(name)
  const heartbeat = (key: string) => key === workers || key.startsWith(worker(''))
  for (const key of (await shadowKeysIn(name)).filter((k) => !heartbeat(k)).sort()) {
    const type = await redis.type(key)
    if (type === 'hash') out[key] = await redis.hgetall(key)
    else if (type === 'zset') out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES')
    else if (type === 'stream') out[key] = await redis.xrange(key, '-', '+')
    else if (type === 'string') out[key] = await redis.get(key)
    else out[key] = type
  }
  return out
}
