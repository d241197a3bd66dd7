/**
 * Task states and the shape of a task record as callers see it, parsed from the Redis hash.
 */
import { TASK_ERRORS, type TaskErrorCode } from './errors.js'

/** Where an execution stands. */
export type TaskState = 'scheduled' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'struck'

/** States in which a key is taken: adding it again changes nothing. */
export type LiveState = 'scheduled' | 'queued' | 'running'

/** States in which a task is over: its record expires `executionTtl` later, and it can be retried. */
export type FinishedState = 'completed' | 'failed' | 'cancelled' | 'struck'

/** Every state, in lifecycle order. */
export const TASK_STATES: readonly TaskState[] = ['scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled', 'struck']

/** The finished states, in the order of {@link TASK_STATES}. */
export const FINISHED_STATES: readonly FinishedState[] = ['completed', 'failed', 'cancelled', 'struck']

/** Whether `state` is one of the seven states. */
export function isTaskState(state: unknown): state is TaskState {
  return typeof state === 'string' && (TASK_STATES as readonly string[]).includes(state)
}

/** Whether a task in `state` is over (see {@link FinishedState}). */
export function isFinished(state: TaskState): state is FinishedState {
  return state === 'completed' || state === 'failed' || state === 'cancelled' || state === 'struck'
}

/** Why an attempt failed (or why a task was cancelled or struck). */
export interface TaskError {
  /** The error's class name, e.g. `TypeError`, `TimeoutError`, `StruckError`. */
  readonly type: string
  /** The stable code of an attempt ended by shadows' doing (see `TASK_ERRORS`); absent for the task's own errors. */
  readonly code?: TaskErrorCode
  readonly message: string
}

/** Progress a running task reported through `ctx.progress`. */
export interface TaskProgress {
  readonly current: number
  readonly total?: number
  readonly message?: string
}

/** One execution as `get()` returns it. */
export interface TaskInfo {
  readonly key: string
  readonly task: string
  readonly params: Record<string, unknown>
  readonly when: Date
  readonly state: TaskState
  /** 1-based number of the attempt that runs or ran last. */
  readonly attempt: number
  readonly worker?: string
  readonly startedAt?: Date
  readonly finishedAt?: Date
  /** The JSON the task returned. */
  readonly result?: unknown
  readonly error?: TaskError
  readonly progress?: TaskProgress
  /**
   * The limit a task waits for before it can start: `concurrency` (queued, waiting for a slot) or
   * `rateLimit` (scheduled for its place in the rate window). Absent otherwise.
   */
  readonly waitingFor?: 'concurrency' | 'rateLimit'
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function date(ms: string | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(Number(ms))
}

/**
 * Turns a task record hash into a {@link TaskInfo}; undefined for an empty (missing) hash. A
 * scheduled record has no `when`: its due time is its score in the schedule, passed as `due`.
 */
export function parseRecord(key: string, hash: Record<string, string>, due?: string): TaskInfo | undefined {
  if (hash.state === undefined) return undefined
  const worker = hash.worker
  const startedAt = date(hash.started)
  const finishedAt = date(hash.finished)
  const result = parseJson(hash.result)
  const error = parseJson(hash.error) as TaskError | undefined
  const progress = parseJson(hash.progress) as TaskProgress | undefined
  const waitingFor =
    hash.state === 'queued' && hash.waiting !== undefined ? 'concurrency' : hash.state === 'scheduled' && hash.rated !== undefined ? 'rateLimit' : undefined
  return {
    key,
    task: hash.task ?? '',
    params: (parseJson(hash.params) as Record<string, unknown> | undefined) ?? {},
    // never an invalid date, even for a scheduled record whose schedule entry is gone
    when: new Date(Number(hash.when ?? due ?? hash.finished ?? 0)),
    state: hash.state as TaskState,
    attempt: Number(hash.attempt ?? 1),
    ...(worker !== undefined ? { worker } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
    ...(result !== undefined ? { result } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(progress !== undefined ? { progress } : {}),
    ...(waitingFor !== undefined ? { waitingFor } : {}),
  }
}

/** An error as stored with a task: its class name, its code when shadows ended the attempt, and its message. */
export function describeError(err: unknown): TaskError {
  if (err instanceof Error) {
    const type = err.name || 'Error'
    // an end of shadows' doing keeps its stable code, for whoever sorts failures; a task's own
    // error (a Node error's code included) keeps its class name and message only
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && Object.hasOwn(TASK_ERRORS, code)) return { type, code: code as TaskErrorCode, message: err.message }
    return { type, message: err.message }
  }
  return { type: 'Error', message: typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err)) }
}
