/**
 * Keeps Redis credentials out of logs, error lines and the errors handed to callers. ioredis attaches
 * the command a reply answers to its error (`command: { name, args }`), so a refused AUTH carries
 * the password, and pino's error serializer writes every such property out; a Redis URL carries
 * the password in its user info. Every path by which an ioredis error or a URL can reach a log or a
 * caller goes through {@link redactError} or {@link redactUrl}.
 */
import { pino, type Logger } from 'pino'

/** What a secret is replaced with. */
const MASK = '***'

/**
 * The user info of a URL, anywhere in a text: what lies between `scheme://` and the last `@`
 * before the host (a password may hold an unescaped `@`).
 */
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/"'<>]*)@/gi

/**
 * A password in a URL's query: a Sentinel URL's `sentinelPassword=…`, and `password=…`, which
 * ioredis reads from a `redis://` URL's query too. Its value ends at the next parameter.
 */
const QUERY_PASSWORD = /([?&](?:sentinel)?password=)[^&#\s"'<>]*/gi

/**
 * `text` with the password of every URL in it masked: `redis://:***@host:6379`,
 * `redis://default:***@host`, `redis+sentinel://h:26379/m?sentinelPassword=***`. A user info
 * without a colon is masked whole, since some write the password alone there.
 */
export function redactUrl(text: string): string {
  return text
    .replace(URL_USER_INFO, (_, scheme: string, userInfo: string) => {
      const colon = userInfo.indexOf(':')
      return colon === -1 ? `${scheme}${MASK}@` : `${scheme}${userInfo.slice(0, colon)}:${MASK}@`
    })
    .replace(QUERY_PASSWORD, `$1${MASK}`)
}

/** Command arguments with every credential masked (names lower case). */
function redactArgs(name: string, args: readonly unknown[]): unknown[] {
  switch (name) {
    case 'auth':
      // AUTH password, or AUTH username password: the user name helps to tell which was refused
      return args.map((arg, i) => (args.length > 1 && i === 0 ? arg : MASK))
    case 'hello':
    case 'migrate':
      // HELLO 3 AUTH user password; MIGRATE … AUTH password, or AUTH2 user password
      return maskAfter(args, { auth: name === 'hello' ? 2 : 1, auth2: 2 })
    case 'config':
      return maskAfter(args, { requirepass: 1, masterauth: 1, 'tls-key-file-pass': 1, 'tls-client-key-file-pass': 1 })
    case 'acl':
      // ACL SETUSER name >password <password #hash !hash
      return args.map((arg) => (typeof arg === 'string' && /^[<>#!]/.test(arg) ? MASK : arg))
    default:
      return [...args]
  }
}

/** `args` with the `n` arguments after each keyword of `keywords` (case-insensitive) masked. */
function maskAfter(args: readonly unknown[], keywords: Readonly<Record<string, number>>): unknown[] {
  const out = [...args]
  for (let i = 0; i < out.length; i++) {
    const arg = out[i]
    const count = typeof arg === 'string' || Buffer.isBuffer(arg) ? keywords[String(arg).toLowerCase()] : undefined
    if (count === undefined) continue
    for (let j = i + 1; j <= i + count && j < out.length; j++) out[j] = MASK
    i += count
  }
  return out
}

/** Properties of an error that may hold further errors. */
const NESTED_ERRORS = ['cause', 'lastNodeError', 'errors', 'previousErrors'] as const

/**
 * Masks, in place, every credential `err` carries: the arguments of an AUTH, HELLO, MIGRATE,
 * CONFIG SET or ACL SETUSER it answers (`err.command.args`), and the password of every URL in its
 * message, stack and other text properties (e.g. Node's `input` of an invalid URL); then the same
 * for the errors it holds (`cause`, a cluster's `lastNodeError`, `errors`). In place, so that
 * whoever holds the error later — a caller's own logger included — sees only the masked copy.
 * Returns `err`; anything that is not an object is returned as it is.
 */
export function redactError<T>(err: T): T {
  redactInPlace(err, 0, new Set())
  return err
}

function redactInPlace(value: unknown, depth: number, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || seen.has(value) || depth > 5) return
  seen.add(value)
  if (Array.isArray(value)) {
    for (const item of value) redactInPlace(item, depth + 1, seen)
    return
  }
  const target = value as Record<string, unknown>
  try {
    const command = target.command as { name?: unknown; args?: unknown } | undefined
    if (typeof command === 'object' && command !== null && Array.isArray(command.args)) {
      target.command = { ...command, args: redactArgs(String(command.name ?? '').toLowerCase(), command.args) }
    }
    for (const key of new Set([...Object.keys(target), 'message', 'stack'])) {
      const text = target[key]
      if (typeof text === 'string' && text.includes('://')) {
        const redacted = redactUrl(text)
        if (redacted !== text) target[key] = redacted
      }
    }
  } catch {
    // a frozen or exotic object: nothing of ours can make it safe, and logging must go on
  }
  for (const key of NESTED_ERRORS) if (key in target) redactInPlace(target[key], depth + 1, seen)
}

/** A pino serializer: a value in, what is logged out. */
type Serializer = (value: unknown) => unknown

/**
 * pino serializers that mask credentials in what is logged under `err`: {@link redactError}, then
 * the `err` serializer `base` already has (pino's standard one unless its owner set another). Give
 * them to every logger that may log an ioredis error, e.g.
 * `logger.child({}, { serializers: redactingSerializers(logger) })`.
 */
export function redactingSerializers(base?: Logger): { readonly err: Serializer } {
  const own = (base as unknown as Record<symbol, Record<string, Serializer> | undefined> | undefined)?.[pino.symbols.serializersSym]?.err
  const serialize = own ?? (pino.stdSerializers.err as Serializer)
  return Object.freeze({ err: (err: unknown) => serialize(redactError(err)) })
}
