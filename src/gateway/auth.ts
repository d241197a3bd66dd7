/**
 * Bearer-token authentication. Tokens come from `SHADOWS_TOKENS` (`token:scope,scope;token2:scope`)
 * with the scopes `enqueue` (add, replace, cancel), `read` (GETs) and `ops` (strikes; implies the
 * others). Presented tokens are compared in constant time against every configured token.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import fp from 'fastify-plugin'
import { ShadowsError } from '../core/errors.js'
import { DOCS_PATH, type Scope } from './contract.js'
import { sendError } from './error-replies.js'

const SCOPES = new Set(['enqueue', 'read', 'ops'])

/** Parsed tokens: only their SHA-256 digests are kept. */
export interface TokenTable {
  readonly entries: readonly { readonly digest: Buffer; readonly scopes: ReadonlySet<string> }[]
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

/** Parses `token:scope,scope;token2:scope`; throws `SHADOWS_ERR_VALIDATION` on a malformed list. */
export function parseTokens(spec: string | undefined): TokenTable {
  const entries: { digest: Buffer; scopes: Set<string> }[] = []
  for (const part of (spec ?? '').split(';')) {
    const item = part.trim()
    if (item === '') continue
    const colon = item.lastIndexOf(':')
    const token = colon > 0 ? item.slice(0, colon).trim() : ''
    const scopes =
      colon > 0
        ? item
            .slice(colon + 1)
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : []
    // a token with whitespace could never be presented in an Authorization header
    if (token.length < 8 || /\s/.test(token) || scopes.length === 0 || scopes.some((s) => !SCOPES.has(s))) {
      throw new ShadowsError(
        'SHADOWS_ERR_VALIDATION',
        'SHADOWS_TOKENS must look like "token:scope,scope;token2:scope" with tokens of 8+ chars without spaces and scopes among enqueue, read, ops',
      )
    }
    const tokenDigest = digest(token)
    // the same token twice with different scopes would be ambiguous
    if (entries.some((entry) => entry.digest.equals(tokenDigest))) {
      throw new ShadowsError('SHADOWS_ERR_VALIDATION', 'SHADOWS_TOKENS lists the same token twice; give it all its scopes once')
    }
    entries.push({ digest: tokenDigest, scopes: new Set(scopes) })
  }
  return { entries }
}

/** The outcome of checking a request's Authorization header against the scope a route needs. */
export function authorize(table: TokenTable, header: string | undefined, needed: Scope): 'ok' | 'unauthorized' | 'forbidden' {
  if (needed === 'public' || table.entries.length === 0) return 'ok'
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  if (!match) return 'unauthorized'
  const presented = digest(match[1] as string)
  let found: ReadonlySet<string> | undefined
  // compare with every token, without stopping at the first match: the time does not depend on which
  for (const entry of table.entries) {
    if (timingSafeEqual(presented, entry.digest)) found = entry.scopes
  }
  if (!found) return 'unauthorized'
  return found.has('ops') || found.has(needed) ? 'ok' : 'forbidden'
}

/** Whether `host` (no port; IPv6 in brackets or not) is a loopback address: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

/** The hostname of a Host header value (`name`, `name:port`, `[v6]:port`), lowercased. */
function hostnameOf(host: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(host)
  if (bracketed) return `[${bracketed[1] as string}]`.toLowerCase()
  const colon = host.lastIndexOf(':')
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase()
}

/**
 * Without tokens the gateway serves anyone who reaches its loopback port, so it checks that a
 * request was meant for it. A browser can be made to send requests there by a page whose name was
 * rebound to 127.0.0.1 (its Host is then that name) or by any other site's page (its Origin is
 * then that site). Returns why the request is refused, or `undefined` to serve it. A request
 * without Host or Origin does not come from a browser page and is served.
 */
export function localRequestRefusal(host: string | undefined, origin: string | undefined): string | undefined {
  if (host !== undefined && !isLoopback(hostnameOf(host))) {
    return 'without tokens the gateway answers only requests addressed to a loopback name (Host: 127.0.0.1, localhost or [::1]); set SHADOWS_TOKENS to serve other names'
  }
  if (origin === undefined) return undefined
  return isOwnOrigin(origin, host)
    ? undefined
    : `without tokens the gateway refuses requests from other origins (Origin: ${origin.slice(0, 100)}); set SHADOWS_TOKENS to call it from other pages`
}

/** Whether a browser's `Origin` is this gateway's: http, with the same host and port as `Host`. */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  try {
    const parsed = new URL(origin)
    return parsed.protocol === 'http:' && parsed.host === new URL(`http://${host}`).host
  } catch {
    // "null" (a sandboxed page, a file) or anything else that is not a URL
    return false
  }
}

/**
 * The gateway's door: each request is checked against the scope its route needs (a route that
 * names none needs ops: fail closed; the docs' own pages and unknown routes are public, a 404
 * either way), and without tokens, against {@link localRequestRefusal}.
 */
export const authPlugin = fp<{ readonly tokens: TokenTable }>(
  async (app, { tokens }) => {
    app.addHook('onRequest', async (request, reply) => {
      const routeUrl = request.routeOptions.url
      const needed = request.routeOptions.config?.scope ?? (request.is404 || routeUrl === undefined || routeUrl.startsWith(DOCS_PATH) ? 'public' : 'ops')
      // without tokens, a route that would need one answers only requests meant for this gateway
      if (tokens.entries.length === 0 && needed !== 'public') {
        const refusal = localRequestRefusal(request.headers.host, request.headers.origin)
        if (refusal !== undefined) return sendError(reply, 'SHADOWS_ERR_FORBIDDEN', refusal)
      }
      const verdict = authorize(tokens, request.headers.authorization, needed)
      if (verdict === 'unauthorized') {
        reply.header('www-authenticate', 'Bearer')
        return sendError(reply, 'SHADOWS_ERR_UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <token>)')
      }
      if (verdict === 'forbidden') return sendError(reply, 'SHADOWS_ERR_FORBIDDEN', `this token lacks the ${needed} scope`)
      return undefined
    })
  },
  { name: 'shadows-auth' },
)
