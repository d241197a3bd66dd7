/**
 * The dashboard's only way to the data: the gateway's HTTP API, with the token a person entered.
 * The token lives in sessionStorage (this tab only, gone when it closes) and travels in the
 * Authorization header, never in a URL.
 */

const TOKEN_KEY = 'shadows.token'

/** The API's root: the page's modules are served under /ui/, the API beside /ui. */
export const API_ROOT = new URL('..', import.meta.url)

/** The token of this tab, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY)
}

/** Keeps `value` for this tab, or forgets the token when `value` is null. */
export function setToken(value) {
  if (value === null) sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, value)
}

/** The headers every call carries. */
export function authHeaders(extra = {}) {
  const current = token()
  return current ? { ...extra, authorization: `Bearer ${current}` } : extra
}

/** An answer that was not a success, with the gateway's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }

  /** The gateway serves no such route (an older gateway): a 404 that names no resource. */
  get missingRoute() {
    return this.status === 404 && /^no route /.test(this.message)
  }
}

/** Calls the API; resolves with the JSON body, rejects with an {@link ApiError}. */
export async function call(method, path, body) {
  const headers = authHeaders({ accept: 'application/json' })
  if (body !== undefined) headers['content-type'] = 'application/json'
  let response
  try {
    response = await fetch(new URL(path, API_ROOT), {
      method,
      headers,
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `the gateway cannot be reached (${err.message})`)
  }
  const text = await response.text()
  let parsed
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (!response.ok) {
    throw new ApiError(response.status, parsed?.code ?? 'HTTP', parsed?.message ?? `${response.status} ${response.statusText}`)
  }
  return parsed
}

const path = (key) => encodeURIComponent(key)

/** One function per route the dashboard uses. */
export const api = {
  snapshot: () => call('GET', 'snapshot'),
  workers: () => call('GET', 'workers'),
  strikes: () => call('GET', 'strikes'),
  list: (state, limit) => call('GET', `tasks?${new URLSearchParams({ state, limit: String(limit) })}`),
  get: (key) => call('GET', `tasks/${path(key)}`),
  cancel: (key) => call('DELETE', `tasks/${path(key)}`),
  retry: (key) => call('POST', `tasks/${path(key)}/retry`),
  strike: (rule) => call('POST', 'strikes', rule),
  restore: (id) => call('DELETE', `strikes/${path(id)}`),
}
