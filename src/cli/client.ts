/**
 * One-shot client commands: add, snapshot, strike, restore, workers.
 */
import { MAX_STRIKE_VALUE_BYTES, type StrikeInput, type StrikeOperator } from '../core/strikes.js'
import { MAX_ADD_WINDOW } from '../core/validation.js'
import type { Command } from './command.js'
import { intFlag, stringFlag, UsageError } from './flags.js'
import { CONNECT_TIMEOUT_FLAG, parseJson, table, withShadow } from './session.js'
import { RETENTION_FLAGS } from './retention.js'

export const add: Command = {
  name: 'add',
  usage: "shadows add TASK [--params '{…}'] [--when 2026-11-28T10:00:00Z | --delay MS] [--key KEY] [--debounce MS | --throttle MS] [--connect-timeout MS]",
  summary: 'Adds a task and prints it as JSON (with --tasks, params are validated first).',
  positionals: true,
  flags: [
    { name: 'params', type: 'string', description: 'params as a JSON object', default: '{}' },
    { name: 'when', type: 'string', description: 'due time, RFC 3339 with an offset' },
    { name: 'delay', type: 'string', description: 'due in this many ms' },
    { name: 'key', type: 'string', description: 'task key (default: a UUID)' },
    { name: 'debounce', type: 'string', description: 'run once, this many ms after the last add of --key, with its params (not with --when, --delay)' },
    { name: 'throttle', type: 'string', description: 'adds of --key within this many ms of this one are duplicates' },
    { name: 'tasks', type: 'string', env: 'SHADOWS_TASKS', description: 'tasks module to validate against' },
    CONNECT_TIMEOUT_FLAG,
    ...RETENTION_FLAGS,
  ],
  async run(context) {
    const { flags, out } = context
    const [task, ...extra] = flags.positionals
    if (!task || extra.length > 0) throw new UsageError('add takes exactly one TASK name')
    const params = parseJson(stringFlag(flags, 'params') as string, 'params')
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw new UsageError(`--params must be a JSON object of named parameters, got ${JSON.stringify(stringFlag(flags, 'params'))}`)
    }
    const when = stringFlag(flags, 'when')
    const delay = intFlag(flags, 'delay', 0)
    const key = stringFlag(flags, 'key')
    const debounce = intFlag(flags, 'debounce', 1, MAX_ADD_WINDOW)
    const throttle = intFlag(flags, 'throttle', 1, MAX_ADD_WINDOW)
    const options = {
      ...(when !== undefined ? { when } : {}),
      ...(delay !== undefined ? { delay } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(debounce !== undefined ? { debounce } : {}),
      ...(throttle !== undefined ? { throttle } : {}),
    }
    const execution = await withShadow(context, (shadow) => shadow.add(task, options)(params as Record<string, unknown>), stringFlag(flags, 'tasks'))
    out(JSON.stringify({ ...execution, when: execution.when.toISOString() }))
    return 0
  },
}

export const snapshot: Command = {
  name: 'snapshot',
  usage: 'shadows snapshot [--json] [--connect-timeout MS]',
  summary: 'Shows what is scheduled, queued and running.',
  flags: [{ name: 'json', type: 'boolean', description: 'print JSON instead of a table' }, CONNECT_TIMEOUT_FLAG],
  async run(context) {
    const s = await withShadow(context, (shadow) => shadow.snapshot())
    if (context.flags.values.json) {
      context.out(JSON.stringify(s, null, 2))
      return 0
    }
    const lines = [`${s.takenAt.toISOString()}  scheduled ${s.counts.scheduled}  queued ${s.counts.queued}  running ${s.counts.running}`, '']
    const tasks = Object.entries(s.byTask)
    if (tasks.length > 0) {
      lines.push(
        table([['TASK', 'SCHEDULED', 'QUEUED', 'RUNNING'], ...tasks.map(([t, c]) => [t, String(c.scheduled), String(c.queued), String(c.running)])]),
        '',
      )
    }
    if (s.running.length > 0) {
      lines.push(table([['RUNNING', 'TASK', 'WORKER', 'STARTED'], ...s.running.map((r) => [r.key, r.task, r.worker, r.startedAt?.toISOString() ?? ''])]), '')
    }
    if (s.scheduled.length > 0) lines.push(table([['SCHEDULED', 'TASK', 'WHEN'], ...s.scheduled.map((e) => [e.key, e.task, e.when.toISOString()])]), '')
    context.out(lines.join('\n').trimEnd())
    return 0
  },
}

export const strike: Command = {
  name: 'strike',
  usage: 'shadows strike [--task NAME] [--parameter NAME --operator OP --value JSON] [--connect-timeout MS]',
  summary: 'Strikes a task, a parameter value, or both: matching tasks are refused and skipped.',
  flags: [
    { name: 'task', type: 'string', description: 'task name' },
    { name: 'parameter', type: 'string', description: 'parameter name' },
    { name: 'operator', type: 'string', description: '== != > >= < <= between', default: '==' },
    {
      name: 'value',
      type: 'string',
      description: `JSON value ([lo, hi] for between), at most ${MAX_STRIKE_VALUE_BYTES} bytes as JSON; a bare word is a string`,
    },
    CONNECT_TIMEOUT_FLAG,
    ...RETENTION_FLAGS,
  ],
  async run(context) {
    const { flags } = context
    const task = stringFlag(flags, 'task')
    const parameter = stringFlag(flags, 'parameter')
    const text = stringFlag(flags, 'value')
    if (task === undefined && parameter === undefined) throw new UsageError('give at least one of --task and --parameter')
    if (parameter === undefined && (text !== undefined || flags.sources.operator !== undefined)) {
      throw new UsageError('--operator and --value need --parameter (they compare that parameter of each task)')
    }
    let value: unknown
    if (text !== undefined) {
      try {
        value = JSON.parse(text)
      } catch {
        value = text
      }
    }
    const input = {
      ...(task !== undefined ? { task } : {}),
      ...(parameter !== undefined ? { parameter, operator: stringFlag(flags, 'operator') as StrikeOperator } : {}),
      ...(value !== undefined ? { value } : {}),
    } as StrikeInput
    const result = await withShadow(context, (shadow) => shadow.strike(input))
    context.out(JSON.stringify({ ...result.strike, created: result.created }))
    return 0
  },
}

export const restore: Command = {
  name: 'restore',
  usage: 'shadows restore ID [--connect-timeout MS]',
  summary: 'Removes a strike rule by id (tasks skipped meanwhile stay skipped).',
  positionals: true,
  flags: [CONNECT_TIMEOUT_FLAG, ...RETENTION_FLAGS],
  async run(context) {
    const [id, ...extra] = context.flags.positionals
    if (!id || extra.length > 0) throw new UsageError('restore takes exactly one strike ID')
    const removed = await withShadow(context, (shadow) => shadow.restore(id))
    context.out(JSON.stringify(removed))
    return 0
  },
}

export const workers: Command = {
  name: 'workers',
  usage: 'shadows workers [--json] [--connect-timeout MS]',
  summary: 'Lists live workers from their heartbeats.',
  flags: [{ name: 'json', type: 'boolean', description: 'print JSON instead of a table' }, CONNECT_TIMEOUT_FLAG],
  async run(context) {
    const list = await withShadow(context, (shadow) => shadow.workers())
    if (context.flags.values.json) context.out(JSON.stringify(list, null, 2))
    else if (list.length === 0) context.out('no live workers')
    else {
      context.out(
        table([
          ['WORKER', 'RUNNING', 'CONCURRENCY', 'LAST SEEN', 'TASKS'],
          ...list.map((w) => [w.name, String(w.running), String(w.concurrency), w.lastSeen.toISOString(), w.tasks.join(',')]),
        ]),
      )
    }
    return 0
  },
}
