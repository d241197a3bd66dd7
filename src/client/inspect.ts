/**
 * Read-only views of a shadow: the snapshot of scheduled, queued and running tasks, and the live
 * workers. Bounded reads: counts are exact, lists and per-task tallies cover the first entries.
 */
import { CONSUMER_GROUP, userKey, type ShadowKeys } from '../redis/keys.js'
import type { RedisClient } from '../redis/scripts.js'
import { messageHead, type MessageHead } from '../redis/stream.js'

/** Per-state counts. */
export interface StateCounts {
  scheduled: number
  queued: number
  running: number
}

/** A running task in a snapshot. */
export interface RunningTask {
  readonly key: string
  readonly task: string
  readonly worker: string
  readonly startedAt?: Date
}

/** A scheduled task in a snapshot. */
export interface ScheduledTask {
  readonly key: string
  readonly task: string
  readonly when: Date
}

/** The tasks of one concurrency group waiting for a slot, in a snapshot (see `concurrency` on tasks). */
export interface WaitingGroup {
  readonly task: string
  /** The value of the parameter the limit is by, when it is by one. */
  readonly value?: string
  /** How many wait. */
  readonly count: number
  /** The keys of the first 10, oldest first. */
  readonly keys: readonly string[]
}

/** What `snapshot()` returns. */
export interface Snapshot {
  readonly takenAt: Date
  /** Exact counts. */
  readonly counts: Readonly<StateCounts>
  /**
   * Counts per task name over the first {@link SNAPSHOT_SCAN} entries of each state. An object
   * without a prototype: read it with `Object.entries` or `Object.hasOwn`, not `in`.
   */
  readonly byTask: Readonly<Record<string, Readonly<StateCounts>>>
  /** Running tasks (at most {@link SNAPSHOT_SCAN}). */
  readonly running: readonly RunningTask[]
  /** The first 100 scheduled tasks by due time. */
  readonly scheduled: readonly ScheduledTask[]
  /**
   * The first 100 concurrency groups with tasks waiting for a slot. Waiting tasks are `queued`
   * (counted in `counts.queued`, and per task in `byTask`), but off the stream until a slot frees.
   */
  readonly waiting: readonly WaitingGroup[]
}

/** A live worker, from its heartbeat. */
export interface WorkerInfo {
  readonly name: string
  readonly lastSeen: Date
  readonly tasks: readonly string[]
  readonly concurrency: number
  readonly running: number
}

/** How many entries of each state a snapshot reads at most. */
export const SNAPSHOT_SCAN = 1000
const SCHEDULED_LISTED = 100
const WAITING_GROUPS_LISTED = 100
const WAITING_KEYS_LISTED = 10

type Reply = [Error | null, unknown]

function value<T>(reply: Reply | undefined, fallback: T): T {
  if (!reply) return fallback
  const [err, result] = reply
  if (err) {
    // a stream without its consumer group yet: nothing has been delivered
    if (/NOGROUP/.test(err.message)) return fallback
    throw err
  }
  return (result as T) ?? fallback
}

/** Reads a snapshot of one shadow. */
export async function takeSnapshot(redis: RedisClient, keys: ShadowKeys): Promise<Snapshot> {
  const takenAt = new Date()
  const first = (await redis
    .pipeline()
    .zcard(keys.schedule)
    .xlen(keys.stream)
    .xpending(keys.stream, CONSUMER_GROUP, '-', '+', SNAPSHOT_SCAN)
    .zrange(keys.schedule, 0, SNAPSHOT_SCAN - 1, 'WITHSCORES')
    .xrange(keys.stream, '-', '+', 'COUNT', SNAPSHOT_SCAN)
    .xpending(keys.stream, CONSUMER_GROUP)
    .zrange(keys.limits, 0, WAITING_GROUPS_LISTED - 1)
    .exec()) as Reply[]
  const scheduledCount = value<number>(first[0], 0)
  const streamLength = value<number>(first[1], 0)
  const pending = value<[string, string, number, number][]>(first[2], [])
  const schedule = value<string[]>(first[3], [])
  const entries = value<[string, string[]][]>(first[4], [])
  // the summary form counts every pending message; the list above stops at SNAPSHOT_SCAN
  const pendingCount = Number(value<[number | string] | unknown[]>(first[5], [0])[0] ?? 0)
  const waitingGroups = value<string[]>(first[6], [])

  const pendingIds = new Map(pending.map(([id, consumer]) => [id, consumer]))
  const byId = new Map<string, MessageHead | undefined>(entries.map((entry) => [entry[0], messageHead(entry[1])]))
  // keyed by task names, which are data: a Map, made into an object without a prototype at the end
  const byTask = new Map<string, StateCounts>()
  const tally = (task: string, state: keyof StateCounts) => {
    let counts = byTask.get(task)
    if (!counts) byTask.set(task, (counts = { scheduled: 0, queued: 0, running: 0 }))
    counts[state] += 1
  }
  for (const [id, head] of byId) if (!pendingIds.has(id) && head?.task) tally(head.task, 'queued')

  const second = redis.pipeline()
  const missing = [...pendingIds.keys()].filter((id) => !byId.has(id))
  for (const id of missing) second.xrange(keys.stream, id, id)
  const scheduledKeys: string[] = []
  const scheduledWhen: number[] = []
  for (let i = 0; i + 1 < schedule.length; i += 2) {
    scheduledKeys.push(schedule[i] as string)
    scheduledWhen.push(Number(schedule[i + 1]))
  }
  for (const key of scheduledKeys) second.hget(keys.task(key), 'task')
  for (const group of waitingGroups) second.zcard(keys.waitingPrefix + group).zrange(keys.waitingPrefix + group, 0, WAITING_KEYS_LISTED - 1)
  const runningIds = [...pendingIds.keys()]
  const replies = (await second.exec()) as Reply[]
  missing.forEach((id, i) => {
    const found = value<[string, string[]][]>(replies[i], [])
    if (found[0]) byId.set(id, messageHead(found[0][1]))
  })
  const scheduledTasks = scheduledKeys.map((_, i) => value<string | null>(replies[missing.length + i], null) ?? '')
  scheduledTasks.forEach((task) => task && tally(task, 'scheduled'))
  const waitingAt = missing.length + scheduledKeys.length
  const waiting: WaitingGroup[] = waitingGroups.map((group, i) => {
    const count = value<number>(replies[waitingAt + 2 * i], 0)
    const listed = value<string[]>(replies[waitingAt + 2 * i + 1], [])
    // a group is the task name, or the task name, "|" and the value (task names hold no "|")
    const bar = group.indexOf('|')
    const task = bar < 0 ? group : group.slice(0, bar)
    for (let n = 0; n < count; n++) tally(task, 'queued')
    return { task, ...(bar < 0 ? {} : { value: group.slice(bar + 1) }), count, keys: listed.map(userKey) }
  })
  const waitingCount = waiting.reduce((sum, group) => sum + group.count, 0)

  const third = redis.pipeline()
  const runningRows = runningIds
    .map((id) => ({ id, head: byId.get(id), worker: pendingIds.get(id) as string }))
    .filter((row): row is { id: string; head: MessageHead; worker: string } => row.head !== undefined)
  for (const row of runningRows) third.hget(keys.task(row.head.key), 'started')
  const started = runningRows.length ? ((await third.exec()) as Reply[]) : []
  const running: RunningTask[] = runningRows.map((row, i) => {
    const ms = value<string | null>(started[i], null)
    tally(row.head.task ?? '', 'running')
    return {
      key: userKey(row.head.key),
      task: row.head.task ?? '',
      worker: row.worker,
      ...(ms !== null ? { startedAt: new Date(Number(ms)) } : {}),
    }
  })

  return {
    takenAt,
    counts: { scheduled: scheduledCount, queued: Math.max(0, streamLength - pendingCount) + waitingCount, running: pendingCount },
    byTask: withoutPrototype(byTask),
    running,
    scheduled: scheduledKeys.slice(0, SCHEDULED_LISTED).map((key, i) => ({
      key: userKey(key),
      task: scheduledTasks[i] ?? '',
      when: new Date(scheduledWhen[i] as number),
    })),
    waiting,
  }
}

/**
 * A Map as a plain-looking object without a prototype: every name, `__proto__` and `constructor`
 * included, is an own property, and none can reach `Object.prototype`.
 */
function withoutPrototype<T>(map: ReadonlyMap<string, T>): Record<string, T> {
  const out = Object.create(null) as Record<string, T>
  for (const [name, value] of map) out[name] = value
  return out
}

/** Lists the workers whose heartbeat has not expired. */
export async function listWorkers(redis: RedisClient, keys: ShadowKeys): Promise<WorkerInfo[]> {
  const names = await redis.zrange(keys.workers, Date.now(), '+inf', 'BYSCORE')
  if (names.length === 0) return []
  const pipeline = redis.pipeline()
  for (const name of names) pipeline.hgetall(keys.worker(name))
  const replies = (await pipeline.exec()) as Reply[]
  const workers: WorkerInfo[] = []
  names.forEach((name, i) => {
    const hash = value<Record<string, string>>(replies[i], {})
    if (hash.lastSeen === undefined) return
    workers.push({
      name,
      lastSeen: new Date(Number(hash.lastSeen)),
      tasks: JSON.parse(hash.tasks ?? '[]') as string[],
      concurrency: Number(hash.concurrency ?? 0),
      running: Number(hash.running ?? 0),
    })
  })
  return workers
}
