// The processes of a chaos run (and of the soak, scripts/soak/): its own redis-server (AOF,
// appendfsync always, restartable on the same port and directory), the gateway and the workers
// (the built `shadows` binary). Every process started here is tracked, so that `killAll()` can end
// them on any exit path.
import { spawn } from 'node:child_process'
import { mkdirSync, openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, pingRedis } from '../../dist/src/cli/private-redis.js'

/** How long a process has to boot before it is asked to stop (see `terminate`). */
const BOOT_MS = 3000

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'dist/src/cli/main.js')
export const TASKS_MODULE = join(ROOT, 'scripts/chaos/tasks.mjs')

/** Every child process started and not yet seen to exit. */
const live = new Set()

/** SIGKILLs everything still running (synchronous: usable in an 'exit' handler). */
export function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** The environment of a child: ours without NODE_OPTIONS (a test runner's loaders must not leak in). */
function childEnv(extra) {
  const env = { ...process.env, ...extra }
  delete env.NODE_OPTIONS
  return env
}

/** Spawns `command`, output appended to `logFile`; resolves `exited` with { code, signal, at }. */
function track(command, args, { logFile, env }) {
  const out = openSync(logFile, 'a')
  const child = spawn(command, args, { stdio: ['ignore', out, out], env: childEnv(env), cwd: ROOT })
  closeSync(out)
  live.add(child)
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve({ code, signal, at: Date.now() })
    })
    child.once('error', (err) => {
      live.delete(child)
      resolve({ code: null, signal: null, at: Date.now(), error: err.message })
    })
  })
  return { child, pid: child.pid, exited, startedAt: Date.now() }
}

/** Waits for `check()` to be true, polling every `every` ms; false after `ms`. */
export async function until(check, ms, every = 100) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > deadline) return false
    await sleep(every)
  }
}

/**
 * The chaos Redis: AOF with appendfsync always, so that every write it acknowledged survives a
 * kill -9; restarted on the same port and directory. `aof: false` for a Redis that keeps nothing.
 */
export class ChaosRedis {
  constructor(dir, { aof = true } = {}) {
    this.aof = aof
    this.dir = join(dir, 'redis')
    mkdirSync(this.dir, { recursive: true })
    this.logFile = join(this.dir, 'redis.log')
    this.proc = undefined
    this.port = 0
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`
  }

  get running() {
    return this.proc !== undefined
  }

  /** Starts redis-server (on a free port the first time) and waits until it answers PING (AOF loaded). */
  async start(timeoutMs = 30_000) {
    if (!this.port) this.port = await freePort()
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--appendonly',
      this.aof ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--save',
      '',
      '--logfile',
      this.logFile,
      '--loglevel',
      'warning',
    ]
    for (let tries = 1; ; tries++) {
      const proc = track('redis-server', args, { logFile: join(this.dir, 'redis.out'), env: {} })
      let gone
      proc.exited.then((e) => (gone = e))
      const up = await until(async () => gone !== undefined || (await pingRedis('127.0.0.1', this.port, 500)), timeoutMs, 50)
      if (up && gone === undefined) {
        this.proc = proc
        return Date.now()
      }
      proc.child.kill('SIGKILL')
      await proc.exited
      // the port may still be held by the previous server's socket for a moment
      if (tries >= 5) throw new Error(`redis-server did not start on port ${this.port} (see ${this.logFile})`)
      await sleep(200 * tries)
    }
  }

  /** Stops it: `hard` = SIGKILL, else SIGTERM (a clean SHUTDOWN). Resolves with how it exited. */
  async stop(hard) {
    const proc = this.proc
    if (!proc) return undefined
    this.proc = undefined
    proc.child.kill(hard ? 'SIGKILL' : 'SIGTERM')
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000)
    const exit = await proc.exited
    clearTimeout(timer)
    return exit
  }
}

/** A `shadows` process (gateway or worker) of the run. */
export class ShadowsProcess {
  /**
   * @param kind 'serve' or 'worker'
   * @param args flags after the subcommand
   * @param options.tasks the tasks module (default: the chaos run's)
   */
  constructor(kind, args, { logDir, env, tasks = TASKS_MODULE }) {
    mkdirSync(logDir, { recursive: true })
    this.kind = kind
    const proc = track(process.execPath, [CLI, kind, '--tasks', tasks, ...args], {
      logFile: join(logDir, `${kind}-${Date.now()}-${Math.random().toString(36).slice(2, 6)}.log`),
      env,
    })
    this.child = proc.child
    this.pid = proc.pid
    this.exited = proc.exited
    this.startedAt = proc.startedAt
    this.exit = undefined
    this.exited.then((e) => (this.exit = e))
    /** Why we ended it: 'killed' (chaos SIGKILL), 'stopped' (SIGTERM at the end). */
    this.endedBy = undefined
  }

  get alive() {
    return this.exit === undefined
  }

  kill() {
    this.endedBy = 'killed'
    this.child.kill('SIGKILL')
    return this.exited
  }

  /**
   * SIGTERM; SIGKILL after `ms`. Resolves with the exit. A process younger than BOOT_MS is given
   * that long first: Node dies of a signal that comes before it ran the program's first line, which
   * no program can handle (shadows listens for it from its first line on), and a busy host can take
   * a second or more to get there.
   */
  async terminate(ms) {
    const age = Date.now() - this.startedAt
    if (this.alive && age < BOOT_MS) await sleep(BOOT_MS - age)
    if (!this.alive) return this.exit
    this.endedBy = 'stopped'
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => {
      this.endedBy = 'stopped-then-killed'
      this.child.kill('SIGKILL')
    }, ms)
    const exit = await this.exited
    clearTimeout(timer)
    return exit
  }
}
