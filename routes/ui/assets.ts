/**
 * The dashboard's files, read once when the gateway starts: each held in memory as it is and
 * gzipped, with an ETag per form. The files sit in `assets/` beside this module, in the sources
 * and in dist/ alike (the build copies them), so the package serves them with no CDN and offline.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { gzipSync } from 'node:zlib'

/** Where the files are, beside this module. */
export const ASSETS_DIR = new URL('./assets/', import.meta.url)

/** The page itself; every other file is served under /ui/{file}. */
export const PAGE_FILE = 'index.html'

/** What an asset's name must look like: no path, no dot-file, one of the served types. */
export const ASSET_NAME = /^[a-z][a-z0-9-]*\.(?:js|css)$/

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}

/** One file, ready to send in either form. */
export interface Asset {
  readonly type: string
  readonly plain: Buffer
  readonly gzip: Buffer
  readonly etag: string
  readonly gzipEtag: string
}

function prepare(name: string, plain: Buffer): Asset {
  const type = CONTENT_TYPES[extname(name)]
  if (type === undefined) throw new Error(`the dashboard has a file of no known type: ${name}`)
  const tag = createHash('sha256').update(plain).digest('base64url').slice(0, 22)
  return { type, plain, gzip: gzipSync(plain, { level: 9 }), etag: `"${tag}"`, gzipEtag: `"${tag}-gz"` }
}

/** Reads and compresses every file of the dashboard: the page and its assets by name. */
export async function loadAssets(dir: URL = ASSETS_DIR): Promise<{ page: Asset; files: ReadonlyMap<string, Asset> }> {
  const names = (await readdir(dir)).sort()
  if (!names.includes(PAGE_FILE)) throw new Error(`the dashboard's ${PAGE_FILE} is missing from ${dir.pathname} (run npm run build)`)
  const files = new Map<string, Asset>()
  let page: Asset | undefined
  for (const name of names) {
    const asset = prepare(name, await readFile(new URL(name, dir)))
    if (name === PAGE_FILE) page = asset
    else if (ASSET_NAME.test(name)) files.set(name, asset)
    else throw new Error(`the dashboard's file ${name} has a name it cannot serve (${ASSET_NAME.source})`)
  }
  return { page: page as Asset, files }
}

/** Whether an `Accept-Encoding` header takes gzip (and does not refuse it with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false
  return header.split(',').some((part) => {
    const [coding = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase())
    if (coding !== 'gzip' && coding !== '*') return false
    const q = params.find((p) => p.startsWith('q='))
    return q === undefined || Number(q.slice(2)) > 0
  })
}

/** Whether `If-None-Match` names `etag` (or `*`). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '')
    return tag === '*' || tag === etag
  })
}
