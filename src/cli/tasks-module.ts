/**
 * Loads a tasks module: an ES module whose default export is an array of tasks.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { AnyTask } from '../core/task.js'
import { UsageError } from './flags.js'

function isTask(value: unknown): value is AnyTask {
  const t = value as AnyTask | undefined
  return typeof t === 'object' && t !== null && typeof t.name === 'string' && typeof t.run === 'function' && typeof t.validate === 'function'
}

/** Imports the module at `path` (relative to the working directory) and checks its default export. */
export async function loadTasks(path: string | undefined): Promise<AnyTask[]> {
  if (!path) throw new UsageError('--tasks is required (or SHADOWS_TASKS): a module whose default export is an array of tasks')
  const url = pathToFileURL(resolve(process.cwd(), path)).href
  let module: { default?: unknown }
  try {
    module = (await import(url)) as { default?: unknown }
  } catch (err) {
    throw new UsageError(`cannot load tasks module ${path}: ${(err as Error).message.split('\n')[0]}`)
  }
  const tasks = module.default
  if (!Array.isArray(tasks) || !tasks.every(isTask)) {
    throw new UsageError(`tasks module ${path} must have a default export that is an array of tasks made with defineTask`)
  }
  return tasks
}

/** The example tasks' module, shipped in the package. */
export const EXAMPLE_TASKS = new URL('../examples/tasks.js', import.meta.url)
