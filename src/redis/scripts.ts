/**
 * Loads the Lua scripts (one atomic operation per file, each behind the helpers of lua/shared.lua)
 * and registers them as ioredis commands, which send EVALSHA and fall back to EVAL when Redis lost
 * its script cache (after a restart).
 */
import { readFileSync } from 'node:fs'
import type { ChainableCommander, Cluster, Redis } from 'ioredis'

/** A Redis connection shadows can use: a single node or a cluster. */
export type RedisClient = Redis | Cluster

const SCRIPT_NAMES = [
  'add',
  'move-due',
  'start',
  'finish',
  'cancel',
  'progress',
  'renew',
  'strike',
  'restore',
  'read-strikes',
  'retry',
  'list',
  'limits',
] as const

/** The name of one script file, without `.lua`. */
export type ScriptName = (typeof SCRIPT_NAMES)[number]

const luaFile = (name: string): string => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8')

/**
 * Loaded ahead of every script: the helpers more than one script needs (Redis runs each script
 * alone, so they cannot share functions otherwise).
 */
const SHARED = luaFile('shared')

/**
 * A script as Redis runs it: the shared helpers, then its own text as the body of a function, so
 * that the events it collected are written to the log once it returned, whichever way it returns.
 */
function source(name: ScriptName): string {
  return `${SHARED}local function body()\n${luaFile(name)}\nend\nlocal result = body()\nflushEvents()\nreturn result\n`
}

const SOURCES: Readonly<Record<ScriptName, string>> = Object.fromEntries(SCRIPT_NAMES.map((name) => [name, source(name)])) as Record<ScriptName, string>

/** The ioredis command name a script is registered under. */
export function commandName(name: ScriptName): string {
  return `shadows_${name.replace('-', '_')}`
}

type Invoker = (...args: (string | number)[]) => Promise<unknown>

/** Registers every script on `redis` (once per connection). */
export function defineScripts(redis: RedisClient): void {
  const target = redis as unknown as Record<string, unknown>
  for (const name of SCRIPT_NAMES) {
    if (typeof target[commandName(name)] !== 'function') {
      redis.defineCommand(commandName(name), { lua: SOURCES[name] })
    }
  }
}

/**
 * Runs one script: `keys` become KEYS, `args` ARGV. Works on a connection or inside a pipeline;
 * on a pipeline the result arrives with the pipeline's `exec()`.
 */
export function runScript(
  target: RedisClient | ChainableCommander,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const invoke = (target as unknown as Record<string, Invoker>)[commandName(name)]
  if (invoke === undefined) throw new Error(`script ${name} is not defined on this connection`)
  return invoke.call(target, keys.length, ...keys, ...args)
}
