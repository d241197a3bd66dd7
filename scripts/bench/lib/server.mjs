// An HTTP server in its own process, forked by the http and footprint scenarios:
//   gateway  shadows' gateway (buildApp + listen) with one no-op task registered
//   fastify  a bare Fastify app whose POST /tasks parses the JSON body and answers 202
// It reports { listening: port, at } once listening, answers 'rss' with { rss }, and on 'close' (or
// when its parent goes away) closes the app and exits.
import { benchLogger, distUrl, noopTask, now } from './common.mjs'

const { kind, url, name } = JSON.parse(process.argv[2] ?? '{}')

let app
if (kind === 'gateway') {
  const { buildApp } = await import(distUrl('gateway/app.js'))
  const { listen } = await import(distUrl('gateway/server.js'))
  const noop = await noopTask()
  app = await buildApp({ tasks: [noop], name, url, logger: benchLogger() })
  await listen(app, { host: '127.0.0.1', port: 0, authenticated: false })
} else if (kind === 'fastify') {
  const { default: Fastify } = await import('fastify')
  app = Fastify({ logger: false })
  app.post('/tasks', async (_request, reply) => reply.code(202).send({ accepted: true }))
  await app.listen({ host: '127.0.0.1', port: 0 })
} else {
  throw new Error(`unknown server kind ${kind}`)
}

let closing
function close() {
  closing ??= app.close().finally(() => process.exit(0))
  return closing
}

process.on('message', (message) => {
  if (message === 'rss') process.send({ rss: process.memoryUsage().rss })
  else if (message === 'close') void close()
})
process.on('disconnect', () => void close())
process.send({ listening: app.server.address().port, at: now() })
