/**
 * JSON request bodies: Fastify's own parser (which refuses `__proto__` and `constructor.prototype`
 * keys), behind a limit on how deeply the JSON nests. A body within the size limit can still
 * nest tens of thousands of levels, which parses but overflows the stack when the params are
 * serialized again; such a body is a client error, not a 500.
 */
import type { FastifyInstance } from 'fastify'
import { ShadowsError } from '../errors.js'

/** Deepest nesting of arrays and objects a JSON body may have. */
export const MAX_JSON_DEPTH = 100

const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/** Whether `text` nests arrays and objects deeper than `limit` (strings are skipped). Linear. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--
    }
  }
  return false
}

/** Replaces the `application/json` parser with the default one behind the nesting limit. */
export function installJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      done(new ShadowsError('SHADOWS_ERR_VALIDATION', `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined)
      return
    }
    parseJson(request, text, done)
  })
}
