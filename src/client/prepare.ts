/**
 * An add made ready to store: validated against the task's schema and the rules for names, keys
 * and due times, and what its result looks like to the caller.
 */
import { ShadowsError, isShadowsError } from '../core/errors.js'
import { describeStrike, type Strike } from '../core/strikes.js'
import type { AnyTask } from '../core/task.js'
import { assertParamsObject, assertValidKey, assertValidTaskName, paramsJson, resolveAddControl, resolveDue } from '../core/validation.js'
import type { AddResult } from '../redis/commands.js'
import { newTaskKey, storedKey } from '../redis/keys.js'
import type { Prepared } from './adds.js'
import type { AddOptions, Execution } from './types.js'

/**
 * Validates one add against `registry` (when the client has one: other names are unknown) and
 * makes it ready to store: its key in both forms, its params as JSON, its due time (now +
 * `debounce` for a debounced add), its throttle window; `trace`, the add span's context to store
 * with it ("" for none).
 */
export function prepareAdd(
  registry: ReadonlyMap<string, AnyTask> | undefined,
  task: string | AnyTask,
  params: unknown,
  options: AddOptions,
  mode: 'add' | 'replace',
  trace = '',
): Prepared {
  const definition = typeof task === 'string' ? registry?.get(task) : task
  const name = typeof task === 'string' ? task : task?.name
  if (typeof name !== 'string' || name.length === 0) throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'task must be a task or a task name', { field: 'task' })
  if (definition === undefined && registry !== undefined) {
    throw new ShadowsError('SHADOWS_ERR_UNKNOWN_TASK', `unknown task ${JSON.stringify(name)}`, { task: name })
  }
  // a name found in the registry was checked by defineTask; any other is checked here
  if (registry === undefined || typeof task !== 'string') assertValidTaskName(name)
  assertParamsObject(name, params)
  try {
    definition?.validate(params)
  } catch (err) {
    if (isShadowsError(err)) throw err
    // e.g. a stack overflow on absurdly deep params
    throw new ShadowsError('SHADOWS_ERR_INVALID_PARAMS', `invalid params for task ${name}: ${(err as Error).message}`, { task: name, field: 'params' })
  }
  let key: string
  let stored: string
  if (options.key === undefined) {
    ;[key, stored] = newTaskKey()
  } else {
    key = options.key
    assertValidKey(key)
    stored = storedKey(key)
  }
  const control = resolveAddControl(options)
  const now = Date.now()
  const debounce = control?.kind === 'debounce'
  const due = debounce ? now + control.ms : resolveDue(options, now)
  const throttle = control?.kind === 'throttle' ? control.ms : 0
  return { key, stored, fresh: options.key === undefined, task: name, params, json: paramsJson(name, params), due, debounce, throttle, mode, trace }
}

/** What `add` answers for a stored (or duplicate) task. */
export function toExecution(prepared: Prepared, result: AddResult): Execution {
  if (!result.duplicate) {
    const { key, task, due } = prepared
    const when = new Date(due)
    return result.debounced
      ? { key, task, when, state: result.state, duplicate: false, debounced: true }
      : { key, task, when, state: result.state, duplicate: false }
  }
  // a throttle window can outlive the task's record: then its state and params are unknown
  const { state, params } = result
  return {
    key: prepared.key,
    task: result.task,
    when: new Date(result.when),
    ...(state !== undefined ? { state } : {}),
    duplicate: true,
    ...(params !== undefined ? { params } : {}),
  }
}

/** The error of an add refused by a strike; nothing was stored. */
export function struckError(prepared: Prepared, strike: Strike): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_STRUCK', `task ${prepared.task} is struck (${describeStrike(strike)}); nothing was stored`, {
    task: prepared.task,
    strike: strike.id,
  })
}
