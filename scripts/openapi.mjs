// Writes openapi.yaml from the routes and schemas the gateway registers (run: npm run openapi).
// A test compares the file with the running app, so the two cannot drift.
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'

const root = fileURLToPath(new URL('..', import.meta.url))
const { openApiDocument } = await import(`${root}/dist/src/gateway/openapi.js`)
writeFileSync(`${root}/openapi.yaml`, stringify(await openApiDocument(), { lineWidth: 0 }))
console.log('wrote openapi.yaml')
