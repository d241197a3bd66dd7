/**
 * The `shadows` command: dispatches to one subcommand per file (main.ts loads this module once it
 * listens for signals).
 */
import { pino } from 'pino'
import { isShadowsError } from '../core/errors.js'
import { redactingSerializers, redactUrl } from '../redis/redact.js'
import { cancel } from './cancel.js'
import { add, restore, snapshot, strike, workers } from './client.js'
import type { Command } from './command.js'
import { dev } from './dev.js'
import { earlySignal, stopListeningEarly } from './early-signals.js'
import { get } from './get.js'
import { flagSource, helpText, parseFlags, stringFlag, UsageError } from './flags.js'
import { FORCED_EXIT_CODE } from './signals.js'
import { serve } from './serve.js'
import { retry, tasks } from './tasks.js'
import { version } from './version.js'
import { watch } from './watch.js'
import { worker } from './worker.js'

const COMMANDS: readonly Command[] = [serve, worker, dev, add, get, cancel, tasks, retry, watch, snapshot, strike, restore, workers, version]

function usage(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  return `usage: shadows COMMAND [flags]\n\ncommands:\n${rows.join('\n')}\n\nRun "shadows COMMAND --help" for a command's flags.\n`
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    process.stderr.write(usage())
    return 2
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) {
    process.stderr.write(`shadows: unknown command ${JSON.stringify(name)} (try shadows --help)\n`)
    return 2
  }
  try {
    const flags = parseFlags(rest, command.flags)
    if (flags.values.help) {
      process.stdout.write(helpText(command.usage, command.summary, command.flags))
      return 0
    }
    if (!command.positionals && flags.positionals.length > 0) {
      throw new UsageError(`${command.name} takes no arguments, got ${JSON.stringify(flags.positionals[0])}`)
    }
    const level = stringFlag(flags, 'log-level') as string
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level))
      throw new UsageError(`${flagSource(flags, 'log-level')} must be fatal, error, warn, info, debug, trace or silent, got ${JSON.stringify(level)}`)
    // one-shot commands print their result on stdout and one error line on stderr; their logs go to
    // stderr, and only errors unless a level was asked for
    const explicitLevel = flags.sources['log-level'] !== undefined
    // what ioredis attaches to an error may hold the Redis password: every logged error is redacted
    const serializers = redactingSerializers()
    const logger = command.longRunning ? pino({ level, serializers }) : pino({ level: explicitLevel ? level : 'error', serializers }, pino.destination(2))
    // a long-running command takes the signals over when it installs its shutdown (which also
    // hears of one that came during start-up); a one-shot command ends on them as any process does
    if (!command.longRunning) {
      stopListeningEarly()
      if (earlySignal() !== undefined) return FORCED_EXIT_CODE
    }
    return await command.run({ flags, logger, out: (text) => process.stdout.write(`${text}\n`) })
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`shadows ${name}: ${redactUrl(err.message)}\n`)
      return 2
    }
    if (isShadowsError(err)) {
      process.stderr.write(`shadows ${name}: ${err.code}: ${redactUrl(err.message)}\n`)
      return err.code === 'SHADOWS_ERR_VALIDATION' ? 2 : 1
    }
    process.stderr.write(`shadows ${name}: ${firstLine(redactUrl((err as Error)?.message ?? String(err)))}\n`)
    return 1
  }
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? ''
}

/** Resolves once everything written to `stream` so far is handed to the OS (pipes are async on macOS). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve()
    else stream.write('', () => resolve())
  })
}

// Exit explicitly: a command is done when it returns (long-running ones return after their
// graceful shutdown), and a connection left half-open by a failed start must not keep the process
// alive. pino flushes its own buffer on exit.
async function exit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)])
  process.exit(code)
}

/** Runs the command line `argv` (after `node shadows`) and exits with its code. */
export function runCli(argv: readonly string[]): Promise<never> {
  return main(argv).then(exit, (err: unknown) => {
    process.stderr.write(`shadows: ${redactUrl((err as Error)?.stack ?? String(err))}\n`)
    return exit(1)
  })
}
