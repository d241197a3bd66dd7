/**
 * JSON request bodies: Fastify's own parser (which refuses `__proto__` and `constructor.prototype`
 * keys), behind a limit on how deeply the JSON nests. A body within the size limit can still
 * nest tens of thousands of levels, which parses but overflows the stack when the params are
 * serialized again; such a body is a client error, not a 500. A body that is not valid UTF-8 is
 * refused too: decoding it would quietly replace the bad bytes, and store params the client
 * never sent.
 */
import { isUtf8 } from 'node:buffer'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ShadowsError } from '../core/errors.js'

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

/** Replaces the `application/json` parser with the default one behind the UTF-8 check and the nesting limit. */
export function installJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer
    if (!isUtf8(bytes)) {
      done(new ShadowsError('SHADOWS_ERR_MALFORMED_JSON', 'the body is not valid UTF-8 (JSON must be UTF-8)'), undefined)
      return
    }
    const text = bytes.toString('utf8')
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      done(new ShadowsError('SHADOWS_ERR_VALIDATION', `the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined)
      return
    }
    void parseJson(request, text, done)
  })
}

/** JSON bodies only (any other type is refused with 415), parsed by {@link installJsonParser}. */
export const bodyPlugin = fp(
  async (app) => {
    app.removeContentTypeParser('text/plain')
    installJsonParser(app)
  },
  { name: 'shadows-body' },
)
