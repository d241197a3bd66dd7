/**
 * shadows: distributed background tasks for Node.js on Redis.
 *
 * ```ts
 * import { Shadow, Worker, defineTask } from 'shadows'
 * ```
 */
export { Shadow, DEFAULT_EXECUTION_TTL, DEFAULT_MAX_STRIKES } from './shadow.js'
export type { ShadowOptions, AddOptions, ReplaceOptions, Execution, Replacement, BatchItem, BatchResult, Cancellation } from './shadow.js'
export { Worker } from './worker.js'
export type { WorkerOptions, WorkerObserver } from './worker.js'
export { defineTask } from './task.js'
export type { Task, AnyTask, TaskOptions, TaskContext, RetryOptions, PerpetualOptions, CronOptions, ParamsOf } from './task.js'
export { ShadowsError, isShadowsError, ERRORS, ERROR_CODES } from './errors.js'
export type { ErrorCode } from './errors.js'
export { TASK_STATES } from './records.js'
export type { TaskState, LiveState, TaskInfo, TaskError, TaskProgress } from './records.js'
export { MAX_STRIKE_VALUE_BYTES, STRIKE_OPERATORS } from './strikes.js'
export type { Strike, StrikeInput, StrikeOperator, JsonValue } from './strikes.js'
export type { Snapshot, StateCounts, RunningTask, ScheduledTask, WorkerInfo } from './inspect.js'
export { TimeoutError, CancelledError, ShutdownError } from './execution.js'
export { isValidKey } from './validation.js'
export type { When } from './validation.js'
export { DEFAULT_REDIS_URL } from './redis/connection.js'
export type { RedisClient } from './redis/scripts.js'
