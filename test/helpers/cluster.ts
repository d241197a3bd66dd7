/**
 * A private three-master Redis Cluster on loopback, for the cluster tests: three
 * `redis-server --cluster-enabled yes` processes on free ports (each with its own temp dir for
 * nodes.conf, nothing persisted), joined by `redis-cli --cluster create`. `stop()` kills them all.
 */
import { execFile } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, startRedisServer } from '../../src/cli/private-redis.js'

const run = promisify(execFile)

/** How many slots a Redis Cluster has. */
const SLOTS = 16384

/** A running cluster. */
export interface TestCluster {
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`: selects the cluster client. */
  readonly url: string
  /** The client ports of the three masters. */
  readonly ports: readonly number[]
  /** The port of the master that serves `key` (CLUSTER KEYSLOT, then CLUSTER SLOTS). */
  ownerOf(key: string): Promise<number>
  /** A plain (non-cluster) connection to the node on `port`, closed by `stop()`. */
  node(port: number): Redis
  /** Kills every server and removes their directories. Idempotent. */
  stop(): Promise<void>
}

/** Starts a three-master cluster and resolves once every node reports cluster_state:ok. */
export async function startCluster(): Promise<TestCluster> {
  const servers: Awaited<ReturnType<typeof startRedisServer>>[] = []
  const connections = new Map<number, Redis>()
  let stopping: Promise<void> | undefined
  // if the test process ends without its teardown (an uncaught error), do not leave servers behind
  const killOnExit = () => servers.forEach((server) => server.process.kill('SIGKILL'))
  process.once('exit', killOnExit)
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit)
      for (const connection of connections.values()) connection.disconnect()
      await Promise.all(servers.map((server) => server.stop().catch(() => undefined)))
    })()
    return stopping
  }
  const node = (port: number): Redis => {
    let connection = connections.get(port)
    if (!connection) {
      connection = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 3 })
      connection.on('error', () => undefined)
      connections.set(port, connection)
    }
    return connection
  }
  try {
    for (let i = 0; i < 3; i++) {
      // the cluster bus port defaults to port + 10000, which may be taken or past 65535: pick it too
      const busPort = await freePort()
      servers.push(
        await startRedisServer([
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '5000',
        ]),
      )
    }
    const ports = servers.map((server) => server.port)
    for (const port of ports) {
      if ((await node(port).ping()) !== 'PONG') throw new Error(`cluster node on port ${port} does not answer`)
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    })
    await waitUntilReady(ports, node)
    return {
      url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
      ports,
      node,
      stop,
      async ownerOf(key: string) {
        const first = node(ports[0] as number)
        const slot = (await first.cluster('KEYSLOT', key)) as number
        const ranges = await first.cluster('SLOTS')
        const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2]
        if (!master) throw new Error(`no node serves slot ${slot}`)
        return master[1]
      },
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Waits until every node says cluster_state:ok and knows an owner for every slot. */
async function waitUntilReady(ports: readonly number[], node: (port: number) => Redis): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    let ready = true
    for (const port of ports) {
      const info = (await node(port).cluster('INFO')) as string
      const ranges = await node(port).cluster('SLOTS')
      const covered = ranges.reduce((sum, [from, to]) => sum + (to - from + 1), 0)
      if (!/cluster_state:ok/.test(info) || covered !== SLOTS || ranges.length !== ports.length) ready = false
    }
    if (ready) return
    if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok in 30 s')
    await sleep(50)
  }
}
