/**
 * Helpers for testing the `shadows` command as a user runs it: the built dist/src/cli/main.js in a
 * child process, on the test Redis, under a shadow name of its own. Every child is killed and every
 * key of the shadow deleted on teardown.
 */
import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { storedKey } from '../../src/redis/keys.js'
import { adminRedis, leakedKeys, shadowKeysIn, TEST_URL, uniqueName, waitFor, type TestLike } from './shadow.js'

/** The built command. */
export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url))
/** The tasks module the CLI tests load (tasks `greet` and `hold`). */
export const TASKS_FIXTURE = fileURLToPath(new URL('../fixtures/cli/tasks.mjs', import.meta.url))
/** Other fixtures, each a wrong tasks module. */
export const fixture = (file: string): string => fileURLToPath(new URL(`../fixtures/cli/${file}`, import.meta.url))

/** Environment variables the CLI reads: cleared for children so the outer environment never leaks in. */
const CLI_ENV = [
  'SHADOWS_URL',
  'SHADOWS_NAME',
  'SHADOWS_TASKS',
  'SHADOWS_TOKENS',
  'SHADOWS_CONCURRENCY',
  'SHADOWS_REDELIVERY_TIMEOUT',
  'SHADOWS_GRACE_PERIOD',
  'SHADOWS_UNKNOWN_TASK_TIMEOUT',
  'SHADOWS_EXECUTION_TTL',
  'SHADOWS_BODY_LIMIT',
  'SHADOWS_MAX_CONNECTIONS',
  'SHADOWS_UNTIL_FINISHED',
  'SHADOWS_METRICS_PORT',
  'SHADOWS_METRICS_HOST',
  'SHADOWS_HEALTH_PORT',
  'SHADOWS_HEALTH_HOST',
  'SHADOWS_CONNECT_TIMEOUT',
  'PORT',
  'HOST',
  'LOG_LEVEL',
]

/** Extra environment for one child; `undefined` removes a variable. */
export type EnvOverrides = Readonly<Record<string, string | undefined>>

/** How a child ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A running `shadows …` process. */
export interface CliProcess {
  readonly child: ChildProcess
  readonly pid: number
  /** Everything written so far. */
  stdout(): string
  stderr(): string
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>
  /** Resolves once stdout contains `text` (or matches it); rejects if the process exits first. */
  waitForOutput(text: string | RegExp, timeoutMs?: number): Promise<void>
  /** Sends a signal (if still running). */
  signal(signal: NodeJS.Signals): void
}

/** The result of a command run to completion. */
export interface CliResult extends Exit {
  readonly stdout: string
  readonly stderr: string
}

/** The tap test, as far as these helpers need it. */
export interface CliTest extends TestLike {
  comment(...args: unknown[]): void
}

/** Spawning and running `shadows` for one test, on one shadow name. */
export interface CliSession {
  /** The shadow name (SHADOWS_NAME of every child). */
  readonly name: string
  /** The environment children get (before overrides). */
  readonly env: NodeJS.ProcessEnv
  /** A scratch directory, removed on teardown. */
  readonly dir: string
  /** Starts `shadows ...args`; killed on teardown if still running. */
  spawn(args: readonly string[], env?: EnvOverrides): CliProcess
  /** Runs `shadows ...args` to completion. */
  run(args: readonly string[], env?: EnvOverrides): Promise<CliResult>
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null
}

/**
 * A CLI session for the test `t`: children get SHADOWS_URL = the test Redis and SHADOWS_NAME = a
 * fresh name. On teardown every child still running is killed (SIGKILL) and awaited, finished task
 * records are checked for a TTL, and the shadow's keys are deleted.
 */
export function cliSession(t: CliTest, prefix = 'cli'): CliSession {
  const name = uniqueName(prefix)
  const dir = mkdtempSync(join(tmpdir(), 'shadows-cli-test-'))
  const children: CliProcess[] = []
  const env: NodeJS.ProcessEnv = { ...process.env, SHADOWS_URL: TEST_URL, SHADOWS_NAME: name }
  for (const variable of CLI_ENV) if (variable !== 'SHADOWS_URL' && variable !== 'SHADOWS_NAME') delete env[variable]

  t.teardown(async () => {
    await Promise.all(
      children.map(async (p) => {
        if (isRunning(p.child)) {
          t.comment(`killing ${p.child.spawnargs.slice(2).join(' ')} (pid ${p.pid}); its output:\n${p.stdout()}\n${p.stderr()}`)
          p.child.kill('SIGKILL')
        }
        await p.exited
      }),
    )
    const leaked = await leakedKeys(name)
    if (leaked.length > 0) t.fail(`finished task records left without a TTL: ${leaked.join(', ')}`)
    const keys = await shadowKeysIn(name)
    if (keys.length > 0) await adminRedis().del(...keys)
    rmSync(dir, { recursive: true, force: true })
  })

  const spawnCli = (args: readonly string[], overrides: EnvOverrides = {}): CliProcess => {
    const childEnv = { ...env }
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete childEnv[key]
      else childEnv[key] = value
    }
    const child = spawn(process.execPath, [CLI, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
    // 'close' rather than 'exit': by then every byte of stdout and stderr has been read
    const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })))
    let done = false
    void exited.then(() => (done = true))
    const p: CliProcess = {
      child,
      pid: child.pid ?? -1,
      stdout: () => out,
      stderr: () => err,
      exited,
      async waitForOutput(text, timeoutMs = 15_000) {
        const seen = () => (typeof text === 'string' ? out.includes(text) : text.test(out))
        await waitFor(
          () => {
            if (seen()) return true
            if (done) throw new Error(`shadows ${args.join(' ')} exited before printing ${String(text)}; stdout:\n${out}\nstderr:\n${err}`)
            return false
          },
          timeoutMs,
          `${String(text)} from shadows ${args.join(' ')}`,
        )
      },
      signal(signal) {
        if (isRunning(child)) child.kill(signal)
      },
    }
    children.push(p)
    return p
  }

  return {
    name,
    env,
    dir,
    spawn: spawnCli,
    async run(args, overrides) {
      const p = spawnCli(args, overrides)
      const exit = await p.exited
      return { ...exit, stdout: p.stdout(), stderr: p.stderr() }
    },
  }
}

/** The lines of `text`, without the empty last one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1)
}

/** pino JSON log lines in `text` (other lines are skipped). */
export function logLines(text: string): Record<string, unknown>[] {
  const found: Record<string, unknown>[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      found.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      // not a log line
    }
  }
  return found
}

/** JSON from `fetch`, with the status. */
export async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init)
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

/** POSTs JSON to `url`. */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  return fetchJson(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
}

/** Waits until GET {base}/tasks/{key} reports `state`; returns the task. */
export async function waitForTaskState(base: string, key: string, state: string, headers: Record<string, string> = {}): Promise<Record<string, unknown>> {
  let task: Record<string, unknown> = {}
  await waitFor(
    async () => {
      const { status, body } = await fetchJson(`${base}/tasks/${key}`, { headers })
      task = body
      return status === 200 && body.state === state
    },
    15_000,
    `task ${key} to be ${state}`,
  )
  return task
}

/** A task record's fields straight from Redis (empty when there is none). */
export function taskRecord(name: string, key: string): Promise<Record<string, string>> {
  return adminRedis().hgetall(`{${name}}:task:${storedKey(key)}`)
}

/** Runs a command that must succeed; returns its stdout. */
export async function runOk(t: Test, cli: CliSession, args: readonly string[], env?: Record<string, string | undefined>): Promise<string> {
  const result = await cli.run(args, env)
  t.equal(result.code, 0, `shadows ${args.join(' ')} exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`)
  return result.stdout
}

/** Runs a command that must fail with `code`; returns its stderr. */
export async function runFails(t: Test, cli: CliSession, args: readonly string[], code: number, env?: Record<string, string | undefined>): Promise<string> {
  const result = await cli.run(args, env)
  t.equal(result.code, code, `shadows ${args.join(' ')} exits ${code}`)
  t.equal(result.stdout, '', 'and prints nothing on stdout')
  t.equal(lines(result.stderr).length, 1, `and one line on stderr: ${result.stderr.trim()}`)
  return result.stderr
}
