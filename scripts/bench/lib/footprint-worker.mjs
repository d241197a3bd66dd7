// A worker in its own process, forked by the footprint scenario: it imports its library, starts one
// worker (shadows or BullMQ, concurrency 10, no-op task), reports { firstTask: at } when the first
// task runs, then { rss } after `idle` ms with nothing to do; on 'close' it closes and exits.
import { BULL_WORKER_OPTIONS, benchLogger, bullConnection, lib, noopTask, now, sleep } from './common.mjs'

const { system, url, name, idle } = JSON.parse(process.argv[2] ?? '{}')

let ranFirst = false
function onRun() {
  if (ranFirst) return
  ranFirst = true
  process.send({ firstTask: now() })
  void sleep(idle).then(() => process.send({ rss: process.memoryUsage().rss }))
}

let close
if (system === 'shadows') {
  const { Shadow, Worker } = await lib()
  const logger = benchLogger()
  const shadow = new Shadow({ name, url, logger })
  const worker = new Worker(shadow, { tasks: [await noopTask(onRun)], concurrency: 10, logger })
  const running = worker.run()
  close = async () => {
    await worker.close()
    await running
    await shadow.close()
  }
} else {
  const { Worker } = await import('bullmq')
  const worker = new Worker(name, async () => onRun(), { connection: bullConnection(url), concurrency: 10, ...BULL_WORKER_OPTIONS })
  close = () => worker.close()
}

let closing
const stop = () => {
  closing ??= close().finally(() => process.exit(0))
}
process.on('message', (message) => message === 'close' && stop())
process.on('disconnect', stop)
