#!/usr/bin/env node
/**
 * The `shadows` command: dispatches to one subcommand per file.
 */
import { pino } from 'pino'
import { isShadowsError } from '../errors.js'
import { add, restore, snapshot, strike, workers } from './client.js'
import type { Command } from './command.js'
import { dev } from './dev.js'
import { helpText, parseFlags, stringFlag, UsageError } from './flags.js'
import { serve } from './serve.js'
import { worker } from './worker.js'

const COMMANDS: readonly Command[] = [serve, worker, dev, add, snapshot, strike, restore, workers]

function usage(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`)
  return `usage: shadows COMMAND [flags]\n\ncommands:\n${rows.join('\n')}\n\nRun "shadows COMMAND --help" for a command's flags.\n`
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name === undefined ? 2 : 0
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
    const level = stringFlag(flags, 'log-level') as string
    if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) throw new UsageError(`--log-level must be fatal, error, warn, info, debug, trace or silent`)
    const logger = command.longRunning ? pino({ level }) : pino({ level: level === 'info' ? 'warn' : level }, pino.destination(2))
    return await command.run({ flags, logger, out: (text) => process.stdout.write(`${text}\n`) })
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`shadows ${name}: ${err.message}\n`)
      return 2
    }
    if (isShadowsError(err)) {
      process.stderr.write(`shadows ${name}: ${err.code}: ${err.message}\n`)
      return err.code === 'SHADOWS_ERR_VALIDATION' ? 2 : 1
    }
    process.stderr.write(`shadows ${name}: ${(err as Error)?.message ?? String(err)}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`shadows: ${(err as Error)?.stack ?? String(err)}\n`)
    process.exitCode = 1
  },
)
