/**
 * `shadows tasks --state S`: one page of the tasks in one state, as a table or JSON, and
 * `shadows retry`: one finished task, or every one of a state, run again.
 */
import type { TaskInfo } from '../core/records.js'
import type { Command } from './command.js'
import { intFlag, stringFlag, UsageError } from './flags.js'
import { CONNECT_TIMEOUT_FLAG, errorText, progressText, table, withShadow } from './session.js'
import { RETENTION_FLAGS } from './retention.js'

/** What a row says of a task: its error when it has one, its progress while it runs, else its result. */
function outcomeCell(info: TaskInfo): string {
  if (info.error) return errorText(info.error)
  if (info.progress) return progressText(info.progress)
  return info.result === undefined ? '' : JSON.stringify(info.result)
}

/** One line of a table cell: newlines flattened, long text cut with an ellipsis. */
function cell(text: string, width = 60): string {
  const flat = text.replace(/\s+/g, ' ')
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat
}

/** The time a row shows for a task: when it finished, started or is due, as the state makes it matter. */
function timeCell(info: TaskInfo): string {
  return (info.finishedAt ?? info.startedAt ?? info.when).toISOString()
}

export const tasks: Command = {
  name: 'tasks',
  usage: 'shadows tasks --state STATE [--task T] [--limit N] [--cursor C] [--json] [--connect-timeout MS]',
  summary: 'Lists the tasks in one state (failed ones newest first, with their errors).',
  flags: [
    { name: 'state', type: 'string', description: 'scheduled, queued, running, completed, failed, cancelled or struck' },
    { name: 'task', type: 'string', description: 'only tasks of this name' },
    { name: 'limit', type: 'string', description: 'most tasks on the page, 1-1000', default: '100' },
    { name: 'cursor', type: 'string', description: 'the cursor a previous page printed, for the page after it' },
    { name: 'json', type: 'boolean', description: 'print the page as JSON ({ tasks, next? })' },
    CONNECT_TIMEOUT_FLAG,
  ],
  async run(context) {
    const { flags, out } = context
    const state = stringFlag(flags, 'state')
    if (state === undefined) throw new UsageError('tasks needs --state (scheduled, queued, running, completed, failed, cancelled or struck)')
    const task = stringFlag(flags, 'task')
    const cursor = stringFlag(flags, 'cursor')
    const limit = intFlag(flags, 'limit', 1, 1000) as number
    // the state is checked by list(), with the same message as GET /tasks gives
    const page = await withShadow(context, (shadow) =>
      shadow.list({ state: state as never, limit, ...(task !== undefined ? { task } : {}), ...(cursor !== undefined ? { cursor } : {}) }),
    )
    if (flags.values.json) {
      out(JSON.stringify(page))
      return 0
    }
    if (page.tasks.length === 0) out(`no ${state} tasks${task !== undefined ? ` of ${task}` : ''}`)
    else {
      const rows = page.tasks.map((info) => [info.key, info.task, String(info.attempt), timeCell(info), cell(outcomeCell(info))])
      out(
        table([
          ['KEY', 'TASK', 'ATTEMPT', state === 'scheduled' || state === 'queued' ? 'WHEN' : state === 'running' ? 'STARTED' : 'FINISHED', 'OUTCOME'],
          ...rows,
        ]),
      )
    }
    if (page.next) out(`\nmore: shadows tasks --state ${state}${task !== undefined ? ` --task ${task}` : ''} --cursor ${page.next}`)
    return 0
  },
}

export const retry: Command = {
  name: 'retry',
  usage: 'shadows retry KEY | shadows retry --state failed|cancelled|struck [--task T] [--finished-after TIME] [--limit N] [--json]',
  summary: 'Runs a finished task again under its key, or every failed (cancelled, struck) one that matches.',
  positionals: true,
  flags: [
    { name: 'state', type: 'string', description: 'retry every task of this finished state: failed, cancelled or struck' },
    { name: 'task', type: 'string', description: 'with --state: only tasks of this name' },
    { name: 'finished-after', type: 'string', description: 'with --state: only tasks that finished at or after this time (RFC 3339)' },
    { name: 'limit', type: 'string', description: 'with --state: most tasks to retry, newest first, 1-10000' },
    { name: 'json', type: 'boolean', description: 'print JSON instead of a line' },
    CONNECT_TIMEOUT_FLAG,
    ...RETENTION_FLAGS,
  ],
  async run(context) {
    const { flags, out } = context
    const [key, ...extra] = flags.positionals
    const state = stringFlag(flags, 'state')
    if (extra.length > 0 || (key === undefined) === (state === undefined)) {
      throw new UsageError('retry takes one task KEY, or --state failed|cancelled|struck to retry many')
    }
    if (key !== undefined) {
      for (const flag of ['task', 'finished-after', 'limit']) {
        if (flags.values[flag] !== undefined) throw new UsageError(`--${flag} goes with --state, not with a KEY`)
      }
      const retried = await withShadow(context, (shadow) => shadow.retry(key))
      if (flags.values.json) out(JSON.stringify({ ...retried, when: retried.when.toISOString() }))
      else out(`${retried.key} (${retried.task}) queued again`)
      return 0
    }
    const task = stringFlag(flags, 'task')
    const finishedAfter = stringFlag(flags, 'finished-after')
    const limit = intFlag(flags, 'limit', 1, 10_000)
    const counts = await withShadow(context, (shadow) =>
      shadow.retryAll({
        state: state as never,
        ...(task !== undefined ? { task } : {}),
        ...(finishedAfter !== undefined ? { finishedAfter } : {}),
        ...(limit !== undefined ? { limit } : {}),
      }),
    )
    if (flags.values.json) out(JSON.stringify(counts))
    else out(`${counts.retried} retried, ${counts.skipped} skipped${counts.skipped > 0 ? ' (struck again, or the key was taken meanwhile)' : ''}`)
    return 0
  },
}
