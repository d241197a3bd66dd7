/**
 * Helpers for the engine-state tests (add, replace, cancel, state): expected errors, gates that
 * hold a task running until the test lets it go, and direct looks at a shadow's Redis keys.
 */
import { inspect } from 'node:util'
import { isShadowsError, type ErrorCode, type Shadow, type Worker } from '../../src/index.js'
import { adminRedis, shadowKeysIn } from './shadow.js'
import { storedKey } from '../../src/redis/keys.js'
import { addTasks, finishAttempts, type AddResult, type FinishOutcome, type STALE } from '../../src/redis/commands.js'
import { shadowContext } from '../../src/client/shadow.js'

/** The tap assertions these helpers use. */
export interface Asserts {
  fail(message: string): unknown
  pass(message: string): unknown
  teardown(fn: () => unknown): void
}

/** Asserts that `action` rejects with a ShadowsError of `code`, and returns that error. */
export async function rejectsWith(t: Asserts, action: () => Promise<unknown>, code: ErrorCode, what: string = code): Promise<Error | undefined> {
  try {
    const value = await action()
    t.fail(`${what}: expected ${code}, but it resolved with ${inspect(value)}`)
    return undefined
  } catch (err) {
    if (isShadowsError(err, code)) {
      t.pass(`${what}: rejected with ${code}`)
      return err
    }
    t.fail(`${what}: expected ${code}, got ${inspect(err)}`)
    return undefined
  }
}

/** Asserts that the shadow holds no key at all in Redis. */
export async function assertNoKeys(
  t: Asserts & { same(a: unknown, b: unknown, m: string): unknown },
  shadow: Shadow,
  what = 'nothing was written to Redis',
): Promise<void> {
  t.same(await shadowKeysIn(shadow.name), [], what)
}

/** A promise the test resolves by hand, e.g. to hold a task in `running`. */
export interface Gate {
  readonly promise: Promise<void>
  open(): void
}

/** A gate, opened on teardown at the latest so that no task stays blocked. */
export function gate(t: Asserts): Gate {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  t.teardown(() => open())
  return { promise, open }
}

/** Resolves when `signal` is aborted or `until` settles, whichever comes first. */
export function abortedOr(signal: AbortSignal, until: Promise<unknown>): Promise<'aborted' | 'released'> {
  if (signal.aborted) return Promise.resolve('aborted')
  return new Promise((resolve) => {
    signal.addEventListener('abort', () => resolve('aborted'), { once: true })
    void until.then(() => resolve('released'))
  })
}

/** Starts `worker.run()` in the background; the returned function closes the worker and waits for the loop. */
export function runInBackground(worker: Worker): () => Promise<void> {
  const loop = worker.run()
  loop.catch(() => undefined)
  return async () => {
    await worker.close()
    await loop
  }
}

/** The task record hash of `key`, straight from Redis. */
export function rawRecord(shadow: Shadow, key: string): Promise<Record<string, string>> {
  return adminRedis().hgetall(shadowContext(shadow).keys.task(storedKey(key)))
}

/** PTTL of the task record of `key` (-2: no such key, -1: no TTL). */
export function recordTtl(shadow: Shadow, key: string): Promise<number> {
  return adminRedis().pttl(shadowContext(shadow).keys.task(storedKey(key)))
}

/** Entries on the shadow's stream. */
export function streamLength(shadow: Shadow): Promise<number> {
  return adminRedis().xlen(shadowContext(shadow).keys.stream)
}

/** Keys in the shadow's schedule, with their due times. */
export async function scheduled(shadow: Shadow): Promise<Record<string, number>> {
  const flat = await adminRedis().zrange(shadowContext(shadow).keys.schedule, 0, -1, 'WITHSCORES')
  const out: Record<string, number> = {}
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] as string] = Number(flat[i + 1])
  return out
}

/** Every message published on the shadow's events channel from now on, in order (unsubscribed on teardown). */
export async function heardEvents(t: Asserts, shadow: Shadow): Promise<string[]> {
  const listener = adminRedis().duplicate()
  t.teardown(() => listener.disconnect())
  const heard: string[] = []
  listener.on('message', (_channel: string, message: string) => heard.push(message))
  await listener.subscribe(shadowContext(shadow).keys.events)
  return heard
}

/** One task for the add script: stored key, task name, params JSON, due time, and whether the key was made up just now. */
export type AddScriptTask = readonly [key: string, task: string, params: string, due: number, madeUp: boolean]

/** Calls the add script directly, in mode add against no strikes, as the client's AddCalls would. */
export function addScript(shadow: Shadow, tasks: readonly AddScriptTask[]): Promise<AddResult[] | typeof STALE> {
  return addTasks(
    shadowContext(shadow).redis,
    shadowContext(shadow).keys,
    'add',
    '',
    shadow.eventsLimit,
    tasks.map(([stored, task, json, due, fresh]) => ({ stored, task, json, due, fresh, debounce: false, throttle: 0 })),
  )
}

/** What each stored task's add result says: the state it was stored in, or `duplicate`. */
export function storedStates(results: AddResult[] | typeof STALE): string[] | typeof STALE {
  return typeof results === 'string' ? results : results.map((result) => (result.duplicate ? 'duplicate' : result.state))
}

/** One outcome for the finish script: stream id, stored key, generation, outcome, data, due time. */
export type FinishScriptOutcome = readonly [id: string, key: string, gen: string, outcome: FinishOutcome['outcome'], data: string, due: number]

/** Calls the finish script directly, as worker `worker`'s outcomes writer would; resolves with how many outcomes applied. */
export function finishScript(shadow: Shadow, worker: string, outcomes: readonly FinishScriptOutcome[]): Promise<number> {
  return finishAttempts(
    shadowContext(shadow).redis,
    shadowContext(shadow).keys,
    worker,
    shadow,
    30_000,
    outcomes.map(([id, key, gen, outcome, data, due]) => ({ id, key, gen, outcome, data, due })),
  )
}
