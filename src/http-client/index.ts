/**
 * `shadows/client`: a typed client of the shadows HTTP gateway, for Node.js ≥ 20 and browsers.
 * It loads nothing but its own files (only `fetch` and the web platform's globals), so it can be
 * bundled for a page without the library, Redis or Fastify. Explicit named exports only.
 */
export { ShadowsClient, DEFAULT_RETRIES, DEFAULT_TIMEOUT, type ClientOptions, type GetOptions } from './client.js'
export { ShadowsError, isShadowsError, CLIENT_ERROR_CODES, type ClientErrorCode } from './errors.js'
export type { CallOptions, RetryInfo } from './request.js'
export { DEFAULT_IDLE_TIMEOUT, DEFAULT_RECONNECT_DELAY, type EventsOptions, type ReconnectInfo } from './events.js'
export type {
  AddInput,
  AddResult,
  AddedTask,
  BatchResult,
  CancelResult,
  ErrorAnswer,
  ErrorCode,
  EventType,
  EventsFilter,
  EventsGap,
  ExistingTask,
  ListInput,
  ReplaceInput,
  ReplaceResult,
  RetryAllInput,
  RetryAllResult,
  RetryResult,
  ShadowsEvent,
  SnapshotResult,
  StrikeEventMessage,
  StrikeInput,
  StrikeListBody,
  StrikeRule,
  TaskEventMessage,
  TaskPageBody,
  TaskRecordBody,
  WorkerListBody,
} from './types.js'
