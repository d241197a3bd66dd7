/**
 * Flag parsing for the CLI: a flag that configures a process or its connection can also come from
 * an environment variable (flags that describe one call, like `add --key`, cannot: a variable left
 * set would apply to every later call); a bad flag is a one-line error and exit code 2.
 */
import { parseArgs } from 'node:util'

/** A command-line flag. */
export interface Flag {
  readonly name: string
  readonly type: 'string' | 'boolean'
  /** Environment variable read when the flag is absent. */
  readonly env?: string
  readonly description: string
  readonly default?: string
}

/** A command line the user got wrong: print the message, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** Flags every command takes. */
export const COMMON_FLAGS: readonly Flag[] = [
  {
    name: 'url',
    type: 'string',
    env: 'SHADOWS_URL',
    description: 'Redis URL (redis+cluster://h:p,h:p for a cluster, redis+sentinel://h:p,h:p/master for Sentinel)',
    default: 'redis://127.0.0.1:6379/0',
  },
  { name: 'name', type: 'string', env: 'SHADOWS_NAME', description: 'shadow (queue) name', default: 'shadows' },
  { name: 'log-level', type: 'string', env: 'LOG_LEVEL', description: 'fatal, error, warn, info, debug, trace or silent', default: 'info' },
  { name: 'help', type: 'boolean', description: 'show this help' },
]

/** Parsed flags: values from the command line, else the environment, else the default. */
export interface ParsedFlags {
  readonly values: Readonly<Record<string, string | boolean | undefined>>
  readonly positionals: readonly string[]
  /** How each given flag's value was given, for error messages: `--port` or `PORT`; absent = default. */
  readonly sources: Readonly<Record<string, string>>
}

/** node:util parseArgs errors span several lines; the CLI prints one. */
function parseArgsMessage(message: string): string {
  const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message)
  if (ambiguous) return `${ambiguous[1]} needs a value; for one that starts with a dash write ${ambiguous[1]}=-…`
  return (message.split('\n')[0] ?? 'invalid arguments').replace(/\. To specify .*$/, '')
}

/** Parses `argv` against `flags` (plus the common ones); throws {@link UsageError}. */
export function parseFlags(argv: readonly string[], flags: readonly Flag[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const all = [...flags, ...COMMON_FLAGS]
  const options = Object.fromEntries(all.map((f) => [f.name, { type: f.type }]))
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true })
  } catch (err) {
    throw new UsageError(parseArgsMessage((err as Error).message))
  }
  const values: Record<string, string | boolean | undefined> = {}
  const sources: Record<string, string> = {}
  for (const flag of all) {
    const given = parsed.values[flag.name]
    const fromEnv = flag.env !== undefined ? env[flag.env] : undefined
    if (given !== undefined) {
      values[flag.name] = given as string | boolean
      sources[flag.name] = `--${flag.name}`
    } else if (fromEnv !== undefined && fromEnv !== '') {
      values[flag.name] = flag.type === 'boolean' ? /^(1|true|yes)$/i.test(fromEnv) : fromEnv
      sources[flag.name] = flag.env as string
    } else values[flag.name] = flag.default
  }
  return { values, positionals: parsed.positionals, sources }
}

/** A string flag's value. */
export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const value = flags.values[name]
  return typeof value === 'string' ? value : undefined
}

/** How a flag was given (`--port`, or `PORT` when it came from the environment), for messages. */
export function flagSource(flags: ParsedFlags, name: string): string {
  return flags.sources[name] ?? `--${name}`
}

/** An integer flag's value (milliseconds, counts, ports); throws {@link UsageError} on a bad one. */
export function intFlag(flags: ParsedFlags, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const text = stringFlag(flags, name)
  if (text === undefined) return undefined
  const value = Number(text)
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flagSource(flags, name)} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`)
  }
  return value
}

/** Help text for a command. */
export function helpText(usage: string, summary: string, flags: readonly Flag[]): string {
  const rows = [...flags, ...COMMON_FLAGS].map((f) => {
    const left = `  --${f.name}${f.type === 'string' ? ' VALUE' : ''}`
    const right = [f.description, f.env ? `[env ${f.env}]` : '', f.default !== undefined ? `(default ${f.default})` : ''].filter(Boolean).join(' ')
    return `${left.padEnd(30)} ${right}`
  })
  return `usage: ${usage}\n\n${summary}\n\nflags:\n${rows.join('\n')}\n`
}
