// Idle Server-Sent Events clients in their own process, forked by the operators scenario so that the
// gateway's memory is its own: opens `count` plain `http.get` requests to `path` on 127.0.0.1:`port`
// (`parallel` connecting at a time, one socket each), waits for each one's 200 and headers, then
// reports { connected, at }. When every client has received an event of type `awaitType`, it
// reports { received, at } (the time the last one got it). A stream that ends or fails before
// 'close' is reported as { failed: message }. On 'close' (or when its parent goes away) it
// destroys every socket and exits.
import http from 'node:http'
import { now } from './common.mjs'

const { port, path, count, parallel = 50, awaitType = 'added' } = JSON.parse(process.argv[2] ?? '{}')

// no pooling, no keep-alive: one socket per stream, as separate browsers would hold
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity })
const requests = []
let received = 0
let closing = false
const marker = `event: ${awaitType}\n`

function fail(message) {
  if (closing) return
  process.send({ failed: message })
}

/** One client: resolves once the stream's headers arrived. */
function connect() {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent, headers: { accept: 'text/event-stream' } }, (response) => {
      if (response.statusCode !== 200) {
        response.resume()
        reject(new Error(`GET ${path} answered ${response.statusCode}`))
        return
      }
      let text = ''
      let got = false
      response.setEncoding('utf8')
      response.on('data', (chunk) => {
        if (got) return
        text += chunk
        if (!text.includes(marker)) {
          // only what may still hold the start of the marker is kept
          text = text.slice(-marker.length)
          return
        }
        got = true
        text = ''
        if (++received === count) process.send({ received, at: now() })
      })
      response.once('end', () => fail(`a stream of ${path} ended`))
      resolve()
    })
    request.once('error', (err) => {
      reject(err)
      fail(`a client of ${path} failed: ${err.message}`)
    })
    requests.push(request)
  })
}

try {
  let next = 0
  const lane = async () => {
    while (next < count) {
      next += 1
      await connect()
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, lane))
  process.send({ connected: requests.length, at: now() })
} catch (err) {
  fail(`could not connect ${count} clients: ${err.message}`)
}

function close() {
  if (closing) return
  closing = true
  for (const request of requests) request.destroy()
  process.exit(0)
}
process.on('message', (message) => message === 'close' && close())
process.on('disconnect', close)
