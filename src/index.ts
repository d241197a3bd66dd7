/**
 * shadows: distributed background tasks for Node.js on Redis.
 *
 * ```ts
 * import { Shadow, Worker, defineTask } from 'shadows'
 * ```
 */
export { Shadow, DEFAULT_EXECUTION_TTL, DEFAULT_MAX_STRIKES, DEFAULT_HISTORY_LIMIT, DEFAULT_EVENTS_LIMIT } from './client/shadow.js'
export type { ShadowOptions } from './client/shadow.js'
export type {
  AddOptions,
  ReplaceOptions,
  Execution,
  StoredExecution,
  DuplicateExecution,
  Replacement,
  BatchItem,
  BatchResult,
  Cancellation,
  GetOptions,
  ResultOptions,
} from './client/types.js'
export { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_RETRY_ALL } from './client/history.js'
export type { ListQuery, TaskPage, Retried, RetryFilter, RetryCounts, RetryableState } from './client/history.js'
export { MAX_CURSOR_LENGTH } from './core/cursor.js'
export { EventLog, MAX_EVENT_READ } from './client/events.js'
export type { EventsOptions, EventReadOptions, EventBatch } from './client/events.js'
export { EVENT_TYPES, eventMatcher, assertEventFilter, isEventId, isEventType } from './core/events.js'
export type { EventType, TaskEventType, StrikeEventType, TaskEvent, StrikeEvent, ShadowEvent, EventFilter } from './core/events.js'
export { Worker } from './worker/worker.js'
export type { WorkerOptions, WorkerObserver, WorkerHealth } from './worker/worker.js'
export { defineTask } from './core/task.js'
export type {
  Task,
  AnyTask,
  TaskOptions,
  TaskContext,
  RetryOptions,
  PerpetualOptions,
  PerpetualControl,
  CronOptions,
  ConcurrencyOptions,
  RateLimitOptions,
  ParamsOf,
} from './core/task.js'
export { ShadowsError, isShadowsError, ERRORS, ERROR_CODES } from './core/errors.js'
export type { ErrorCode } from './core/errors.js'
export { TASK_STATES, FINISHED_STATES } from './core/records.js'
export type { TaskState, LiveState, FinishedState, TaskInfo, TaskError, TaskProgress } from './core/records.js'
export { MAX_STRIKE_VALUE_BYTES, STRIKE_OPERATORS } from './core/strikes.js'
export type { Strike, StrikeInput, StrikeOperator, JsonValue } from './core/strikes.js'
export type { Snapshot, StateCounts, RunningTask, ScheduledTask, WaitingGroup, WorkerInfo } from './client/inspect.js'
export {
  TimeoutError,
  CancelledError,
  ShutdownError,
  StruckError,
  PoisonTaskError,
  RetryRequestedError,
  UnknownTaskError,
  NonRetryableError,
  TASK_ERRORS,
} from './core/errors.js'
export type { TaskErrorCode } from './core/errors.js'
export { isValidKey, MAX_ADD_WINDOW } from './core/validation.js'
export type { When } from './core/validation.js'
export { DEFAULT_REDIS_URL } from './redis/connection.js'
export type { RedisClient } from './redis/scripts.js'
