/**
 * Opens Redis connections from a URL (read by url.ts). `redis://` and `rediss://` give a single-node
 * client; `redis+cluster://host:port,host:port` (or `rediss+cluster://`) gives a cluster client
 * seeded with those nodes; `redis+sentinel://host:port,host:port/master-name` (or
 * `rediss+sentinel://`) gives a client of the master those sentinels name, which follows a failover.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { replyErrorCode, watchConnection } from './failure.js'
import { commandName, defineScripts, type RedisClient } from './scripts.js'
import { parseRedisUrl, type RedisTarget } from './url.js'

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

/**
 * Sent at once rather than with the next automatic pipeline. These scripts already carry a batch
 * each (adds made together, outcomes, due tasks, starts), so the pipeline would only delay them to
 * the next turn of the event loop and cost an allocation per call; a worker's start call in
 * particular must go out the moment it is made, so that Redis reads the next batch while the
 * worker runs the current one.
 */
const UNPIPELINED = (['add', 'start', 'finish', 'move-due'] as const).map((name) => commandName(name))

/**
 * Opens a connection (it starts connecting at once; commands made meanwhile wait in ioredis'
 * offline queue, unless the options turn it off) with shadows' scripts defined,
 * watched from the start: its errors never carry credentials, and a TLS URL against a plain-text
 * port is named as such (see watchConnection).
 */
export function connect(url: string, options: ConnectionOptions = {}): RedisClient {
  const common: RedisOptions = {
    lazyConnect: false,
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 20 : options.maxRetriesPerRequest,
    enableOfflineQueue: options.enableOfflineQueue ?? true,
    enableAutoPipelining: options.autoPipelining ?? true,
    autoPipeliningIgnoredCommands: UNPIPELINED,
    // reconnect forever, backing off to at most 2 s between tries
    retryStrategy: (times: number) => Math.min(50 * times, 2000),
    // while a restarted Redis loads its data, ask again every 200 ms whether it is done, rather
    // than after the whole loading time it estimated when asked (up to 10 s by default): a gateway
    // and workers went on answering 503 for seconds after Redis was back
    maxLoadingRetryTime: 200,
    ...(options.connectionName ? { connectionName: options.connectionName } : {}),
  }
  const target = parseRedisUrl(url)
  let client: RedisClient
  if (target.kind === 'cluster') {
    const { nodes, tls, password, username } = target
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
    client = new Cluster([...nodes], clusterOptions)
  } else if (target.kind === 'sentinel') {
    client = new Redis(sentinelOptions(target, common))
  } else {
    client = new Redis(target.url, common)
  }
  // the probe asks the URL's own host and port; a Sentinel URL names the sentinels, not the master
  watchConnection(client, { diagnoseTls: target.kind === 'node' })
  followSentinelEnds(client)
  defineScripts(client)
  return client
}

/** The part of an ioredis Sentinel connection {@link followSentinelEnds} reaches into (ioredis 5). */
interface SentinelInternals {
  readonly connector?: { readonly failoverDetector?: { cleanup(): void } | null }
}

/** How long after an unwanted end a Sentinel connection connects again, ms: doubling while it keeps ending, up to REVIVE_MAX. */
const REVIVE_AFTER = 100
const REVIVE_MAX = 2_000

/**
 * What a Sentinel connection does when it ends. ioredis closes the connections its failover
 * detector holds to the sentinels only when a client is disconnected, not when QUIT ends it (as
 * `Shadow.close()` does): they would go on reconnecting to the sentinels, once a minute, and keep
 * the process alive, so they are closed whenever the client ends.
 *
 * And a connection can end without anyone closing it: when a failover is announced while it is
 * reconnecting (its master was killed, and the sentinels still named it), the detector of its last
 * connection closes the connector under the reconnection, which then fails with "Connection is
 * closed." and ioredis gives the client up for good; every command after it fails the same way,
 * forever. Such a connection connects again, asking the sentinels afresh (100 ms later, longer
 * while it keeps ending).
 */
function followSentinelEnds(client: RedisClient): void {
  if (!(client instanceof Redis) || !client.options.sentinels) return
  // closed by shadows itself (quit, or disconnect without reconnecting): its end is not revived
  let closedOnPurpose = false
  const quit = client.quit.bind(client) as (...args: unknown[]) => Promise<'OK'>
  const disconnect = client.disconnect.bind(client)
  Object.assign(client, {
    quit: (...args: unknown[]) => {
      closedOnPurpose = true
      return quit(...args)
    },
    disconnect: (reconnect = false) => {
      if (!reconnect) closedOnPurpose = true
      disconnect(reconnect)
    },
  })
  let revivals = 0
  client.on('ready', () => {
    revivals = 0
  })
  client.on('end', () => {
    ;(client as unknown as SentinelInternals).connector?.failoverDetector?.cleanup()
    if (closedOnPurpose) return
    const delay = Math.min(REVIVE_AFTER * 2 ** revivals, REVIVE_MAX)
    revivals += 1
    setTimeout(() => {
      if (closedOnPurpose || client.status !== 'end') return
      client.connect().catch(() => undefined)
    }, delay).unref()
  })
}

/**
 * Whether an error reply comes from a node that stopped being the master while a connection to it
 * was open: a write it refused (`READONLY`; a script's too, which fails at its first write, so
 * nothing of it was done), or a blocking read it ended as it turned replica (`UNBLOCKED …
 * instance state changed`).
 */
function fromDemotedMaster(err: Error): boolean {
  const code = replyErrorCode(err.message)
  return code === 'READONLY' || (code === 'UNBLOCKED' && err.message.includes('instance state changed'))
}

/**
 * ioredis' Sentinel settings: on every (re)connection it asks the sentinels which node is the
 * master, and checks that the node says so (`role: 'master'`). Every connection made from it
 * (duplicates for blocking reads and pub/sub included) inherits them.
 */
function sentinelOptions(target: Extract<RedisTarget, { kind: 'sentinel' }>, common: RedisOptions): RedisOptions {
  const { sentinels, masterName, db, tls, username, password, sentinelUsername, sentinelPassword } = target
  return {
    ...common,
    sentinels: sentinels.map(({ host, port }) => ({ host, port })),
    name: masterName,
    role: 'master',
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(sentinelUsername ? { sentinelUsername } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    // TLS to the master and to the sentinels alike
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // without it a connection stays on the old master until the sentinels demote it, some 8 s after
    // the switch, and every write it makes meanwhile is lost: this subscribes to the sentinels'
    // +switch-master and reconnects at once
    failoverDetector: true,
    // a sentinel that accepts a connection and never answers must not stall the reconnection
    sentinelCommandTimeout: 2_000,
    // a connection that meets a demoted master before the switch is announced reconnects (asking
    // the sentinels again) and sends the command anew: the demoted master did none of it
    reconnectOnError: (err: Error) => (fromDemotedMaster(err) ? 2 : false),
  }
}

/** The parts of an ioredis connection {@link closeNow} reaches into (ioredis 5). */
interface ConnectionInternals {
  setStatus(status: string): void
  flushQueue(err: Error): void
  /** Commands sent on a connection that dropped, kept to be sent again once one is ready. */
  prevCommandQueue?: { shift(): { command: { reject(err: Error): void } } | undefined } | null
}

/**
 * Closes a connection at once, failing every command it still holds with "Connection is closed.".
 * ioredis' own disconnect() leaves two kinds of command waiting forever: those queued while the
 * connection waits to reconnect (its socket is gone, so nothing reports the close and the
 * connection never ends), and those that were in flight when a connection dropped, kept to be sent
 * again once a new one is ready, which never comes when Redis refuses the credentials.
 */
export function closeNow(client: RedisClient): void {
  if (!(client instanceof Redis)) {
    client.disconnect()
    return
  }
  const internals = client as unknown as ConnectionInternals
  const closed = () => new Error('Connection is closed.')
  const failUnsent = () => {
    const unsent = internals.prevCommandQueue
    internals.prevCommandQueue = null
    for (let item = unsent?.shift(); item; item = unsent?.shift()) item.command.reject(closed())
  }
  const waiting = client.status === 'reconnecting'
  client.disconnect()
  if (waiting && client.status === 'reconnecting') {
    // what ioredis does once the socket of a connection closed on purpose reports its close
    internals.setStatus('end')
    internals.flushQueue(closed())
    failUnsent()
  } else if (client.status === 'end') {
    failUnsent()
  } else {
    client.once('end', failUnsent)
  }
}

/**
 * Opens another connection to the same Redis, with the same settings, for blocking reads and
 * pub/sub (so without auto-pipelining: nothing may queue behind a blocking command).
 */
export function duplicate(client: RedisClient): RedisClient {
  // with the offline queue: its first command is sent as it connects. An original without one
  // (the gateway's, to fail fast) would otherwise fail every first subscribe or read at once
  const settings = { enableAutoPipelining: false, enableOfflineQueue: true }
  const copy = client instanceof Cluster ? client.duplicate(undefined, settings) : client.duplicate(settings)
  // its own errors are redacted too; the TLS diagnosis of the original speaks for both
  watchConnection(copy, { diagnoseTls: false })
  followSentinelEnds(copy)
  defineScripts(copy)
  return copy
}

/** What a pub/sub connection of {@link subscriber} tells its owner. */
export interface SubscriberHandlers {
  /** Errors of the connection are logged at debug: ioredis reconnects by itself. */
  readonly logger: { debug(fields: { readonly err: unknown }, message: string): void }
  /** Names the connection in that log line. */
  readonly what: string
  /** Every message on the channels it subscribes to. */
  onMessage(message: string): void
  /** After each reconnection (not the first connection): what was published meanwhile is lost. */
  onReconnect(): void
}

/** A connection of its own for pub/sub, made from `client` (see {@link duplicate}). */
export function subscriber(client: RedisClient, handlers: SubscriberHandlers): RedisClient {
  const connection = duplicate(client)
  connection.on('error', (err: Error) => handlers.logger.debug({ err }, `${handlers.what} connection error`))
  connection.on('message', (_channel: string, message: string) => handlers.onMessage(message))
  let connectedBefore = false
  connection.on('ready', () => {
    if (connectedBefore) handlers.onReconnect()
    connectedBefore = true
  })
  return connection
}
