// Helpers shared by the benchmark scenarios: clocks, the library and BullMQ set up the same way for
// every run, key clean-up, private Redis servers and Redis INFO readings.
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import { createRequire } from 'node:module'

// loaded on first use, so that a process measured for its footprint loads only what it uses
const require = createRequire(import.meta.url)

export { sleep }

const root = new URL('../../../', import.meta.url)

/** The root of the built library: BENCH_DIST (set by run.mjs from --dist), else `dist/`. */
export function distRoot() {
  return process.env.BENCH_DIST ? pathToFileURL(resolve(process.env.BENCH_DIST) + '/') : new URL('dist/', root)
}

/**
 * Where a module of the built library lives, by its path under src/ (e.g. `gateway/app.js`): a
 * build that compiles src/ into `<dist>/src/` has it there, an older one at `<dist>/<relative>`;
 * the first that exists wins, so that --dist can measure a build of either layout.
 */
export function distUrl(relative) {
  const base = distRoot()
  const nested = new URL(`src/${relative}`, base)
  return (existsSync(nested) ? nested : new URL(relative, base)).href
}

/** Imports a module of the built library, e.g. `lib('index.js')`. */
export function lib(relative = 'index.js') {
  return import(distUrl(relative))
}

/** Wall-clock time in epoch ms with sub-millisecond resolution (comparable across processes). */
export function now() {
  return performance.timeOrigin + performance.now()
}

/** Warnings and errors of the library go to stderr; nothing else is logged while measuring. */
export function benchLogger() {
  const { pino } = require('pino')
  return pino({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' }, pino.destination(2))
}

/** The no-op task every shadows scenario runs, with an optional hook called on each run. */
export async function noopTask(onRun) {
  const { defineTask } = await lib()
  const { Type } = await import('@sinclair/typebox')
  return defineTask({
    name: 'noop',
    params: Type.Object({}),
    async run(_params, ctx) {
      onRun?.(ctx)
    },
  })
}

/** BullMQ connection options for `url` (BullMQ's workers need maxRetriesPerRequest: null). */
export function bullConnection(url) {
  const u = new URL(url)
  return {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port || 6379),
    db: Number((u.pathname || '/0').slice(1) || 0),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    maxRetriesPerRequest: null,
  }
}

/** BullMQ settings used everywhere: completed and failed jobs are removed, as shadows keeps no log. */
export const BULL_JOB_OPTIONS = Object.freeze({ removeOnComplete: true, removeOnFail: true })
export const BULL_WORKER_OPTIONS = Object.freeze({ removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } })

/** A plain connection, e.g. for INFO or clean-up. */
export function plainRedis(url) {
  const { Redis } = require('ioredis')
  return new Redis(url, { maxRetriesPerRequest: 3 })
}

/** Deletes every key matching `pattern` (SCAN + UNLINK); returns how many. */
export async function deleteKeys(redis, pattern) {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000)
    cursor = next
    for (let i = 0; i < keys.length; i += 1000) {
      deleted += await redis.unlink(...keys.slice(i, i + 1000))
    }
  } while (cursor !== '0')
  return deleted
}

/** Removes every key of a shadow (`{name}:*`). */
export function deleteShadowKeys(redis, name) {
  return deleteKeys(redis, `{${escapeGlob(name)}}:*`)
}

/** Removes every key of a shadow through a connection of its own. */
export async function dropShadow(url, name) {
  const redis = plainRedis(url)
  try {
    await deleteShadowKeys(redis, name)
  } finally {
    redis.disconnect()
  }
}

/** Empties a BullMQ queue and removes whatever its closing worker may have left (`bull:name:*`). */
export async function deleteBullQueue(queue, url, name) {
  await dropQueue(
    () => queue.obliterate({ force: true }),
    () => queue.close(),
    url,
    `bull:${escapeGlob(name)}:*`,
  )
}

/** The stream the XADD reference route (lib/server.mjs) writes to. */
export function xaddStream(name) {
  return `${name}:stream`
}

/** A Bee-Queue queue on `url`; `worker` makes it able to process (Bee-Queue's default). */
export async function beeQueue(name, url, { worker = false } = {}) {
  const { default: BeeQueue } = await import('bee-queue')
  const u = new URL(url)
  const queue = new BeeQueue(name, {
    redis: { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379), db: Number((u.pathname || '/0').slice(1) || 0) },
    isWorker: worker,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
    removeOnSuccess: true,
    removeOnFailure: true,
  })
  await queue.ready()
  return queue
}

/** Adds `count` jobs to a Bee-Queue queue with saveAll, `chunk` per call, `parallel` calls in flight. */
export async function beeFill(queue, count, options) {
  await fillInLanes(count, options, async (start, end) => {
    const failed = await queue.saveAll(range(start, end, () => queue.createJob({})))
    if (failed.size > 0) throw [...failed.values()][0]
  })
}

/** Closes a Bee-Queue queue after deleting every key it made. */
export async function deleteBeeQueue(queue, url, name) {
  await dropQueue(
    () => queue.destroy(),
    () => queue.close(),
    url,
    `bq:${escapeGlob(name)}:*`,
  )
}

/** Empties a queue its own way, closes it, then deletes whatever keys match `pattern`. */
async function dropQueue(empty, close, url, pattern) {
  try {
    await empty()
  } finally {
    await close()
    const redis = plainRedis(url)
    try {
      await deleteKeys(redis, pattern)
    } finally {
      redis.disconnect()
    }
  }
}

function escapeGlob(text) {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

/** Splits `items` into arrays of at most `size`. */
export function chunks(items, size) {
  const out = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Calls `send(start, end)` for consecutive chunks of `count` items, `parallel` calls in flight. */
async function fillInLanes(count, { chunk = 1000, parallel = 1 } = {}, send) {
  let next = 0
  const lane = async () => {
    while (next < count) {
      const start = next
      const end = Math.min(count, start + chunk)
      next = end
      await send(start, end)
    }
  }
  await Promise.all(Array.from({ length: parallel }, lane))
}

function range(start, end, make) {
  const items = []
  for (let i = start; i < end; i++) items.push(make(i))
  return items
}

/** Adds `count` tasks to a shadow with addBatch, `chunk` per call, `parallel` calls in flight. */
export async function shadowsFill(shadow, count, makeItem, options) {
  await fillInLanes(count, options, async (start, end) => {
    const results = await shadow.addBatch(range(start, end, makeItem))
    const bad = results.find((r) => !r.ok)
    if (bad) throw bad.error
  })
}

/** Adds `count` jobs to a BullMQ queue with addBulk, `chunk` per call, `parallel` calls in flight. */
export async function bullFill(queue, count, makeJob, options) {
  await fillInLanes(count, options, (start, end) => queue.addBulk(range(start, end, makeJob)))
}

/**
 * A Redis of our own for a measurement that INFO must see without other clients (idle cost,
 * memory, scale). Falls back to the shared one, flagged, when no redis-server can be started.
 */
export async function privateRedis(sharedUrl) {
  try {
    const { startRedisServer } = await lib('cli/private-redis.js')
    const server = await startRedisServer()
    return { url: server.url, private: true, stop: () => server.stop() }
  } catch (err) {
    process.stderr.write(`# cannot start a private redis-server (${err.message}); measuring on the shared Redis, expect noise\n`)
    return { url: sharedUrl, private: false, stop: async () => undefined }
  }
}

/** INFO commandstats as a map from command name to calls. */
export async function commandCalls(redis) {
  const text = await redis.info('commandstats')
  const calls = new Map()
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (match) calls.set(match[1], Number(match[2]))
  }
  return calls
}

/** The difference between two commandstats readings, without commands that did not change. */
export function commandDelta(before, after) {
  const delta = {}
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0)
    if (d > 0) delta[name] = d
  }
  return delta
}

/**
 * The commands `admin`'s Redis ran over `windowMs` (every command, Lua's included), as
 * { perSecond, commands }: the INFO of the first reading, which falls inside the window, left out.
 */
export async function commandsOver(admin, windowMs) {
  const before = await commandCalls(admin)
  await sleep(windowMs)
  const commands = commandDelta(before, await commandCalls(admin))
  if (commands.info) commands.info -= 1
  if (commands.info === 0) delete commands.info
  const total = Object.values(commands).reduce((a, b) => a + b, 0)
  return { perSecond: round(total / (windowMs / 1000), 2), commands }
}

/** `used_memory` from INFO memory, in bytes. */
export async function usedMemory(redis) {
  const text = await redis.info('memory')
  const match = /^used_memory:(\d+)/m.exec(text)
  if (!match) throw new Error('INFO memory has no used_memory')
  return Number(match[1])
}

/** A promise with its resolve/reject, settled at most once. */
export function deferred() {
  let resolve
  let reject
  const promise = new Promise((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function within(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Waits until the consumer group has no pending (delivered, unacknowledged) message. */
export async function waitAcknowledged(redis, stream, group = 'workers') {
  for (;;) {
    const [pending] = await redis.xpending(stream, group)
    if (Number(pending) === 0) return
    await sleep(1)
  }
}

/** Nearest-rank percentile of sorted numbers. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

/** Rounds to `digits` decimals. */
export function round(value, digits = 0) {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
