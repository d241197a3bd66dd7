/**
 * Reads a Redis URL into what {@link connect} opens: one node (`redis://`, `rediss://`), the seed
 * nodes of a cluster (`redis+cluster://host:port,host:port`), or the sentinels that name a master
 * (`redis+sentinel://[user:password@]host:port,host:port/master-name?sentinelPassword=…&db=…`).
 * Every URL shadows accepts is read here and nowhere else; a malformed one is a
 * `SHADOWS_ERR_VALIDATION` whose message never holds its passwords.
 */
import { ShadowsError } from '../core/errors.js'
import { redactUrl } from './redact.js'

/** A host and port of a cluster node or a sentinel. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/** Credentials and TLS of the data connections (to the node, the cluster's nodes or the master). */
interface Credentials {
  readonly tls: boolean
  readonly username?: string
  readonly password?: string
}

/** Where a Redis URL points. */
export type RedisTarget =
  /** One node: the URL is handed to ioredis as it is. */
  | { readonly kind: 'node'; readonly url: string }
  /** A cluster, found from its seed nodes. */
  | (Credentials & { readonly kind: 'cluster'; readonly nodes: readonly HostPort[] })
  /** The master the sentinels name `masterName`, asked for again on every reconnection. */
  | (Credentials & {
      readonly kind: 'sentinel'
      readonly sentinels: readonly HostPort[]
      readonly masterName: string
      readonly db: number
      readonly sentinelUsername?: string
      readonly sentinelPassword?: string
    })

/** The port sentinels listen on unless the URL says otherwise. */
export const DEFAULT_SENTINEL_PORT = 26379

/** The query parameters a Sentinel URL takes. */
const SENTINEL_PARAMS = new Set(['sentinelPassword', 'sentinelUsername', 'db'])

const SENTINEL_FORM = 'redis+sentinel://host:port,host:port/master-name'

/** Reads `url`; throws `SHADOWS_ERR_VALIDATION` for a scheme shadows does not know or a malformed URL. */
export function parseRedisUrl(url: string): RedisTarget {
  if (/^rediss?\+sentinel:\/\//.test(url)) return parseSentinel(url)
  if (/^rediss?\+cluster:\/\//.test(url)) return parseCluster(url)
  if (/^rediss?:\/\//.test(url)) return { kind: 'node', url }
  throw invalid(`invalid Redis URL ${shown(url)}: use redis://, rediss://, redis+cluster:// or redis+sentinel://`)
}

function parseCluster(url: string): RedisTarget {
  const match = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/.exec(url)
  if (!match) throw invalid(`invalid cluster URL ${shown(url)}`)
  const [, scheme, user, pass, hosts] = match
  return {
    kind: 'cluster',
    nodes: hostList(hosts ?? '', 6379, 'node', 'cluster URL'),
    ...credentials(scheme, user, pass, (why) => invalid(`invalid cluster URL ${shown(url)}: ${why}`)),
  }
}

function parseSentinel(url: string): RedisTarget {
  const bad = (why: string) => invalid(`invalid Sentinel URL ${shown(url)}: ${why} (use ${SENTINEL_FORM})`)
  const match = /^(rediss?)\+sentinel:\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/.exec(url)
  if (!match) throw bad('it has a fragment')
  const [, scheme, authority = '', path, query = ''] = match
  // the user info ends at the last @: a password may hold an unescaped one
  const at = authority.lastIndexOf('@')
  const userInfo = at === -1 ? undefined : authority.slice(0, at)
  const hosts = authority.slice(at + 1)
  if (hosts === '') throw bad('no sentinel host')
  const colon = userInfo?.indexOf(':') ?? -1
  const user = userInfo === undefined ? undefined : colon === -1 ? '' : userInfo.slice(0, colon)
  // as in redis://secret@host: a user info without a colon is the password alone
  const pass = userInfo === undefined ? undefined : colon === -1 ? userInfo : userInfo.slice(colon + 1)
  if (path?.includes('/')) throw bad('the master name is the whole path; give the database as ?db=')
  const masterName = decoded(path ?? '', 'master name', bad)
  if (masterName === '') throw bad('no master name after the hosts')
  const params = new Map<string, string>()
  for (const pair of query === '' ? [] : query.split('&')) {
    const equals = pair.indexOf('=')
    const key = equals === -1 ? pair : pair.slice(0, equals)
    if (!SENTINEL_PARAMS.has(key)) throw bad(`unknown parameter ${JSON.stringify(key)}; it takes sentinelPassword, sentinelUsername and db`)
    if (params.has(key)) throw bad(`parameter ${key} given twice`)
    // percent-decoded only: a + in a password stays a +
    params.set(key, decoded(equals === -1 ? '' : pair.slice(equals + 1), key, bad))
  }
  const db = params.get('db') ?? '0'
  if (!/^\d{1,9}$/.test(db)) throw bad(`db must be a non-negative integer, got ${JSON.stringify(db)}`)
  const sentinelUsername = params.get('sentinelUsername') ?? ''
  const sentinelPassword = params.get('sentinelPassword') ?? ''
  return {
    kind: 'sentinel',
    sentinels: hostList(hosts, DEFAULT_SENTINEL_PORT, 'sentinel', 'Sentinel URL'),
    masterName,
    db: Number(db),
    ...credentials(scheme, user, pass, bad),
    ...(sentinelUsername ? { sentinelUsername } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
  }
}

/**
 * `host:port,host:port`, each `host`, `host:port` or `[v6]:port` (the port is what follows the
 * last colon, as ever for cluster URLs); a missing port is `defaultPort`.
 */
function hostList(hosts: string, defaultPort: number, noun: 'node' | 'sentinel', where: string): HostPort[] {
  return hosts.split(',').map((hostPort) => {
    const at = hostPort.lastIndexOf(':')
    const bracketed = hostPort.startsWith('[') && hostPort.endsWith(']')
    const host = at > 0 && !bracketed ? hostPort.slice(0, at) : hostPort
    const portText = at > 0 && !bracketed ? hostPort.slice(at + 1) : undefined
    const port = portText === undefined ? defaultPort : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN
    if (!host || /\s/.test(host) || !(port >= 1 && port <= 65535)) {
      throw invalid(`invalid ${noun} ${JSON.stringify(hostPort)} in ${where} (host:port, port 1-65535)`)
    }
    return { host: host.replace(/^\[|\]$/g, ''), port }
  })
}

function credentials(scheme: string | undefined, user: string | undefined, pass: string | undefined, bad: (why: string) => ShadowsError): Credentials {
  return {
    tls: scheme === 'rediss',
    ...(pass ? { password: decoded(pass, 'password', bad) } : {}),
    ...(user ? { username: decoded(user, 'user name', bad) } : {}),
  }
}

function decoded(text: string, what: string, bad: (why: string) => ShadowsError): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw bad(`the ${what} is not valid percent-encoding`)
  }
}

/** The URL as error messages show it: quoted, passwords masked. */
function shown(url: string): string {
  return redactUrl(JSON.stringify(url))
}

function invalid(message: string): ShadowsError {
  return new ShadowsError('SHADOWS_ERR_VALIDATION', message)
}
