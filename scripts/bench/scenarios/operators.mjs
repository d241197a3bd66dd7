// operators: what task history, the events log, list() and GET /events cost.
//   drain   N no-op tasks drained at c=100 with history and events on (the defaults), with both off
//           (historyLimit: 0, eventsLimit: 0) and by BullMQ, as drain.mjs runs them, A B C A B C
//   memory  Redis used_memory per finished task, on a fresh private redis-server per variant: N tasks
//           completed with both off, with history only, with events only (limits above N, so that
//           nothing is trimmed: the cost per entry) and with the defaults; MEMORY USAGE of the
//           history indexes and the events log once full (default limits of 10,000)
//   list    GET /tasks?state=failed&limit=100 through a gateway in its own process, and shadow.list
//           directly, sequentially, with N failed tasks stored (a private redis-server)
//   sse     idle GET /events clients (plain http.get, in a process of their own) on one gateway: the
//           gateway's RSS and heap (after a full GC) before and after they connect, the Redis
//           connections it holds, and how long one event takes to reach the last client
import { performance } from 'node:perf_hooks'
import {
  benchLogger,
  deferred,
  deleteShadowKeys,
  lib,
  noopTask,
  percentile,
  plainRedis,
  privateRedis,
  round,
  shadowsFill,
  sleep,
  usedMemory,
  waitAcknowledged,
  within,
} from '../lib/common.mjs'
import { forkHelper } from '../lib/processes.mjs'
import { drainBull, drainShadows } from './drain.mjs'

const CONCURRENCY = 100
const PAGE = 100
const OFF = Object.freeze({ historyLimit: 0, eventsLimit: 0 })
/** The default historyLimit and eventsLimit (DEFAULT_HISTORY_LIMIT, DEFAULT_EVENTS_LIMIT). */
const DEFAULT_LIMIT = 10_000
/** Events a task that completes at its first attempt writes: added, started, completed. */
const EVENTS_PER_TASK = 3
/** History entries per finished task: one in the index of its state, one in that of its state and task name. */
const ENTRIES_PER_TASK = 2
const MB = 2 ** 20

const LIST_PATH = `/tasks?state=failed&limit=${PAGE}`

export const scenario = {
  name: 'operators',
  title: 'the cost of task history, the events log, list() and GET /events',
  notes: [
    'operators drain: as drain.mjs at c=100; "shadows" has history and events on (historyLimit and eventsLimit 10,000, the defaults), "shadows-off" has historyLimit: 0, eventsLimit: 0. BullMQ keeps its defaults apart from the jobs\' removeOnComplete/removeOnFail: true: no finished jobs kept, its events stream on (XADD per transition, MAXLEN ~10,000).',
    'operators memory: used_memory after − before completing N no-op tasks, ÷ N, on a fresh private redis-server per variant (records kept 15 min in every variant); history and events per task are each variant minus the off one, with limits above N (nothing trimmed); "default limits" is both on at 10,000 (the events log keeps 10,000 events, about 3,333 tasks; the history indexes 10,000 tasks each). Full sizes are MEMORY USAGE … SAMPLES 0 of the history indexes (state, state:task) and of the events log.',
    `operators list: N tasks that fail at their first attempt, stored on a private redis-server; ${PAGE} per page; sequential requests on one keep-alive connection (fetch) to a gateway in its own process, after 20 warm-up requests; shadow.list the same way in the measuring process.`,
    'operators sse: a gateway (server.mjs, defaults) in its own process, forked with --expose-gc; its memory is read after a full GC, before the clients connect (after a few ordinary requests) and once they all have their headers and a settling time passed; Redis connections are counted with CLIENT LIST on a private redis-server; fan-out is from one add to the last client receiving its `added` event.',
  ],
  cases({ quick, n }) {
    // both limits default to 10,000: memory and list store that many finished tasks in either mode
    const finished = n ?? DEFAULT_LIMIT
    return [
      { id: 'drain', systems: ['shadows', 'shadows-off', 'bullmq'], params: { part: 'drain', n: n ?? (quick ? 10_000 : 50_000), concurrency: CONCURRENCY } },
      { id: 'memory', systems: ['shadows'], params: { part: 'memory', n: finished } },
      { id: 'list', systems: ['shadows'], params: { part: 'list', n: finished, requests: quick ? 200 : 1000 } },
      { id: 'sse', systems: ['shadows'], params: { part: 'sse', clients: Math.min(1000, n ?? 1000), settle: quick ? 1000 : 3000 } },
    ]
  },
  targets: {
    'drain throughput c=100': [
      { ref: 'bullmq', kind: 'ratio>=', value: 3, text: '≥ 3× BullMQ, history and events on' },
      { ref: 'bullmq', subject: 'shadows-off', kind: 'ratio>=', value: 3, text: '≥ 3× BullMQ, history and events off' },
      { ref: 'shadows-off', kind: null, text: 'on ÷ off (report)' },
    ],
    'Redis connections added by the SSE clients': [{ kind: 'value<=', value: 1, text: 'one reader' }],
  },
  async measure(spec) {
    const part = { drain: measureDrain, memory: measureMemory, list: measureList, sse: measureSse }[spec.params.part]
    return part(spec)
  },
}

async function measureDrain({ system, params, url, name }) {
  const run = system === 'bullmq' ? drainBull : drainShadows
  const shadowOptions = system === 'shadows-off' ? OFF : {}
  const { elapsed } = await within(run({ ...params, url, name, shadowOptions }), 600_000, `drain ${system}`)
  return [
    {
      figure: `drain throughput c=${params.concurrency}`,
      value: round(params.n / (elapsed / 1000)),
      unit: 'tasks/s',
      n: params.n,
      seconds: round(elapsed / 1000, 3),
    },
  ]
}

async function measureMemory({ params, url, name }) {
  const { n } = params
  // above what N tasks write: nothing is trimmed, so that the difference is the cost per entry
  const unbounded = 10 * Math.max(n, DEFAULT_LIMIT)
  const off = await finishedMemory({ n, url, name, options: OFF })
  const history = await finishedMemory({ n, url, name, options: { historyLimit: unbounded, eventsLimit: 0 } })
  const events = await finishedMemory({ n, url, name, options: { historyLimit: 0, eventsLimit: unbounded } })
  const both = await finishedMemory({ n, url, name, options: {} })
  const perTask = (variant) => round((variant.bytes - off.bytes) / n, 1)
  const common = { n, privateRedis: off.private }
  return [
    { figure: 'finished task, history and events off', value: round(off.bytes / n, 1), unit: 'B/task', ...common },
    {
      figure: 'history per finished task',
      value: perTask(history),
      unit: 'B/task',
      perEntry: round((history.bytes - off.bytes) / n / ENTRIES_PER_TASK, 1),
      entriesPerTask: ENTRIES_PER_TASK,
      ...common,
    },
    {
      figure: 'events per finished task',
      value: perTask(events),
      unit: 'B/task',
      perEvent: round((events.bytes - off.bytes) / n / EVENTS_PER_TASK, 1),
      eventsPerTask: EVENTS_PER_TASK,
      logEvents: events.logEvents,
      logEntries: events.logEntries,
      ...common,
    },
    { figure: 'history + events per finished task, default limits', value: perTask(both), unit: 'B/task', ...common },
    {
      figure: 'history indexes at the default limit',
      value: both.historyBytes,
      unit: 'B',
      entries: both.historyEntries,
      full: both.historyEntries.every((e) => e >= DEFAULT_LIMIT),
      perEntry: round(both.historyBytes / both.historyEntries.reduce((a, b) => a + b, 0), 1),
      ...common,
    },
    {
      figure: 'events log at the default limit',
      value: both.logBytes,
      unit: 'B',
      events: both.logEvents,
      entries: both.logEntries,
      full: both.logEvents >= DEFAULT_LIMIT,
      perEvent: round(both.logBytes / both.logEvents, 1),
      ...common,
    },
  ]
}

/**
 * Completes `n` no-op tasks on a fresh private redis-server with `options` given to the Shadow;
 * answers used_memory after − before, and the sizes of the history indexes and the events log.
 */
async function finishedMemory({ n, url, name, options }) {
  const server = await privateRedis(url)
  const admin = plainRedis(server.url)
  const { Shadow } = await lib()
  const logger = benchLogger()
  const shadow = new Shadow({ ...options, name, url: server.url, logger })
  const keys = shadow.keys
  try {
    // loads the scripts and makes the consumer group's first connections: only the tasks are measured
    await completeTasks(shadow, 1, logger)
    await deleteShadowKeys(shadow.redis, name)
    const before = await usedMemory(admin)
    await completeTasks(shadow, n, logger)
    const bytes = (await usedMemory(admin)) - before
    const indexes = [keys.history('completed'), keys.history('completed', 'noop')]
    const historyEntries = await Promise.all(indexes.map((key) => tasksHeld(admin, key)))
    const historyBytes = (await Promise.all(indexes.map((key) => admin.memory('USAGE', key, 'SAMPLES', 0)))).reduce((a, b) => a + (b ?? 0), 0)
    const logEntries = await admin.xlen(keys.eventLog)
    const logEvents = await eventsHeld(admin, keys.eventLog)
    const logBytes = (await admin.memory('USAGE', keys.eventLog, 'SAMPLES', 0)) ?? 0
    return { bytes, historyEntries, historyBytes, logEntries, logEvents, logBytes, private: server.private }
  } finally {
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
    admin.disconnect()
    await server.stop()
  }
}

/** How many tasks the history index `index` holds: each entry holds the keys of one script call, separated by \x1f. */
async function tasksHeld(redis, index) {
  let tasks = 0
  for (const [, fields] of await redis.xrange(index, '-', '+')) {
    const at = fields.indexOf('k')
    if (at >= 0) tasks += fields[at + 1].split('\x1f').length
  }
  return tasks
}

/** How many events the events log `log` holds: each entry holds those of one script call, separated by \x1e. */
async function eventsHeld(admin, log) {
  let events = 0
  for (const [, fields] of await admin.xrange(log, '-', '+')) {
    const at = fields.indexOf('e')
    events += at >= 0 ? fields[at + 1].split('\x1e').length : 1
  }
  return events
}

/** Adds `n` no-op tasks and has a worker (c=100) complete them; resolves once every outcome is written. */
async function completeTasks(shadow, n, logger) {
  const allRan = deferred()
  let ran = 0
  const noop = await noopTask(() => {
    if (++ran === n) allRan.resolve()
  })
  await shadowsFill(shadow, n, () => ({ task: noop, params: {} }))
  await runUntil(shadow, noop, allRan, logger)
}

/** Runs a worker for `task` until `done` settles and every message is acknowledged (its outcome written). */
async function runUntil(shadow, task, done, logger) {
  const { Worker } = await lib()
  const worker = new Worker(shadow, { tasks: [task], concurrency: CONCURRENCY, logger })
  const running = worker.run()
  running.catch(done.reject)
  try {
    await within(done.promise, 300_000, `${task.name} tasks`)
    await waitAcknowledged(shadow.redis, shadow.keys.stream)
  } finally {
    await worker.close()
    await running
  }
}

async function measureList({ params, url, name }) {
  const { n, requests } = params
  const server = await privateRedis(url)
  const { Shadow, defineTask } = await lib()
  const { Type } = await import('@sinclair/typebox')
  const logger = benchLogger()
  const shadow = new Shadow({ name, url: server.url, logger })
  let gateway
  try {
    const allFailed = deferred()
    let ran = 0
    const failing = defineTask({
      name: 'fail',
      params: Type.Object({}),
      async run() {
        if (++ran === n) allFailed.resolve()
        throw new Error('this task always fails')
      },
    })
    await shadowsFill(shadow, n, () => ({ task: failing, params: {} }))
    // the worker logs every failed attempt as an error: not N lines of stderr
    await runUntil(shadow, failing, allFailed, logger.child({}, { level: 'fatal' }))
    const stored = await tasksHeld(shadow.redis, shadow.keys.history('failed'))

    gateway = forkHelper('server.mjs', { kind: 'gateway', url: server.url, name })
    const { listening: port } = await gateway.next((m) => m.listening !== undefined, 30_000, 'gateway start')
    const target = `http://127.0.0.1:${port}${LIST_PATH}`
    let bytes = 0
    const viaHttp = await timeEach(requests, async () => {
      const response = await fetch(target)
      const text = await response.text()
      if (response.status !== 200) throw new Error(`GET ${LIST_PATH} answered ${response.status}: ${text.slice(0, 300)}`)
      bytes = text.length
      checkPage(JSON.parse(text), Math.min(PAGE, stored), `GET ${LIST_PATH}`)
    })
    const direct = await timeEach(requests, async () => checkPage(await shadow.list({ state: 'failed', limit: PAGE }), Math.min(PAGE, stored), 'shadow.list'))
    const common = { stored, requests, privateRedis: server.private }
    return [
      { figure: `GET ${LIST_PATH} median`, value: round(percentile(viaHttp, 50), 2), unit: 'ms', responseBytes: bytes, ...common },
      { figure: `GET ${LIST_PATH} p99`, value: round(percentile(viaHttp, 99), 2), unit: 'ms', ...common },
      { figure: `shadow.list failed limit=${PAGE} median`, value: round(percentile(direct, 50), 2), unit: 'ms', ...common },
      { figure: `shadow.list failed limit=${PAGE} p99`, value: round(percentile(direct, 99), 2), unit: 'ms', ...common },
    ]
  } finally {
    await gateway?.stop()
    await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
    await server.stop()
  }
}

/** A page must be full (every stored task is failed): an empty or short page would time nothing. */
function checkPage(page, expected, what) {
  if (page.tasks.length !== expected || page.tasks.some((t) => t.state !== 'failed')) {
    throw new Error(`${what} listed ${page.tasks.length} task(s), expected ${expected} failed ones`)
  }
}

/** Runs `call` 20 times to warm up, then `count` times one after another; answers the times in ms, sorted. */
async function timeEach(count, call) {
  for (let i = 0; i < 20; i++) await call()
  const times = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    await call()
    times.push(performance.now() - started)
  }
  return times.sort((a, b) => a - b)
}

async function measureSse({ params, url, name }) {
  const { clients: count, settle } = params
  const server = await privateRedis(url)
  const admin = plainRedis(server.url)
  const gateway = forkHelper('server.mjs', { kind: 'gateway', url: server.url, name }, { gc: true })
  let clients
  let shadow
  try {
    const { listening: port } = await gateway.next((m) => m.listening !== undefined, 30_000, 'gateway start')
    // a few ordinary requests first, so that "before" is a gateway that has served some
    for (let i = 0; i < 20; i++) await getOk(`http://127.0.0.1:${port}${LIST_PATH}`)
    const before = await gatewayMemory(gateway)
    const connectionsBefore = await redisClients(admin)

    clients = forkHelper('sse-clients.mjs', { port, path: '/events', count })
    const failed = clients
      .next((m) => m.failed !== undefined, 3_600_000, 'SSE clients')
      .then(
        (m) => Promise.reject(new Error(m.failed)),
        () => new Promise(() => undefined),
      )
    const connectStarted = performance.now()
    const connected = await Promise.race([clients.next((m) => m.connected !== undefined, 120_000, 'SSE clients connecting'), failed])
    const connectSeconds = (performance.now() - connectStarted) / 1000
    if (connected.connected !== count) throw new Error(`${connected.connected} of ${count} SSE clients connected`)
    await sleep(settle)
    const after = await gatewayMemory(gateway)
    const connectionsAfter = await redisClients(admin)

    // one event, to every client: they are live subscribers, not merely open sockets
    const { Shadow } = await lib()
    shadow = new Shadow({ name, url: server.url, logger: benchLogger() })
    const received = clients.next((m) => m.received !== undefined, 30_000, 'the event at every SSE client')
    const added = performance.timeOrigin + performance.now()
    await shadow.add('noop')({})
    const { at } = await Promise.race([received, failed])

    const perClient = (field) => round((after[field] - before[field]) / count / 1024, 2)
    const common = { clients: count, privateRedis: server.private }
    return [
      {
        figure: `gateway RSS with ${count} SSE clients`,
        value: round(after.rss / MB, 1),
        unit: 'MB',
        beforeMB: round(before.rss / MB, 1),
        heapUsedBeforeMB: round(before.heapUsed / MB, 2),
        heapUsedAfterMB: round(after.heapUsed / MB, 2),
        connectSeconds: round(connectSeconds, 2),
        ...common,
      },
      { figure: 'gateway RSS per SSE client', value: perClient('rss'), unit: 'KB', ...common },
      { figure: 'gateway heap per SSE client', value: perClient('heapUsed'), unit: 'KB', externalPerClientKB: perClient('external'), ...common },
      {
        figure: 'Redis connections added by the SSE clients',
        value: connectionsAfter.length - connectionsBefore.length,
        unit: 'connections',
        before: connectionsBefore,
        after: connectionsAfter,
        ...common,
      },
      { figure: `one event fanned out to ${count} SSE clients`, value: round(at - added, 1), unit: 'ms', ...common },
    ]
  } finally {
    await clients?.stop()
    await gateway.stop()
    if (shadow) {
      await deleteShadowKeys(shadow.redis, name)
      await shadow.close()
    }
    admin.disconnect()
    await server.stop()
  }
}

/** GET `target` until it answers 200 (the gateway answers 503 until its Redis connection is ready). */
async function getOk(target) {
  for (let tries = 0; ; tries++) {
    const response = await fetch(target)
    const text = await response.text()
    if (response.status === 200) return
    if (response.status !== 503 || tries >= 50) throw new Error(`${target} answered ${response.status}: ${text.slice(0, 300)}`)
    await sleep(20)
  }
}

/** The gateway process's memory (process.memoryUsage()) after a full GC. */
async function gatewayMemory(gateway) {
  gateway.child.send('memory')
  const { memory } = await gateway.next((m) => m.memory !== undefined, 10_000, 'gateway memory')
  return memory
}

/** The names of the connections to a private Redis other than `admin`'s own. */
async function redisClients(admin) {
  const own = await admin.client('ID')
  return (await admin.client('LIST'))
    .split('\n')
    .filter((line) => line.startsWith('id=') && !line.startsWith(`id=${own} `))
    .map((line) => /\bname=(\S*)/.exec(line)?.[1] || '(unnamed)')
}
