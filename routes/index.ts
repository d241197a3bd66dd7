/**
 * Every resource of the HTTP API, one plugin each. The only module of routes/ the app imports.
 * The docs come first: the OpenAPI document is built from the routes registered after them.
 */
import fp from 'fastify-plugin'
import { docsRoutes } from './docs/index.js'
import { eventRoutes } from './events/index.js'
import { healthRoutes } from './health/index.js'
import { inspectRoutes } from './inspect/index.js'
import { strikeRoutes } from './strikes/index.js'
import { taskRoutes } from './tasks/index.js'
import { uiRoutes } from './ui/index.js'

/** Registers the routes of every resource (not encapsulated: the app serves what they add). */
export const routes = fp<Record<never, never>>(
  async (app) => {
    await app.register(docsRoutes)
    await app.register(taskRoutes)
    await app.register(strikeRoutes)
    await app.register(inspectRoutes)
    await app.register(healthRoutes)
    await app.register(eventRoutes)
    await app.register(uiRoutes)
  },
  { name: 'shadows-routes' },
)
