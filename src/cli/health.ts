/**
 * A worker's health endpoints, for Kubernetes probes and container health checks, on a port of
 * their own (a tiny node:http server: a worker runs no Fastify): `/health/live` answers 200 while
 * the process runs; `/health/ready` answers 200 when Redis is reachable and the read loop is alive,
 * 503 otherwise, with `{ status, redis, readLoop }`.
 */
import { once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import type { WorkerHealth } from '../worker/worker.js'

/** How long readiness waits for Redis to answer its PING, in ms: a probe must not hang. */
export const READY_PING_TIMEOUT = 1_000

/** What `/health/ready` answers. */
export interface ReadyReply {
  readonly status: 'ok' | 'unavailable'
  readonly redis: boolean
  readonly readLoop: boolean
}

/** The reply and HTTP status of `/health/ready` for a worker's health. */
export function readyReply(health: Pick<WorkerHealth, 'redis' | 'readLoop'>): { statusCode: 200 | 503; body: ReadyReply } {
  const ready = health.redis && health.readLoop
  return { statusCode: ready ? 200 : 503, body: { status: ready ? 'ok' : 'unavailable', redis: health.redis, readLoop: health.readLoop } }
}

function sendJson(response: ServerResponse, statusCode: number, body: unknown): void {
  response.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body))
}

/**
 * Serves `/health/live` and `/health/ready` on http://host:port (port 0: any free one; see
 * `server.address()`). `health` is asked on every readiness probe, and must resolve within its own
 * bound (`worker.health()` does).
 */
export async function serveHealth(health: () => Promise<WorkerHealth>, port: number, host: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = request.url?.split('?')[0]
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(response.setHeader('allow', 'GET, HEAD'), 405, { status: 'method not allowed' })
    } else if (path === '/health/live') {
      sendJson(response, 200, { status: 'ok' })
    } else if (path === '/health/ready') {
      health().then(
        (current) => {
          const { statusCode, body } = readyReply(current)
          sendJson(response, statusCode, body)
        },
        () => sendJson(response, 503, { status: 'unavailable', redis: false, readLoop: false }),
      )
    } else {
      sendJson(response, 404, { status: 'not found; try /health/live or /health/ready' })
    }
  })
  server.listen(port, host)
  await once(server, 'listening')
  return server
}

/** Stops `server` at once: probes still connected are cut off, as the process is about to exit. */
export function closeHealth(server: Server): void {
  server.close()
  server.closeAllConnections()
}
