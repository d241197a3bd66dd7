/**
 * `shadows get KEY`: one task's record — state, attempt, times, result or error, progress.
 */
import { ShadowsError } from '../core/errors.js'
import type { TaskInfo } from '../core/records.js'
import type { Command } from './command.js'
import { UsageError } from './flags.js'
import { CONNECT_TIMEOUT_FLAG, errorText, progressText, withShadow } from './session.js'

/** A record as aligned `field  value` lines, the fields a person looks for first. */
export function recordLines(info: TaskInfo): string {
  const rows: [string, string][] = [
    ['key', info.key],
    ['task', info.task],
    ['state', info.state],
    ['when', info.when.toISOString()],
    ['attempt', String(info.attempt)],
  ]
  if (info.worker !== undefined) rows.push(['worker', info.worker])
  if (info.startedAt) rows.push(['started', info.startedAt.toISOString()])
  if (info.finishedAt) rows.push(['finished', info.finishedAt.toISOString()])
  if (info.progress) rows.push(['progress', progressText(info.progress)])
  if (info.error) rows.push(['error', errorText(info.error)])
  if (info.result !== undefined) rows.push(['result', JSON.stringify(info.result)])
  rows.push(['params', JSON.stringify(info.params)])
  const width = Math.max(...rows.map(([field]) => field.length))
  return rows.map(([field, value]) => `${field.padEnd(width)}  ${value}`).join('\n')
}

export const get: Command = {
  name: 'get',
  usage: 'shadows get KEY [--json] [--connect-timeout MS]',
  summary: "Shows a task's record: state, attempt, times, result or error, progress.",
  positionals: true,
  flags: [{ name: 'json', type: 'boolean', description: 'print JSON instead of lines' }, CONNECT_TIMEOUT_FLAG],
  async run(context) {
    const [key, ...extra] = context.flags.positionals
    if (!key || extra.length > 0) throw new UsageError('get takes exactly one task KEY')
    const info = await withShadow(context, (shadow) => shadow.get(key))
    if (!info) throw new ShadowsError('SHADOWS_ERR_NOT_FOUND', `no task with key ${key} (unknown, or its record expired)`, { key })
    // a Date is written as RFC 3339: the JSON is the record as GET /tasks/{key} answers it
    context.out(context.flags.values.json ? JSON.stringify(info) : recordLines(info))
    return 0
  },
}
