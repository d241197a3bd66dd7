/**
 * /ui: the operator dashboard. The page and its files are public because they hold no data: the
 * page reads and acts through this same API from the browser, with the token a person enters, so
 * every scope holds. A strict Content-Security-Policy lets the page run only its own scripts and
 * styles and talk only to this gateway.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ShadowsError } from '../../src/index.js'
import { ASSET_NAME, acceptsGzip, loadAssets, matchesEtag, type Asset } from './assets.js'
import { AssetSchema, PageSchema } from './schemas.js'

/**
 * The page's policy: scripts, styles and requests of its own origin only, no inline script or
 * style (neither `'unsafe-inline'` nor `'unsafe-eval'`), no plugins, no framing, no form posted
 * anywhere, no `<base>` to move relative URLs.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** Sends one file: gzipped when accepted, 304 when the client's copy is current. */
function send(request: FastifyRequest, reply: FastifyReply, asset: Asset): FastifyReply {
  const gzip = acceptsGzip(request.headers['accept-encoding'])
  const etag = gzip ? asset.gzipEtag : asset.etag
  // revalidated on each load (a 304 costs a few bytes), so an upgraded gateway serves its new page at once
  reply.header('cache-control', 'no-cache').header('vary', 'accept-encoding').header('etag', etag).header('x-content-type-options', 'nosniff')
  if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send()
  reply.type(asset.type)
  if (gzip) reply.header('content-encoding', 'gzip')
  return reply.send(gzip ? asset.gzip : asset.plain)
}

/** GET /ui and GET /ui/{file}. */
export const uiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { page, files } = await loadAssets()

  app.get('/ui', { config: { scope: 'public' }, schema: PageSchema }, async (request, reply) => {
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
    return send(request, reply, page)
  })

  app.get('/ui/:file', { config: { scope: 'public' }, schema: AssetSchema }, async (request, reply) => {
    const { file } = request.params
    // relative URLs in the page resolve against /ui, not /ui/
    if (file === '') return reply.redirect('../ui', 301)
    // looked up by exact name among the files read at start-up: `..`, slashes (encoded or not),
    // dot-files and the page under its file name are no key of the map, so nothing else is ever
    // read; every such name is a 404 like any unknown one, and the name is not echoed back
    const asset = ASSET_NAME.test(file) ? files.get(file) : undefined
    if (asset === undefined) throw new ShadowsError('SHADOWS_ERR_NOT_FOUND', 'the dashboard has no such file')
    return send(request, reply, asset)
  })
}
