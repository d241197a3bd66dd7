/**
 * How openapi.yaml describes the dashboard's page and its assets.
 */
import { Type } from '@sinclair/typebox'
import { errors } from '../../src/gateway/contract.js'

const etag = { ETag: { type: 'string', description: 'Tag of this version of the file; send it back in If-None-Match.' } }

const notModified = Type.Null({ description: 'Not modified: the ETag sent in If-None-Match is still current.' })

/** The route schema of GET /ui. */
export const PageSchema = {
  summary: 'The dashboard: an HTML page that calls this API from the browser',
  description:
    'The page holds no data: it reads and acts through the API, with the token a person enters (kept for the tab only), so scopes hold. ' +
    'Its own assets are served under /ui/{file}. GET /ui/ redirects here.',
  operationId: 'getDashboard',
  tags: ['dashboard'],
  security: [],
  response: {
    200: { description: 'The page (gzipped when the client accepts it).', headers: etag, content: { 'text/html': { schema: Type.String() } } },
    304: notModified,
  },
}

/**
 * The path parameter of /ui/{file}; empty for /ui/, which redirects to the page. Not constrained
 * here: a name that is not one of the files (`..`, encoded slashes, anything else) is a 404, not a
 * 400, so a probe learns nothing more than "no such file".
 */
export const AssetParams = Type.Object({
  file: Type.String({ description: 'The file name, e.g. app.js: lower-case letters, digits and dashes, then .js or .css.' }),
})

/** The route schema of GET /ui/{file}. */
export const AssetSchema = {
  summary: "A file of the dashboard's page (a JavaScript module or a style sheet)",
  operationId: 'getDashboardAsset',
  tags: ['dashboard'],
  security: [],
  params: AssetParams,
  response: {
    200: {
      description: 'The file (gzipped when the client accepts it).',
      headers: etag,
      content: { 'text/javascript': { schema: Type.String() }, 'text/css': { schema: Type.String() } },
    },
    301: Type.Null({
      description: 'For /ui/: the page is at /ui.',
      headers: { Location: { type: 'string', description: 'The page, relative to this URL.', examples: ['../ui'] } },
    }),
    304: notModified,
    ...errors(404),
  },
}
