/**
 * A private Redis Sentinel deployment on loopback, for the failover tests: a master and one replica
 * (`redis-server`, nothing persisted) and three sentinels (`redis-server sentinel.conf --sentinel`,
 * each with a conf file of its own in its own temp dir, since a sentinel rewrites its conf), all on
 * free ports, watching the master `m` with a quorum of 2. `stop()` kills every process (SIGKILL)
 * and removes the directories.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { freePort, pingRedis, startRedisServer } from '../../src/cli/private-redis.js'

/** The name the sentinels monitor the master under. */
export const MASTER_NAME = 'm'

/** Options of {@link startSentinels}. */
export interface SentinelOptions {
  /** `requirepass` and `masterauth` of the master and the replica (none by default). */
  readonly password?: string
  /** `requirepass` of the sentinels, which they also use with each other (none by default). */
  readonly sentinelPassword?: string
  /**
   * `min-replicas-to-write` of both data nodes (off by default), with `min-replicas-max-lag 10`: a
   * master refuses writes while fewer replicas are connected and in step.
   */
  readonly minReplicasToWrite?: number
}

/** A running deployment. */
export interface TestSentinels {
  /** `redis+sentinel://[:password@]127.0.0.1:s1,127.0.0.1:s2,127.0.0.1:s3/m[?sentinelPassword=…]`. */
  readonly url: string
  /** The ports of the master and the replica, in the order they started. */
  readonly dataPorts: readonly number[]
  /** The port the sentinels name as the master (asks the first sentinel that answers). */
  master(): Promise<number>
  /** Waits until every sentinel names a master other than `port`, and that node says it is one; returns its port. */
  newMaster(port: number, timeoutMs?: number): Promise<number>
  /** `SENTINEL FAILOVER m` to one sentinel (it needs no agreement); returns the old master's port. */
  failover(): Promise<number>
  /** Kills the master with SIGKILL; returns its port. */
  killMaster(): Promise<number>
  /** A plain connection to the data node on `port`, closed by `stop()`. */
  node(port: number): Redis
  /** Kills every process and removes their directories. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts the master, the replica and three sentinels; resolves once the replica is in step and
 * every sentinel knows the replica and the two other sentinels, so that a failover can happen.
 */
export async function startSentinels(options: SentinelOptions = {}): Promise<TestSentinels> {
  const { password, sentinelPassword, minReplicasToWrite } = options
  const dataServers: Awaited<ReturnType<typeof startRedisServer>>[] = []
  const sentinels: { port: number; process: ChildProcess; dir: string }[] = []
  const connections = new Map<number, Redis>()
  const processes = () => [...dataServers.map((s) => s.process), ...sentinels.map((s) => s.process)]
  // if the test process ends without its teardown (an uncaught error), leave no server behind
  const killOnExit = () => processes().forEach((child) => child.kill('SIGKILL'))
  process.once('exit', killOnExit)
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit)
      for (const connection of connections.values()) connection.disconnect()
      await Promise.all(
        processes().map((child) => {
          if (child.exitCode !== null || child.signalCode !== null) return undefined
          const gone = new Promise((resolve) => child.once('exit', resolve))
          child.kill('SIGKILL')
          return gone
        }),
      )
      for (const dir of [...dataServers.map((s) => s.dir), ...sentinels.map((s) => s.dir)]) rmSync(dir, { recursive: true, force: true })
    })()
    return stopping
  }
  const connection = (port: number, pass: string | undefined): Redis => {
    let found = connections.get(port)
    if (!found) {
      found = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 2, enableReadyCheck: false, ...(pass ? { password: pass } : {}) })
      found.on('error', () => undefined)
      connections.set(port, found)
    }
    return found
  }
  const node = (port: number) => connection(port, password)
  const sentinel = (port: number) => connection(port, sentinelPassword)
  /** What each sentinel answers, or undefined for one that does not. */
  const askSentinels = <T>(ask: (client: Redis) => Promise<T>) => Promise.all(sentinels.map(({ port }) => ask(sentinel(port)).catch(() => undefined)))
  const masterOf = async (client: Redis) => Number(((await client.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[])[1])
  const currentMaster = async (): Promise<number> => {
    for (const { port } of sentinels) {
      const found = await masterOf(sentinel(port)).catch(() => undefined)
      if (found !== undefined) return found
    }
    throw new Error('no sentinel names a master')
  }

  try {
    const settings = [
      ...(password ? ['--requirepass', password, '--masterauth', password] : []),
      ...(minReplicasToWrite ? ['--min-replicas-to-write', String(minReplicasToWrite), '--min-replicas-max-lag', '10'] : []),
    ]
    const master = await startRedisServer(settings)
    dataServers.push(master)
    dataServers.push(await startRedisServer([...settings, '--replicaof', '127.0.0.1', String(master.port)]))
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const dir = mkdtempSync(join(tmpdir(), 'shadows-sentinel-'))
      const conf = join(dir, 'sentinel.conf')
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `logfile ${join(dir, 'sentinel.log')}`,
          'sentinel resolve-hostnames no',
          ...(sentinelPassword ? [`requirepass ${sentinelPassword}`] : []),
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          ...(password ? [`sentinel auth-pass ${MASTER_NAME} ${password}`] : []),
          '',
        ].join('\n'),
      )
      const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
      sentinels.push({ port, process: child, dir })
      await waitUntil(() => pingRedis('127.0.0.1', port), 10_000, `sentinel on port ${port} to answer`)
    }
    const ready = async () => {
      const replicas = await askSentinels((c) => c.call('SENTINEL', 'replicas', MASTER_NAME) as Promise<string[][]>)
      const peers = await askSentinels((c) => c.call('SENTINEL', 'sentinels', MASTER_NAME) as Promise<unknown[]>)
      // a replica counts once its sentinel sees its link to the master up (flags lack s_down)
      const inStep = (list: string[][] | undefined) =>
        list?.length === 1 && fields(list[0] ?? []).get('master-link-status') === 'ok' && !/s_down|disconnected/.test(fields(list[0] ?? []).get('flags') ?? '')
      return replicas.every(inStep) && peers.every((list) => list?.length === 2)
    }
    await waitUntil(ready, 30_000, 'every sentinel to know the replica and the other sentinels')
    const query = sentinelPassword ? `?sentinelPassword=${encodeURIComponent(sentinelPassword)}` : ''
    const hosts = sentinels.map(({ port }) => `127.0.0.1:${port}`).join(',')
    return {
      url: `redis+sentinel://${password ? `:${encodeURIComponent(password)}@` : ''}${hosts}/${MASTER_NAME}${query}`,
      dataPorts: dataServers.map((s) => s.port),
      node,
      stop,
      master: currentMaster,
      async newMaster(old, timeoutMs = 30_000) {
        let found = old
        await waitUntil(
          async () => {
            const named = await askSentinels(masterOf)
            found = named[0] ?? old
            if (found === old || !named.every((port) => port === found)) return false
            const role = (await node(found)
              .role()
              .catch(() => [])) as unknown[]
            return role[0] === 'master'
          },
          timeoutMs,
          `the sentinels to name a master other than port ${old}`,
        )
        return found
      },
      async failover() {
        const old = await currentMaster()
        await sentinel(sentinels[0]?.port ?? 0).call('SENTINEL', 'failover', MASTER_NAME)
        return old
      },
      async killMaster() {
        const old = await currentMaster()
        const server = dataServers.find((s) => s.port === old)
        if (!server) throw new Error(`no server of this deployment on port ${old}`)
        const gone = new Promise((resolve) => server.process.once('exit', resolve))
        server.process.kill('SIGKILL')
        await gone
        return old
      },
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** A reply of SENTINEL REPLICAS (name, value, name, value, …) as a map. */
function fields(flat: readonly string[]): Map<string, string> {
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i] as string, flat[i + 1] as string)
  return map
}

/** Polls `check` every 50 ms until it is true; throws naming `what` after `timeoutMs`. */
async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}
