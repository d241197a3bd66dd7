/**
 * Opens Redis connections from a URL. `redis://` and `rediss://` give a single-node client;
 * `redis+cluster://host:port,host:port` (or `rediss+cluster://`) gives a cluster client seeded with
 * those nodes.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { ShadowsError } from '../errors.js'
import { commandName, defineScripts, type RedisClient } from './scripts.js'

/** The URL used when none is given. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0'

/** Connection settings common to every client shadows opens. */
export interface ConnectionOptions {
  /** Fail commands after this many reconnection attempts instead of queueing them (ioredis default 20). */
  readonly maxRetriesPerRequest?: number | null
  /** Queue commands while disconnected (default true). */
  readonly enableOfflineQueue?: boolean
  /** Name shown by CLIENT LIST. */
  readonly connectionName?: string
  /**
   * Send the commands issued in one turn of the event loop as one write (default true): many
   * concurrent adds then cost one system call instead of one each.
   */
  readonly autoPipelining?: boolean
}

function parseCluster(url: string): { nodes: { host: string; port: number }[]; tls: boolean; password?: string; username?: string } {
  const match = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/.exec(url)
  if (!match) throw new ShadowsError('SHADOWS_ERR_VALIDATION', `invalid cluster URL ${JSON.stringify(url)}`)
  const [, scheme, user, pass, hosts] = match
  const nodes = (hosts ?? '').split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':')
    const host = at > 0 ? hostPort.slice(0, at) : hostPort
    const port = at > 0 ? Number(hostPort.slice(at + 1)) : 6379
    if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `invalid node ${JSON.stringify(hostPort)} in cluster URL`)
    }
    return { host: host.replace(/^\[|\]$/g, ''), port }
  })
  return {
    nodes,
    tls: scheme === 'rediss',
    ...(pass ? { password: decodeURIComponent(pass) } : {}),
    ...(user ? { username: decodeURIComponent(user) } : {}),
  }
}

/**
 * Sent at once rather than with the next automatic pipeline. These scripts already carry a batch
 * each (adds made together, outcomes, due tasks, starts), so the pipeline would only delay them to
 * the next turn of the event loop and cost an allocation per call; a worker's start call in
 * particular must go out the moment it is made, so that Redis reads the next batch while the
 * worker runs the current one.
 */
const UNPIPELINED = (['add', 'start', 'finish', 'move-due'] as const).map((name) => commandName(name))

/** Whether `url` selects the cluster client. */
export function isClusterUrl(url: string): boolean {
  return /^rediss?\+cluster:\/\//.test(url)
}

/** Opens a connection (lazily: it connects on the first command) with shadows' scripts defined. */
export function connect(url: string, options: ConnectionOptions = {}): RedisClient {
  const common: RedisOptions = {
    lazyConnect: false,
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 20 : options.maxRetriesPerRequest,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    enableAutoPipelining: options.autoPipelining ?? true,
    autoPipeliningIgnoredCommands: UNPIPELINED,
    // reconnect forever, backing off to at most 2 s between tries
    retryStrategy: (times: number) => Math.min(50 * times, 2000),
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  }
  let client: RedisClient
  if (isClusterUrl(url)) {
    const { nodes, tls, password, username } = parseCluster(url)
    const clusterOptions: ClusterOptions = {
      redisOptions: {
        ...common,
        ...(password ? { password } : {}),
        ...(username ? { username } : {}),
        ...(tls ? { tls: {} } : {}),
      },
      enableOfflineQueue: common.enableOfflineQueue ?? true,
      enableAutoPipelining: options.autoPipelining ?? true,
      autoPipeliningIgnoredCommands: UNPIPELINED,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 2000),
    }
    client = new Cluster(nodes, clusterOptions)
  } else {
    if (!/^rediss?:\/\//.test(url)) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', `invalid Redis URL ${JSON.stringify(url)}: use redis://, rediss:// or redis+cluster://`)
    }
    client = new Redis(url, common)
  }
  defineScripts(client)
  return client
}

/**
 * Opens another connection to the same Redis, with the same settings, for blocking reads and
 * pub/sub (so without auto-pipelining: nothing may queue behind a blocking command).
 */
export function duplicate(client: RedisClient): RedisClient {
  const copy = client instanceof Cluster ? client.duplicate(undefined, { enableAutoPipelining: false }) : client.duplicate({ enableAutoPipelining: false })
  defineScripts(copy)
  return copy
}
