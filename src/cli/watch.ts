/**
 * `shadows watch`: the shadow's events as they happen, one line each (or one JSON object per line),
 * until Ctrl-C.
 */
import { EVENT_TYPES, isEventType, type EventType, type ShadowEvent } from '../core/events.js'
import { describeStrike } from '../core/strikes.js'
import type { Command } from './command.js'
import { stringFlag, UsageError } from './flags.js'
import { CONNECT_TIMEOUT_FLAG, errorText, progressText, withShadow } from './session.js'

/** The widest event type, for the type column. */
const TYPE_WIDTH = Math.max(...EVENT_TYPES.map((type) => type.length))

/** One event as a line: time, type, then what it concerns. */
export function eventLine(event: ShadowEvent): string {
  const head = `${event.at.toISOString()}  ${event.type.padEnd(TYPE_WIDTH)}`
  if ('strike' in event) {
    return `${head}  ${event.strike.id}  ${describeStrike(event.strike)}`
  }
  const parts = [`${head}  ${event.task}  ${event.key}`]
  if (event.attempt !== undefined) parts.push(`attempt ${event.attempt}`)
  if (event.type === 'added' || event.type === 'retrying' || ((event.type === 'completed' || event.type === 'failed') && event.state !== event.type)) {
    parts.push(`-> ${event.state}`)
  }
  if (event.progress) parts.push(progressText(event.progress))
  if (event.error) parts.push(errorText(event.error).replace(/\s+/g, ' '))
  return parts.join('  ')
}

/** `--type a,b` as a list of event types; a usage error names what is wrong. */
function parseTypes(text: string | undefined): EventType[] | undefined {
  if (text === undefined) return undefined
  const types = text.split(',').map((type) => type.trim())
  const bad = types.find((type) => !isEventType(type))
  if (bad !== undefined) throw new UsageError(`--type takes a comma-separated list of ${EVENT_TYPES.join(', ')}; got ${JSON.stringify(bad)}`)
  return types as EventType[]
}

export const watch: Command = {
  name: 'watch',
  usage: 'shadows watch [--task T] [--key K] [--type failed,retrying] [--since EVENT-ID] [--json]',
  summary: 'Prints the events (added, started, progress, completed, failed, …) as they happen, until Ctrl-C.',
  flags: [
    { name: 'task', type: 'string', description: 'only events of this task name (and strikes that may touch it)' },
    { name: 'key', type: 'string', description: 'only events of the task with this key' },
    { name: 'type', type: 'string', description: `only these event types, comma-separated: ${EVENT_TYPES.join(', ')}` },
    { name: 'since', type: 'string', description: 'start just after this event id (a --json line\'s "id"), not from now' },
    { name: 'json', type: 'boolean', description: 'print one JSON object per event' },
    CONNECT_TIMEOUT_FLAG,
  ],
  async run(context) {
    const { flags, out } = context
    const task = stringFlag(flags, 'task')
    const key = stringFlag(flags, 'key')
    const since = stringFlag(flags, 'since')
    const types = parseTypes(stringFlag(flags, 'type'))
    await withShadow(context, async (shadow) => {
      // Ctrl-C (or SIGTERM) closes the shadow, which ends the loop below; the command then exits 0
      const stop = () => void shadow.close()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      try {
        const events = shadow.events({
          ...(task !== undefined ? { task } : {}),
          ...(key !== undefined ? { key } : {}),
          ...(types !== undefined ? { types } : {}),
          ...(since !== undefined ? { since } : {}),
        })
        if (!flags.values.json) process.stderr.write(`watching ${shadow.name}${task !== undefined ? ` (task ${task})` : ''}; Ctrl-C to stop\n`)
        for await (const event of events) out(flags.values.json ? JSON.stringify(event) : eventLine(event))
      } finally {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
      }
    })
    return 0
  },
}
