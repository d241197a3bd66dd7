/**
 * Small helpers shared by the strike, retry and perpetual tests.
 */
import { isShadowsError, type ErrorCode } from '../../src/index.js'

/** The tap test object, as far as these helpers need it. */
interface AssertLike {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ok(value: any, ...rest: any[]): unknown
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  fail(...rest: any[]): unknown
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}${'code' in err ? ` ${String((err as { code: unknown }).code)}` : ''}: ${err.message}`
  return String(err)
}

/** Asserts that `fn` throws a ShadowsError with `code`; returns the error. */
export function throwsCode(t: AssertLike, fn: () => unknown, code: ErrorCode, message = `throws ${code}`): unknown {
  try {
    fn()
  } catch (err) {
    t.ok(isShadowsError(err, code), message, { found: describe(err) })
    return err
  }
  t.fail(`${message}: did not throw`)
  return undefined
}

/** Asserts that `promise` (or the function's promise) rejects with a ShadowsError with `code`; returns the error. */
export async function rejectsCode(
  t: AssertLike,
  promise: Promise<unknown> | (() => Promise<unknown>),
  code: ErrorCode,
  message = `rejects with ${code}`,
): Promise<unknown> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (err) {
    t.ok(isShadowsError(err, code), message, { found: describe(err) })
    return err
  }
  t.fail(`${message}: did not reject`)
  return undefined
}

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

/** Resolves when `signal` aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason)
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }))
}
