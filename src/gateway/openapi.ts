/**
 * The OpenAPI document of the gateway, generated from the routes and schemas it registers.
 */
import { buildApp } from './app.js'
import { defineTask } from '../core/task.js'

/** Builds the app (without touching Redis) and returns its OpenAPI 3.1 document. */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const placeholder = defineTask({ name: 'example', run: () => undefined })
  // a lazy connection that is never used: the document does not depend on Redis
  const app = await buildApp({ tasks: [placeholder], url: 'redis://127.0.0.1:1/0', connectTimeout: 0 })
  try {
    await app.ready()
    return JSON.parse(JSON.stringify(app.swagger())) as Record<string, unknown>
  } finally {
    await app.close()
  }
}
