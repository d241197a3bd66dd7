/**
 * /tasks: add, add in batches, read (waiting for the end, if asked), replace and cancel tasks;
 * list them by state, and run finished ones again.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ShadowsError, isShadowsError, type AddOptions, type BatchItem, type Execution, type TaskInfo } from '../../src/index.js'
import { allowIdle, assertValidKey, errors, inRequestTrace } from '../../src/gateway/contract.js'
import {
  AddBody,
  Added,
  BatchBody,
  BatchResults,
  Cancelled,
  Existing,
  GetQuery,
  KeyParams,
  ListQuery,
  MAX_GET_WAIT,
  ReplaceBody,
  Replaced,
  RetryAllBody,
  RetryCounts,
  Retried,
  TaskPage,
  TaskRecord,
} from './schemas.js'

const checkItem = TypeCompiler.Compile(AddBody)

/** `when`/`delay`/`key`/`debounce`/`throttle` of a body, without undefined fields (the client validates them). */
function timing(body: {
  when?: string | undefined
  delay?: number | undefined
  key?: string | undefined
  debounce?: number | undefined
  throttle?: number | undefined
}): AddOptions {
  return {
    ...(body.when !== undefined ? { when: body.when } : {}),
    ...(body.delay !== undefined ? { delay: body.delay } : {}),
    ...(body.key !== undefined ? { key: body.key } : {}),
    ...(body.debounce !== undefined ? { debounce: body.debounce } : {}),
    ...(body.throttle !== undefined ? { throttle: body.throttle } : {}),
  }
}

/** `{ key, task, when, state }` of a task just stored: added, or retried. */
function addedBody<S extends string>(e: { readonly key: string; readonly task: string; readonly when: Date; readonly state: S }) {
  return { key: e.key, task: e.task, when: e.when.toISOString(), state: e.state }
}

/** 202 with the task's address. */
function accepted(reply: FastifyReply, e: Parameters<typeof addedBody>[0]): FastifyReply {
  return reply.code(202).header('location', `/tasks/${e.key}`).send(addedBody(e))
}

/** The 200 of POST /tasks: the task that holds the key, or the scheduled task a debounced add moved. */
function existingBody(e: Execution) {
  const { key, task } = e
  const when = e.when.toISOString()
  if (!e.duplicate) return { key, task, when, state: 'scheduled' as const, debounced: true as const }
  // a throttle window can outlive the task's record: its state and params are then unknown
  return { key, task, when, ...(e.state !== undefined ? { state: e.state } : {}), duplicate: true as const, ...(e.params ? { params: e.params } : {}) }
}

function recordBody(info: TaskInfo) {
  const { startedAt, finishedAt, when, ...rest } = info
  return {
    ...rest,
    when: when.toISOString(),
    ...(startedAt ? { startedAt: startedAt.toISOString() } : {}),
    ...(finishedAt ? { finishedAt: finishedAt.toISOString() } : {}),
  }
}

/** A count from a query string (digits, by its schema) within `min`–`max`; `SHADOWS_ERR_VALIDATION` otherwise. */
function count(text: string, field: string, min: number, max: number): number {
  const value = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN
  if (!(value >= min && value <= max)) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `${field} must be an integer from ${min} to ${max}`, { field })
  return value
}

/**
 * `shadow.get(key, { wait })`, ended early when the client goes away (its waiter is freed at once)
 * or the gateway closes (close() does not wait for the wait). The socket's idle limit is raised to
 * outlast the wait.
 */
async function waitForRecord(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, key: string, wait: number): Promise<TaskInfo | undefined> {
  const ended = new AbortController()
  const end = () => ended.abort()
  const gone = () => {
    if (!reply.raw.writableEnded) end()
  }
  allowIdle(request, wait + 5000)
  reply.raw.once('close', gone)
  app.shutdownSignal.addEventListener('abort', end, { once: true })
  if (app.shutdownSignal.aborted) end()
  try {
    return await app.shadow.get(key, { wait, signal: ended.signal })
  } finally {
    reply.raw.off('close', gone)
    app.shutdownSignal.removeEventListener('abort', end)
  }
}

/** POST /tasks, POST /tasks/batch, GET, PUT and DELETE /tasks/{key}, GET /tasks, POST /tasks/{key}/retry, POST /tasks/retry. */
export const taskRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { shadow, metrics } = app

  const counted = (execution: Execution) => {
    ;(execution.duplicate ? metrics.duplicate : metrics.added).inc({ task: execution.task })
    return execution
  }
  const countStruck = (err: unknown, task: unknown) => {
    if (isShadowsError(err, 'SHADOWS_ERR_STRUCK') && typeof task === 'string') metrics.struck.inc({ task })
  }
  /** Runs one add (or replace) of `task`, counting it when a strike refuses it. */
  const countingStruck = async <T>(task: string, add: () => Promise<T>): Promise<T> => {
    try {
      return await add()
    } catch (err) {
      countStruck(err, task)
      throw err
    }
  }

  app.post(
    '/tasks',
    {
      config: { scope: 'enqueue' },
      schema: {
        operationId: 'addTask',
        summary: 'Add a task, now or at a due time',
        tags: ['tasks'],
        body: AddBody,
        response: { 202: Added, 200: Existing, ...errors(400, 401, 403, 409, 413, 415, 503) },
      },
    },
    async (request, reply) => {
      const { task, params = {} } = request.body
      const add = () => shadow.add(task, timing(request.body))(params as Record<string, unknown>)
      const execution = counted(await countingStruck(task, () => inRequestTrace(request, add)))
      if (execution.duplicate || execution.debounced) return reply.code(200).send(existingBody(execution))
      return accepted(reply, execution)
    },
  )

  app.post(
    '/tasks/batch',
    {
      config: { scope: 'enqueue' },
      schema: {
        operationId: 'addTasks',
        summary: 'Add up to 1000 tasks; each is judged as if posted alone',
        tags: ['tasks'],
        body: BatchBody,
        response: { 200: BatchResults, ...errors(400, 401, 403, 413, 415, 503) },
      },
    },
    async (request) => {
      const items = request.body.tasks
      const results: Static<typeof BatchResults>['results'] = new Array(items.length)
      const batch: BatchItem[] = []
      const positions: number[] = []
      items.forEach((item, index) => {
        if (!checkItem.Check(item)) {
          const first = checkItem.Errors(item).First()
          const where = first?.path ? `body/tasks/${index}${first.path}` : `body/tasks/${index}`
          results[index] = { status: 400, code: 'SHADOWS_ERR_VALIDATION', message: `${where} ${first?.message ?? 'is invalid'}` }
          return
        }
        batch.push({ task: item.task, params: item.params ?? {}, ...timing(item) })
        positions.push(index)
      })
      const outcomes = await inRequestTrace(request, () => shadow.addBatch(batch))
      outcomes.forEach((outcome, i) => {
        const index = positions[i] as number
        if (outcome.ok) {
          const execution = counted(outcome.execution)
          const { key, task, when, state, duplicate } = execution
          results[index] = {
            status: duplicate || execution.debounced ? 200 : 202,
            key,
            task,
            when: when.toISOString(),
            ...(state !== undefined ? { state } : {}),
            duplicate,
            ...(execution.debounced ? { debounced: true as const } : {}),
          }
        } else {
          const { statusCode: status, code, message } = outcome.error
          countStruck(outcome.error, batch[i]?.task)
          results[index] = { status, code, message }
        }
      })
      return { results }
    },
  )

  app.get(
    '/tasks/:key',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'getTask',
        summary: "A task's state, result, error and progress; with wait, as soon as it is finished",
        tags: ['tasks'],
        params: KeyParams,
        querystring: GetQuery,
        response: { 200: TaskRecord, ...errors(400, 401, 403, 404, 503) },
      },
    },
    async (request, reply) => {
      const { key } = request.params
      const wait = request.query.wait === undefined ? 0 : count(request.query.wait, 'wait', 0, MAX_GET_WAIT)
      const info = wait === 0 ? await shadow.get(key) : await waitForRecord(app, request, reply, key, wait)
      if (!info) throw new ShadowsError('SHADOWS_ERR_NOT_FOUND', `no task with key ${key} (unknown, or its record expired)`)
      return recordBody(info)
    },
  )

  app.get(
    '/tasks',
    {
      config: { scope: 'read' },
      schema: {
        operationId: 'listTasks',
        summary: 'List the tasks in one state, a page at a time',
        tags: ['tasks'],
        querystring: ListQuery,
        response: { 200: TaskPage, ...errors(400, 401, 403, 503) },
      },
    },
    async (request) => {
      const { state, task, limit, cursor } = request.query
      const page = await shadow.list({
        state,
        ...(task !== undefined ? { task } : {}),
        // digits, by the schema; the library checks the range, and says so
        ...(limit !== undefined ? { limit: Number(limit) } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      })
      return { tasks: page.tasks.map(recordBody), ...(page.next !== undefined ? { next: page.next } : {}) }
    },
  )

  app.post(
    '/tasks/:key/retry',
    {
      config: { scope: 'enqueue' },
      schema: {
        operationId: 'retryTask',
        summary: 'Run a finished task again: same key, same params, attempts counted afresh',
        tags: ['tasks'],
        params: KeyParams,
        response: { 202: Retried, ...errors(400, 401, 403, 404, 409, 413, 415, 503) },
      },
    },
    async (request, reply) => accepted(reply, await shadow.retry(request.params.key)),
  )

  app.post(
    '/tasks/retry',
    {
      config: { scope: 'ops' },
      schema: {
        operationId: 'retryTasks',
        summary: 'Run again every failed, cancelled or struck task that matches a filter',
        tags: ['tasks'],
        body: RetryAllBody,
        response: { 200: RetryCounts, ...errors(400, 401, 403, 413, 415, 503) },
      },
    },
    async (request) => {
      const { state, task, finishedAfter, limit } = request.body
      return shadow.retryAll({
        state,
        ...(task !== undefined ? { task } : {}),
        ...(finishedAfter !== undefined ? { finishedAfter } : {}),
        ...(limit !== undefined ? { limit } : {}),
      })
    },
  )

  app.put(
    '/tasks/:key',
    {
      config: { scope: 'enqueue' },
      schema: {
        operationId: 'replaceTask',
        summary: 'Replace a task atomically, or create it',
        tags: ['tasks'],
        params: KeyParams,
        body: ReplaceBody,
        response: { 200: Replaced, ...errors(400, 401, 403, 409, 413, 415, 503) },
      },
    },
    async (request) => {
      const { key } = request.params
      assertValidKey(key)
      const { task, params = {} } = request.body
      const replace = () => shadow.replace(task, { ...timing(request.body), key })(params as Record<string, unknown>)
      const replacement = await countingStruck(task, () => inRequestTrace(request, replace))
      metrics.added.inc({ task })
      return { ...replacement, when: replacement.when.toISOString() }
    },
  )

  app.delete(
    '/tasks/:key',
    {
      config: { scope: 'enqueue' },
      schema: {
        operationId: 'cancelTask',
        summary: 'Cancel a task (a running one has its signal aborted)',
        tags: ['tasks'],
        params: KeyParams,
        response: { 200: Cancelled, ...errors(400, 401, 403, 404, 409, 413, 415, 503) },
      },
    },
    async (request) => {
      const cancellation = await inRequestTrace(request, () => shadow.cancel(request.params.key))
      if (cancellation.previous !== 'cancelled') metrics.cancelled.inc({ task: cancellation.task })
      return { key: cancellation.key, state: cancellation.state }
    },
  )
}
