/**
 * What the one-shot commands share: a shadow opened for one call (waiting at most
 * --connect-timeout for Redis, its failures explained in one line), plain-text tables, and a
 * task's progress and error in a few words.
 */
import { Shadow, shadowContext } from '../client/shadow.js'
import type { TaskError, TaskProgress } from '../core/records.js'
import type { CommandContext } from './command.js'
import { intFlag, stringFlag, UsageError, type Flag } from './flags.js'
import { loadTasks } from './tasks-module.js'
import { explainRedisError, untilReady } from './unreachable.js'
import { retentionOptions } from './retention.js'

/**
 * How long a one-shot command waits for Redis to answer. Left to ioredis, a port that accepts and
 * never answers (or a TLS URL against a plain-text port) would hold the command for its connect
 * timeout twice over, some 20 s, before any message.
 */
export const CONNECT_TIMEOUT_FLAG: Flag = {
  name: 'connect-timeout',
  type: 'string',
  env: 'SHADOWS_CONNECT_TIMEOUT',
  description: 'ms to wait for Redis to answer before giving up',
  default: '3000',
}

/** Runs `use` with a shadow opened for this command, and closes it. */
export async function withShadow<T>(context: CommandContext, use: (shadow: Shadow) => Promise<T>, tasksPath?: string): Promise<T> {
  const tasks = tasksPath ? await loadTasks(tasksPath) : undefined
  const connectTimeout = intFlag(context.flags, 'connect-timeout', 1) as number
  const shadow = new Shadow({
    url: stringFlag(context.flags, 'url') as string,
    name: stringFlag(context.flags, 'name') as string,
    // commands that change tasks or strikes write history and events as the deployment says
    ...retentionOptions(context.flags),
    logger: context.logger,
    ...(tasks ? { tasks } : {}),
    connection: { maxRetriesPerRequest: 1, connectionName: 'shadows:cli' },
  })
  try {
    await untilReady(shadowContext(shadow).redis, connectTimeout)
    return await use(shadow)
  } catch (err) {
    throw explainRedisError(err, shadow)
  } finally {
    await shadow.close()
  }
}

/** `text` as JSON; a usage error naming `--flag` otherwise. */
export function parseJson(text: string, flag: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new UsageError(`--${flag} must be JSON, got ${JSON.stringify(text)}`)
  }
}

/** Rows as a plain-text table, columns padded to their widest cell. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** Progress as `current[/total][ message]`. */
export function progressText({ current, total, message }: TaskProgress): string {
  return `${current}${total !== undefined ? `/${total}` : ''}${message ? ` ${message}` : ''}`
}

/** An error as `Type: message`. */
export function errorText({ type, message }: TaskError): string {
  return `${type}: ${message}`
}
