/**
 * Helpers for the history, retry, results and events tests: tasks that complete or fail on demand,
 * a way to bring tasks into each of the seven states, paging through a listing, counting the
 * commands a shadow's own connection sends, and reading the events log as it is.
 */
import { Type } from '@sinclair/typebox'
import { defineTask, type Shadow, type ShadowEvent, type TaskState } from '../../src/index.js'
import type { TaskPage, ListQuery } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { latestEventId, readEventLog } from '../../src/redis/event-log.js'
import { shadowKeys } from '../../src/redis/keys.js'
import { adminRedis } from './shadow.js'

/** A task `job` that returns `{ v }`, or throws `boom <v>` when `fail` is set. */
export function jobTask(name = 'job') {
  const runs: number[] = []
  const task = defineTask({
    name,
    params: Type.Object({ v: Type.Number(), fail: Type.Optional(Type.Boolean()) }),
    async run({ v, fail }) {
      runs.push(v)
      if (fail) throw new Error(`boom ${v}`)
      return { v }
    },
  })
  return { task, runs }
}

/** Every page of a listing, followed from the first to the last; `pages` counts them. */
export async function allPages(shadow: Shadow, query: Omit<ListQuery, 'cursor'>): Promise<{ keys: string[]; pages: TaskPage[] }> {
  const pages: TaskPage[] = []
  let cursor: string | undefined
  for (let i = 0; i < 10_000; i++) {
    const page = await shadow.list({ ...query, ...(cursor !== undefined ? { cursor } : {}) })
    pages.push(page)
    cursor = page.next
    if (cursor === undefined) break
  }
  return { keys: pages.flatMap((page) => page.tasks.map((task) => task.key)), pages }
}

/** The keys of one listing's first page (the default limit). */
export async function listed(shadow: Shadow, state: TaskState, task?: string): Promise<string[]> {
  const page = await shadow.list({ state, ...(task !== undefined ? { task } : {}) })
  return page.tasks.map((info) => info.key)
}

/**
 * The stored keys a history index holds, oldest first, entry by entry as the scripts wrote them
 * (each entry's `k` field: up to 100 keys separated by \x1f; see src/redis/lua/shared.lua).
 */
export async function indexedKeys(index: string): Promise<string[]> {
  const entries = (await adminRedis().xrange(index, '-', '+')) as [string, string[]][]
  return entries.flatMap(([, fields]) => (fields[fields.indexOf('k') + 1] ?? '').split('\x1f'))
}

/** The keys of a shadow's history indexes (`{name}:ended:*`), with their PTTL. */
export async function historyKeys(shadow: Shadow): Promise<Record<string, number>> {
  const redis = adminRedis()
  const out: Record<string, number> = {}
  const keys = await redis.keys(`${shadowContext(shadow).keys.historyPrefix}*`)
  for (const key of keys) out[key] = await redis.pttl(key)
  return out
}

/**
 * Counts the commands the shadow's own connection sends, by name (lowercase), from now until
 * `stop()`: scripts count as `evalsha` (or `eval`), a transaction's commands each.
 */
export function countCommands(shadow: Shadow): { counts: Map<string, number>; stop(): void } {
  const redis = shadowContext(shadow).redis as unknown as { sendCommand(command: { name: string }, ...rest: unknown[]): unknown }
  const original = redis.sendCommand
  const counts = new Map<string, number>()
  redis.sendCommand = function (this: unknown, command: { name: string }, ...rest: unknown[]) {
    const name = command.name.toLowerCase()
    counts.set(name, (counts.get(name) ?? 0) + 1)
    return original.call(this, command, ...rest)
  }
  return {
    counts,
    stop: () => {
      redis.sendCommand = original
    },
  }
}

/** How many clients are connected under the shadow's connection name (`shadows:<name>`). */
export async function connectionsOf(shadow: Shadow): Promise<number> {
  const list = (await adminRedis().client('LIST')) as string
  return list.split('\n').filter((line) => line.includes(` name=shadows:${shadow.name} `)).length
}

/** Resolves after `ms` (to let the clock move on between tasks; never to assert a duration). */
export function tick(ms = 2): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Every event the events log of shadow `name` holds after the event id `after` (all of them by
 * default), oldest first, read straight from Redis as the library reads them.
 */
export async function logEvents(name: string, after = '0-0'): Promise<ShadowEvent[]> {
  const events: ShadowEvent[] = []
  let position = after
  for (;;) {
    const batch = await readEventLog(adminRedis(), shadowKeys(name), position, 1000)
    events.push(...batch.events)
    if (batch.next === position) return events
    position = batch.next
  }
}

/** The id to read the events log of shadow `name` after for the events from now on. */
export function logPosition(name: string): Promise<string> {
  return latestEventId(adminRedis(), shadowKeys(name))
}

/** How many events the events log of shadow `name` holds. */
export async function logLength(name: string): Promise<number> {
  return (await logEvents(name)).length
}
