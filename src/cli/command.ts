/**
 * The shape of a CLI subcommand.
 */
import type { Logger } from 'pino'
import type { Flag, ParsedFlags } from './flags.js'

/** What a subcommand gets. */
export interface CommandContext {
  readonly flags: ParsedFlags
  readonly logger: Logger
  /** Where results go (the terminal). */
  readonly out: (text: string) => void
}

/** A subcommand: its flags, help, and what it does; resolves to the exit code. */
export interface Command {
  readonly name: string
  readonly usage: string
  readonly summary: string
  readonly flags: readonly Flag[]
  /** Whether the command takes positional arguments (the others refuse any). */
  readonly positionals?: boolean
  /** Long-running commands (serve, worker, dev) log to stdout; the others log errors (or LOG_LEVEL) to stderr. */
  readonly longRunning?: boolean
  run(context: CommandContext): Promise<number>
}
