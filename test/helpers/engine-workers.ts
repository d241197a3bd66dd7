/**
 * Helpers for the worker tests: a logger whose lines can be read back, and a worker running in a
 * child process (test/fixtures/child-worker) that a test can SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { pino, type Level, type Logger } from 'pino'
import type { TestLike } from './shadow.js'

/** One parsed pino line. */
export interface LogEntry {
  level: number
  msg?: string
  [field: string]: unknown
}

/** A pino logger writing into memory. */
export interface CapturedLogs {
  readonly logger: Logger
  /** Raw JSON lines, in order. */
  readonly lines: string[]
  /** The lines parsed. */
  entries(): LogEntry[]
}

/** A logger at `level` whose output is kept in memory. */
export function captureLogs(level: Level = 'info'): CapturedLogs {
  const lines: string[] = []
  const stream = {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') lines.push(line)
    },
  }
  return {
    logger: pino({ level }, stream),
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as LogEntry),
  }
}

/** pino level numbers. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const

const FIXTURE = fileURLToPath(new URL('../fixtures/child-worker', import.meta.url))
const DIST = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url))

/** A worker running in a child process. */
export interface ChildWorker {
  readonly name: string
  readonly process: ChildProcess
  /** stdout lines so far. */
  readonly lines: string[]
  /** Resolves with the first stdout line matching `pattern` (rejects if the child exits first or after `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>
  readonly exited: boolean
}

export interface ChildWorkerOptions {
  readonly url: string
  readonly shadow: string
  readonly name: string
  readonly redeliveryTimeout?: number
  readonly heartbeatInterval?: number
}

/** Starts test/fixtures/child-worker; killed (SIGKILL) on teardown if still alive. */
export async function spawnChildWorker(t: TestLike, options: ChildWorkerOptions): Promise<ChildWorker> {
  // the test command builds before running tests; tolerate a build in progress (it empties dist/ first)
  for (let i = 0; i < 300 && !existsSync(DIST); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run node scripts/build.mjs first`)
  // tap patches spawn() to add its coverage loader to NODE_OPTIONS, and that loader hands the
  // extensionless fixture to CommonJS; `env -u` drops it, then execs node (same pid)
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, FIXTURE], {
    env: {
      ...process.env,
      SHADOWS_URL: options.url,
      SHADOW_NAME: options.shadow,
      WORKER_NAME: options.name,
      REDELIVERY_TIMEOUT: String(options.redeliveryTimeout ?? 300_000),
      HEARTBEAT_INTERVAL: String(options.heartbeatInterval ?? 2_000),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const lines: string[] = []
  const stderr: string[] = []
  const listeners = new Set<() => void>()
  let exited = false
  const gone = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true
      for (const listener of listeners) listener()
      resolve()
    })
  })
  let buffer = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk
    const parts = buffer.split('\n')
    buffer = parts.pop() ?? ''
    lines.push(...parts)
    for (const listener of listeners) listener()
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => stderr.push(chunk))

  const kill = async () => {
    if (!exited) child.kill('SIGKILL')
    await gone
  }
  t.teardown(kill)

  return {
    name: options.name,
    process: child,
    lines,
    get exited() {
      return exited
    },
    kill,
    waitForLine(pattern: RegExp, timeoutMs = 10_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const found = lines.find((line) => pattern.test(line))
          if (found !== undefined) finish(() => resolve(found))
          else if (exited) finish(() => reject(new Error(`child worker exited before printing ${pattern}; stderr: ${stderr.join('')}`)))
        }
        const timer = setTimeout(
          () => finish(() => reject(new Error(`child worker did not print ${pattern} in ${timeoutMs} ms; stderr: ${stderr.join('')}`))),
          timeoutMs,
        )
        const finish = (settle: () => void) => {
          clearTimeout(timer)
          listeners.delete(check)
          settle()
        }
        listeners.add(check)
        check()
      })
    },
  }
}

/** Counts how many run at once: call `enter()` when a task starts and `leave()` when it ends. */
export class InFlight {
  current = 0
  max = 0
  enter(): void {
    this.current += 1
    this.max = Math.max(this.max, this.current)
  }
  leave(): void {
    this.current -= 1
  }
}

/** A promise with its resolve function outside, to hold a task until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}
