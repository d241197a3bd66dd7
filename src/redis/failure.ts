/**
 * Why a connection to Redis fails, in words an operator can act on: Redis refused the credentials,
 * or a TLS URL points at a port that speaks plain text. Every connection shadows opens is watched
 * from the start ({@link watchConnection}): its errors are redacted before any other listener sees
 * them, and a TLS connection whose handshake stalls is diagnosed, so that the logs say "TLS
 * handshake failed" once and from then on, instead of "connect ETIMEDOUT" every connect timeout.
 */
import { createConnection } from 'node:net'
import { Redis } from 'ioredis'
import { ShadowsError } from '../core/errors.js'
import { redactError } from './redact.js'
import type { RedisClient } from './scripts.js'

/** A failure shadows can name: the credentials were refused, or the port does not speak TLS. */
export type RedisFailure = 'credentials' | 'tls'

/** How each failure is put in logs and error lines. */
export const REDIS_FAILURE_MESSAGES: Readonly<Record<RedisFailure, string>> = Object.freeze({
  credentials: 'Redis refused the credentials',
  tls: 'TLS handshake failed: is this port serving TLS?',
})

/**
 * How long a TLS connection may go without finishing its handshake before the port is probed in
 * plain text. A plain-text Redis never answers a TLS hello: without the probe, the connection would
 * only fail with ioredis' connect timeout ("connect ETIMEDOUT", 10 s), again and again.
 */
const TLS_STALL_MS = 1000

/** How long the plain-text probe waits for an answer. */
const PROBE_TIMEOUT_MS = 1000

/** Failures found by watching a connection, for errors whose text does not show them. */
const diagnosed = new WeakMap<object, RedisFailure>()

/**
 * The failure `err` shows, if shadows can name it: Redis refusing the credentials (WRONGPASS,
 * NOAUTH, ERR invalid password), or a TLS connection to a port that answered in plain text. Looks
 * through `cause` and a cluster's `lastNodeError` too.
 */
export function redisFailure(err: unknown): RedisFailure | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const found = diagnosed.get(current) ?? failureIn(current as { message?: unknown; code?: unknown })
    if (found) return found
    const holder = current as { cause?: unknown; lastNodeError?: unknown }
    current = holder.cause ?? holder.lastNodeError
  }
  return undefined
}

function failureIn(err: { message?: unknown; code?: unknown }): RedisFailure | undefined {
  const message = typeof err.message === 'string' ? err.message : ''
  if (/^(WRONGPASS|NOAUTH)\b/.test(message) || /^ERR invalid (username-)?password/i.test(message)) return 'credentials'
  // ioredis gives up on a round of sentinels with their last error in its own words
  if (/^All sentinels are unreachable\b.*Last error: (WRONGPASS|NOAUTH)\b/.test(message)) return 'credentials'
  // what OpenSSL says when the first bytes back are not a TLS record (a plain-text reply)
  if (/^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG)$/.test(String(err.code ?? '')) || /wrong version number|packet length too long/.test(message))
    return 'tls'
  return undefined
}

/** The words for `err` when shadows can name its failure (see {@link redisFailure}). */
export function describeRedisFailure(err: unknown): string | undefined {
  const failure = redisFailure(err)
  return failure && REDIS_FAILURE_MESSAGES[failure]
}

/**
 * Watches a connection from its creation: every error it emits (and, for a cluster, every node's)
 * has its credentials masked in place before any other listener sees it — the same error object
 * is what ioredis rejects the pending commands with, so callers get the masked one too. With
 * `diagnoseTls`, a single-node TLS connection whose handshake stalls has its port probed in plain
 * text; if a Redis answers there, the connection emits a {@link REDIS_FAILURE_MESSAGES}.tls error,
 * and its further connect errors are marked as that failure, until a connection succeeds.
 */
export function watchConnection(client: RedisClient, options: { readonly diagnoseTls: boolean }): void {
  const state = { plainText: false }
  client.prependListener('error', (err: unknown) => {
    redactError(err)
    if (state.plainText && client.status === 'connecting' && typeof err === 'object' && err !== null) diagnosed.set(err, 'tls')
  })
  if (!(client instanceof Redis)) {
    client.prependListener('node error', (err: unknown) => redactError(err))
    return
  }
  if (!options.diagnoseTls || !client.options.tls) return
  const { host = 'localhost', port = 6379 } = client.options
  let stall: NodeJS.Timeout | undefined
  client.on('connecting', () => {
    clearTimeout(stall)
    stall = setTimeout(() => {
      if (client.status !== 'connecting') return
      void answersInPlainText(host, port).then((plain) => {
        if (!plain || state.plainText || client.status !== 'connecting') return
        state.plainText = true
        const err = new ShadowsError('SHADOWS_ERR_UNAVAILABLE', `${REDIS_FAILURE_MESSAGES.tls} (${host}:${port} answers in plain text)`, { host, port })
        diagnosed.set(err, 'tls')
        // as ioredis does: an 'error' event nobody listens to would throw
        if (client.listenerCount('error') > 0) client.emit('error', err)
      })
    }, TLS_STALL_MS)
    stall.unref()
  })
  client.on('ready', () => {
    clearTimeout(stall)
    state.plainText = false
  })
  client.on('end', () => clearTimeout(stall))
}

/** Whether something on host:port answers a plain-text PING as a Redis does (`+PONG`, `-NOAUTH …`). */
function answersInPlainText(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port })
    const done = (plain: boolean) => {
      socket.destroy()
      resolve(plain)
    }
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    // a TLS server answers with an alert record (0x15), never with '+' or '-'
    socket.once('data', (data: Buffer) => done(data[0] === 0x2b || data[0] === 0x2d))
  })
}

/** Node's codes for a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * Redis's error codes (see {@link replyErrorCode}) for a server that cannot serve yet: among
 * them a master demoted by a failover (`READONLY`), and one that refuses writes while too few
 * replicas are in step (`NOREPLICAS`, with `min-replicas-to-write`).
 */
const NOT_SERVING = new Set(['LOADING', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY', 'READONLY', 'NOREPLICAS'])

/**
 * ioredis's errors for a command it could not send: it has no class or code for these, so they
 * are known by their exact text, here and nowhere else.
 */
const NOT_SENT = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  "Cluster isn't ready and enableOfflineQueue options is false",
  'None of startup nodes is available',
])

/**
 * The code of a Redis error reply: its first word (`READONLY You can't write …`), or for an error
 * met inside one of shadows' scripts, which catch errors to finish their work and raise them again,
 * the code of the error inside (`ERR user_script:292: READONLY You can't write …`; Redis 6 words
 * it `… @user_script:292: -READONLY …`).
 */
export function replyErrorCode(message: string): string {
  const inner = /^ERR (?:Error running script \(call to \w+\): )?@?user_script: ?\d+: -?([A-Z]+) /.exec(message)
  return inner?.[1] ?? message.split(' ', 1)[0] ?? ''
}

/**
 * Whether `err` means that Redis could not be used at all (a request may succeed later), by its
 * class, code or ioredis' fixed text: ioredis gave up retrying, the connection failed or closed,
 * the server is loading or has no master, or it refused the credentials or does not speak TLS.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false
  const { name, code, message } = err as { name?: unknown; code?: unknown; message?: unknown }
  if (name === 'MaxRetriesPerRequestError' || name === 'ClusterAllFailedError') return true
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true
  if (typeof message !== 'string') return false
  if (name === 'ReplyError' && NOT_SERVING.has(replyErrorCode(message))) return true
  // a refused password, or TLS against a plain-text port: no request can fix that, an operator can
  return NOT_SENT.has(message) || redisFailure(err) !== undefined
}
