/**
 * `shadows cancel KEY`: a scheduled or queued task never runs; a running one has its signal
 * aborted.
 */
import type { Command } from './command.js'
import { UsageError } from './flags.js'
import { CONNECT_TIMEOUT_FLAG, withShadow } from './session.js'
import { RETENTION_FLAGS } from './retention.js'

export const cancel: Command = {
  name: 'cancel',
  usage: 'shadows cancel KEY [--json] [--connect-timeout MS]',
  summary: 'Cancels a task: scheduled and queued ones never run, a running one is aborted.',
  positionals: true,
  flags: [{ name: 'json', type: 'boolean', description: 'print JSON instead of a line' }, CONNECT_TIMEOUT_FLAG, ...RETENTION_FLAGS],
  async run(context) {
    const [key, ...extra] = context.flags.positionals
    if (!key || extra.length > 0) throw new UsageError('cancel takes exactly one task KEY')
    const cancellation = await withShadow(context, (shadow) => shadow.cancel(key))
    if (context.flags.values.json) context.out(JSON.stringify(cancellation))
    else if (cancellation.previous === 'cancelled') context.out(`${key} (${cancellation.task}) was already cancelled`)
    else context.out(`${key} (${cancellation.task}) cancelled; it was ${cancellation.previous}`)
    return 0
  },
}
