/**
 * Finds a Redis to talk to: the one at the URL when it answers, otherwise a private
 * `redis-server` started on a free loopback port (nothing persisted), stopped on `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** A Redis ready for use. */
export interface AvailableRedis {
  readonly url: string
  /** True when this process started the server. */
  readonly private: boolean
  stop(): Promise<void>
}

/** Whether something answers PING on host:port within `timeoutMs`. */
export function pingRedis(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => done(data.toString().startsWith('+PONG') || data.toString().startsWith('-NOAUTH')))
  })
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Starts `redis-server` on `port` (default: a free one) on 127.0.0.1; resolves once it answers. */
export async function startRedisServer(
  extraArgs: readonly string[] = [],
  requestedPort?: number,
): Promise<AvailableRedis & { port: number; process: ChildProcess; dir: string }> {
  const port = requestedPort ?? (await freePort())
  const dir = mkdtempSync(join(tmpdir(), 'shadows-redis-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs], {
    stdio: 'ignore',
  })
  let exited = false
  child.once('exit', () => {
    exited = true
  })
  const spawnError = new Promise<never>((_, reject) => child.once('error', (err) => reject(new Error(`cannot start redis-server: ${err.message}`))))
  let answered = false
  for (let i = 0; i < 100 && !answered; i++) {
    answered = await Promise.race([pingRedis('127.0.0.1', port), spawnError])
    if (answered) break
    if (exited) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`redis-server exited at start on port ${port}`)
    }
    await sleep(50)
  }
  if (!answered) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`redis-server did not answer on port ${port}`)
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    private: true,
    port,
    process: child,
    dir,
    async stop() {
      if (!exited) {
        const gone = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await Promise.race([gone, sleep(3000, undefined, { ref: false })])
        if (!exited) child.kill('SIGKILL')
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * The Redis at `url` if it answers, else a private one: on the URL's own port when the URL names
 * 127.0.0.1 or localhost (so other commands given the same URL reach it), otherwise, or when that
 * port is taken, on a free one. Only plain single-node URLs are probed; any other (TLS, a cluster's
 * or the sentinels' host lists, which are not WHATWG URLs) is used as it is.
 */
export async function ensureRedis(url: string): Promise<AvailableRedis> {
  const given = { url, private: false, stop: async () => undefined }
  if (!url.startsWith('redis://')) return given
  const parsed = new URL(url)
  const host = parsed.hostname || '127.0.0.1'
  const port = Number(parsed.port || 6379)
  if (await pingRedis(host, port)) return given
  if (host === '127.0.0.1' || host === 'localhost') {
    try {
      return await startRedisServer([], port)
    } catch {
      // the port is taken by something that is not Redis: fall back to a free one
    }
  }
  return startRedisServer()
}
