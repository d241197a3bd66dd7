/**
 * /docs and /openapi.json: the API, browsable (Swagger UI) and as an OpenAPI 3.1 document. The
 * document is built from every route's schemas, so this plugin is registered before the others.
 */
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import { DOCS_PATH } from '../../src/gateway/contract.js'

/**
 * The version of the HTTP contract this gateway serves (shown in the API docs): it changes when
 * the routes do, not with the package's version.
 */
export const HTTP_API_VERSION = '1.0.0'

/** How openapi.yaml describes the page at {@link DOCS_PATH}. */
const DOCS_PAGE = {
  operationId: 'getDocs',
  summary: 'This API, browsable (Swagger UI)',
  tags: ['docs'],
  security: [],
  response: { 200: { description: 'An HTML page.', content: { 'text/html': { schema: { type: 'string' } } } } },
}

/**
 * GET /docs (and its assets, not in the document), GET /openapi.json. Not encapsulated: the
 * document must see the routes registered beside it, and the app serves it (`app.swagger()`).
 */
export const docsRoutes = fp<Record<never, never>>(
  async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
    await app.register(swagger, {
      // name shared schemas by their $id in components/schemas
      refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'shadows',
          version: HTTP_API_VERSION,
          description: 'Add, schedule, replace, cancel and inspect background tasks; strike and restore. Errors share one shape.',
          license: { name: 'MIT', identifier: 'MIT' },
        },
        // where `shadows serve` and `shadows dev` listen by default; a generated client takes its own base URL
        servers: [{ url: 'http://127.0.0.1:8080', description: 'A local gateway (shadows serve)' }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
        tags: [
          { name: 'tasks', description: 'Add, schedule, replace, cancel and read tasks (scope enqueue; reads: read).' },
          { name: 'strikes', description: 'Skip tasks or parameter values (scope ops).' },
          { name: 'inspect', description: 'Snapshot and workers (scope read).' },
          { name: 'events', description: 'The events of tasks and strikes, live, as Server-Sent Events (scope read).' },
          { name: 'health', description: 'Liveness, readiness (public) and metrics (scope read).' },
          { name: 'docs', description: 'This API, browsable and as a document (public).' },
          { name: 'dashboard', description: 'The operator dashboard: its page and files (public; the page calls the API with the token a person enters).' },
        ],
      },
      // the UI plugin hides its routes; its page at /docs is part of the API, its assets are not
      transform: ({ schema, url, route }) =>
        // the UI's page is registered as /docs/ (and answers /docs too)
        url === `${DOCS_PATH}/` && route.method === 'GET' ? { schema: DOCS_PAGE, url: DOCS_PATH } : { schema, url },
    })
    await app.register(swaggerUi, { routePrefix: DOCS_PATH, uiConfig: { docExpansion: 'list' } })
    app.get(
      '/openapi.json',
      {
        config: { scope: 'public' },
        schema: {
          operationId: 'getOpenApiDocument',
          summary: 'This API as an OpenAPI 3.1 document (openapi.yaml, as JSON)',
          tags: ['docs'],
          security: [],
          response: { 200: Type.Object({}, { additionalProperties: true, 'x-response-description': 'The OpenAPI document.' }) },
        },
      },
      async () => app.swagger(),
    )
  },
  { name: 'shadows-docs' },
)
