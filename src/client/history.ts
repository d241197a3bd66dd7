/**
 * What operators do with the tasks a shadow holds or held: list them by state, a page at a time,
 * and run finished ones again (one by key, or every one of a state that matches a filter).
 *
 * A page is one call of the list script, which reads an index (a history index, the schedule or
 * the stream) and the records it names. A retry is judged against the strike rules here, as an
 * add is, and the retry script checks in the same call that the rules did not change meanwhile and
 * that each record is still the one that was judged.
 */
import { decodeCursor, encodeCursor, type ListPosition } from '../core/cursor.js'
import { ShadowsError } from '../core/errors.js'
import { TASK_STATES, isFinished, isTaskState, parseRecord, type TaskInfo, type TaskState } from '../core/records.js'
import { describeStrike, type Strike } from '../core/strikes.js'
import { assertValidKey, assertValidTaskName, parseWhen, type When } from '../core/validation.js'
import { STALE, listTasks, retryTasks, type ListedTask, type Retention, type RetryTask } from '../redis/commands.js'
import { storedKey, userKey, type ShadowKeys } from '../redis/keys.js'
import type { RedisClient } from '../redis/scripts.js'
import type { StrikeCopy } from '../redis/strike-copy.js'

/** What listing and retrying need of a shadow. */
export interface HistoryContext extends Retention {
  readonly redis: RedisClient
  readonly keys: ShadowKeys
  readonly strikes: StrikeCopy
}

/** What `list()` reads: one page of the tasks in one state. */
export interface ListQuery {
  /** One of the seven states. */
  readonly state: TaskState
  /** Only tasks of this name. */
  readonly task?: string
  /** Most tasks on the page: 1–1000 (default 100). */
  readonly limit?: number
  /** The `next` of the page before; absent for the first page. */
  readonly cursor?: string
}

/** One page of a listing. */
export interface TaskPage {
  /**
   * The tasks, as `get()` answers them: finished states newest first, `scheduled` by due time,
   * `queued` and `running` oldest first.
   */
  readonly tasks: TaskInfo[]
  /** Pass it as `cursor` for the following page; absent when nothing follows. */
  readonly next?: string
}

/** What `retry()` answers: the task is queued again, under the same key, with the same params. */
export interface Retried {
  readonly key: string
  readonly task: string
  /** When it was queued again (it runs now). */
  readonly when: Date
  readonly state: 'queued'
}

/** The finished states `retryAll()` takes. */
export type RetryableState = 'failed' | 'cancelled' | 'struck'

/** Which finished tasks `retryAll()` runs again. */
export interface RetryFilter {
  readonly state: RetryableState
  /** Only tasks of this name. */
  readonly task?: string
  /** Only tasks that finished at or after this time. */
  readonly finishedAfter?: When
  /** Most tasks to look at, newest first: 1–10,000 (default 10,000). */
  readonly limit?: number
}

/** What `retryAll()` did. */
export interface RetryCounts {
  /** Tasks queued again. */
  readonly retried: number
  /** Tasks left as they were: a strike matches them, or their key was taken meanwhile. */
  readonly skipped: number
}

/** Default and largest page of `list()`. */
export const DEFAULT_LIST_LIMIT = 100
export const MAX_LIST_LIMIT = 1000

/** Default and largest number of tasks `retryAll()` looks at. */
export const MAX_RETRY_ALL = 10_000

/** Tasks per retry-script call of `retryAll()`. */
const RETRY_BATCH = 500

/** How often a retry is judged again when the strikes or the record changed under it. */
const MAX_TRIES = 10

/**
 * Most index entries one page looks at: ten per task asked for, at least 1,000 and at most 10,000.
 * Entries are passed over when their record expired or moved on, and, for a live state filtered by
 * task name, when they name another task (the schedule and the stream are not indexed by name);
 * such a page may end short of its limit, with a `next`.
 */
function budgetFor(limit: number): number {
  return Math.max(1000, Math.min(10 * limit, 10_000))
}

function assertLimit(limit: unknown, max: number): asserts limit is number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', `limit must be an integer from 1 to ${max}`, { field: 'limit' })
  }
}

/** The record of a listed task as `get()` answers it (a scheduled task's due time is its score). */
function listedInfo(listed: ListedTask, state: TaskState): TaskInfo | undefined {
  return parseRecord(userKey(listed.stored), listed.fields, state === 'scheduled' ? listed.score : undefined)
}

/** One page of the tasks in `query.state`. */
export async function listPage(ctx: HistoryContext, query: ListQuery): Promise<TaskPage> {
  if (query === null || typeof query !== 'object') throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'list needs { state }', { field: 'state' })
  const { state, task, limit = DEFAULT_LIST_LIMIT, cursor } = query
  if (!isTaskState(state)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `state must be one of ${TASK_STATES.join(', ')}`, { field: 'state' })
  if (task !== undefined) assertValidTaskName(task)
  assertLimit(limit, MAX_LIST_LIMIT)
  const after = cursor === undefined ? undefined : decodeCursor(cursor, state, task)
  const page = await listTasks(ctx.redis, ctx.keys, { state, task, limit, budget: budgetFor(limit), after, historyLimit: ctx.historyLimit })
  const tasks: TaskInfo[] = []
  for (const listed of page.tasks) {
    const info = listedInfo(listed, state)
    if (info !== undefined) tasks.push(info)
  }
  return { tasks, ...(page.next !== undefined ? { next: encodeCursor(state, task, page.next) } : {}) }
}

/** A finished task read for a retry: what the strikes are checked against, and its generation. */
interface Candidate extends RetryTask {
  readonly key: string
  readonly task: string
  readonly params: Record<string, unknown>
}

/** The candidate a record makes, or undefined when it has no generation (not one shadows wrote). */
function candidate(stored: string, fields: Record<string, string>): Candidate | undefined {
  const info = parseRecord(userKey(stored), fields)
  const gen = fields.gen
  if (info === undefined || gen === undefined) return undefined
  return { stored, gen, key: info.key, task: info.task, params: info.params }
}

function struckError(key: string, task: string, strike: Strike): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_STRUCK', `task ${task} is struck (${describeStrike(strike)}); it was not retried`, { key, task, strike: strike.id })
}

function notFinished(key: string, state: string): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_NOT_FINISHED', `task ${key} is ${state}; only a completed, failed, cancelled or struck task can be retried`, {
    key,
    state,
  })
}

/** Runs the finished task of `key` again (see `Shadow.retry`). */
export async function retryKey(ctx: HistoryContext, key: string): Promise<Retried> {
  assertValidKey(key)
  const stored = storedKey(key)
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const fields = await ctx.redis.hgetall(ctx.keys.task(stored))
    const state = fields.state
    if (state === undefined) throw notFoundError(key)
    if (!isTaskState(state) || !isFinished(state)) throw notFinished(key, state)
    const task = candidate(stored, fields)
    if (task === undefined) throw notFoundError(key)
    const strikes = await ctx.strikes.current(tries > 0)
    const strike = strikes.match(task.task, task.params)
    if (strike) throw struckError(key, task.task, strike)
    const now = Date.now()
    const reply = await retryTasks(ctx.redis, ctx.keys, now, strikes.version, ctx.eventsLimit, [task])
    if (reply === STALE) continue
    const [outcome] = reply
    if (outcome === 'retried') return { key, task: task.task, when: new Date(now), state: 'queued' }
    if (outcome === 'missing') throw notFoundError(key)
    // changed: another incarnation of the key finished meanwhile; judge that one
    if (outcome !== 'changed' && outcome !== undefined) throw notFinished(key, outcome)
  }
  throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', `task ${key} or the strikes kept changing while retrying it`, { key })
}

/** `SHADOWS_ERR_NOT_FOUND` for a key with no record (never one, or it expired). */
export function notFoundError(key: string): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_NOT_FOUND', `no task with key ${key} (unknown, or its record expired)`, { key })
}

/** Runs again every finished task that `filter` matches, a batch at a time (see `Shadow.retryAll`). */
export async function retryMatching(ctx: HistoryContext, filter: RetryFilter): Promise<RetryCounts> {
  if (filter === null || typeof filter !== 'object') throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'retryAll needs { state }', { field: 'state' })
  const { state, task, finishedAfter, limit = MAX_RETRY_ALL } = filter
  if (state !== 'failed' && state !== 'cancelled' && state !== 'struck') {
    throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'state must be failed, cancelled or struck', { field: 'state' })
  }
  if (task !== undefined) assertValidTaskName(task)
  assertLimit(limit, MAX_RETRY_ALL)
  const earliest = finishedAfter === undefined ? undefined : parseWhen(finishedAfter, 'finishedAfter')
  let retried = 0
  let skipped = 0
  let looked = 0
  let after: ListPosition | undefined
  while (looked < limit) {
    const size = Math.min(RETRY_BATCH, limit - looked)
    const page = await listTasks(ctx.redis, ctx.keys, {
      state,
      task,
      limit: size,
      budget: budgetFor(size),
      after,
      finishedAfter: earliest,
      historyLimit: ctx.historyLimit,
    })
    const candidates: Candidate[] = []
    for (const listed of page.tasks) {
      const found = candidate(listed.stored, listed.fields)
      if (found !== undefined) candidates.push(found)
    }
    looked += candidates.length
    const counts = await retryBatch(ctx, candidates)
    retried += counts.retried
    skipped += counts.skipped
    if (page.next === undefined) break
    after = page.next
  }
  return { retried, skipped }
}

/** Retries one batch of finished tasks in one script call, judged against the strikes afresh whenever they changed meanwhile. */
async function retryBatch(ctx: HistoryContext, candidates: readonly Candidate[]): Promise<RetryCounts> {
  if (candidates.length === 0) return { retried: 0, skipped: 0 }
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const strikes = await ctx.strikes.current(tries > 0)
    const sendable = candidates.filter((c) => strikes.match(c.task, c.params) === undefined)
    let skipped = candidates.length - sendable.length
    if (sendable.length === 0) return { retried: 0, skipped }
    const reply = await retryTasks(ctx.redis, ctx.keys, Date.now(), strikes.version, ctx.eventsLimit, sendable)
    if (reply === STALE) continue
    let retried = 0
    for (const outcome of reply) {
      if (outcome === 'retried') retried += 1
      // taken by a live task, or another incarnation of the key: left as it is
      else if (outcome !== 'missing') skipped += 1
    }
    return { retried, skipped }
  }
  throw new ShadowsError('SHADOWS_ERR_UNAVAILABLE', 'the strikes kept changing while retrying')
}
