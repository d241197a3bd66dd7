// An HTTP server in its own process, forked by the http and footprint scenarios:
//   gateway  shadows' gateway (buildApp + listen) with one no-op task registered
//   fastify  a bare Fastify app whose POST /tasks parses the JSON body and answers 202
//   bullmq   what a Node user would write instead of the gateway: a Fastify route that validates
//            the body of the gateway's POST /tasks with an equivalent JSON schema and awaits
//            BullMQ's Queue.add (key → jobId, when/delay → delay), then answers 202
//   xadd     the same route storing each request with one awaited XADD (ioredis): the ceiling of
//            a route that stores one request at a time
// It reports { listening: port, at } once listening, answers 'rss' with { rss } and 'memory' with
// { memory } (process.memoryUsage(), after a full GC when forked with --expose-gc), and on 'close' (or
// when its parent goes away) closes the app and exits. The keys the references write (BullMQ's
// `bull:<name>:*`, the stream `<name>:stream`) are deleted by the measuring process once this one
// has exited, so that they go even when it had to be killed.
import { randomUUID } from 'node:crypto'
import { BULL_JOB_OPTIONS, benchLogger, bullConnection, distUrl, noopTask, now, xaddStream } from './common.mjs'

/** The task names the reference routes accept, as the gateway accepts its registered tasks. */
const TASKS = new Set(['noop'])

/**
 * The gateway's POST /tasks body as plain JSON schema (task, params, key?, when? or delay?, nothing
 * else), with the no-op task's params (an object) checked in the same pass: the gateway checks
 * them against the task's schema after the body's.
 */
const ADD_BODY_SCHEMA = Object.freeze({
  type: 'object',
  properties: {
    task: { type: 'string' },
    params: { type: 'object' },
    key: { type: 'string' },
    when: { type: 'string' },
    delay: { type: 'number', minimum: 0 },
  },
  required: ['task'],
  additionalProperties: false,
})

/** The gateway's validator settings: no coercion, no removal, first error only. */
const AJV = { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } }

const { kind, url, name } = JSON.parse(process.argv[2] ?? '{}')

let app
let closeStore = async () => undefined
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
} else if (kind === 'bullmq') {
  const { Queue } = await import('bullmq')
  const queue = new Queue(name, { connection: bullConnection(url) })
  await queue.waitUntilReady()
  closeStore = () => queue.close()
  app = await referenceApp(async (body) => {
    const delay = dueIn(body)
    const job = await queue.add(body.task, body.params ?? {}, {
      ...BULL_JOB_OPTIONS,
      ...(body.key !== undefined ? { jobId: body.key } : {}),
      ...(delay > 0 ? { delay } : {}),
    })
    return { key: job.id, task: body.task, when: new Date(Date.now() + delay).toISOString(), state: delay > 0 ? 'scheduled' : 'queued' }
  })
} else if (kind === 'xadd') {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { maxRetriesPerRequest: 3 })
  await redis.ping()
  closeStore = async () => void (await redis.quit())
  const stream = xaddStream(name)
  app = await referenceApp(async (body) => {
    const key = body.key ?? randomUUID()
    await redis.xadd(stream, '*', 'task', body.task, 'key', key, 'params', JSON.stringify(body.params ?? {}))
    return { key, task: body.task, when: new Date().toISOString(), state: 'queued' }
  })
} else {
  throw new Error(`unknown server kind ${kind}`)
}

/** A Fastify app whose POST /tasks validates the body like the gateway and answers 202 with what `store` returns. */
async function referenceApp(store) {
  const { default: Fastify } = await import('fastify')
  const fastify = Fastify({ logger: false, ajv: AJV })
  fastify.post('/tasks', { schema: { body: ADD_BODY_SCHEMA } }, async (request, reply) => {
    const body = request.body
    if (!TASKS.has(body.task)) return reply.code(400).send({ error: 'Bad Request', message: `no task named ${body.task}` })
    if (body.when !== undefined && body.delay !== undefined) return reply.code(400).send({ error: 'Bad Request', message: 'when or delay, not both' })
    if (body.when !== undefined && Number.isNaN(Date.parse(body.when))) return reply.code(400).send({ error: 'Bad Request', message: 'when is no date' })
    return reply.code(202).send(await store(body))
  })
  await fastify.listen({ host: '127.0.0.1', port: 0 })
  return fastify
}

/** Milliseconds until the body's due time (0: now). */
function dueIn(body) {
  if (body.delay !== undefined) return Math.round(body.delay)
  if (body.when !== undefined) return Math.max(0, Date.parse(body.when) - Date.now())
  return 0
}

let closing
function close() {
  closing ??= app
    .close()
    .then(closeStore)
    .finally(() => process.exit(0))
  return closing
}

process.on('message', (message) => {
  if (message === 'rss') process.send({ rss: process.memoryUsage().rss })
  else if (message === 'memory') {
    // forked with --expose-gc (forkHelper's gc option): heap figures without garbage not yet collected
    globalThis.gc?.()
    process.send({ memory: process.memoryUsage() })
  } else if (message === 'close') void close()
})
process.on('disconnect', () => void close())
process.send({ listening: app.server.address().port, at: now() })
