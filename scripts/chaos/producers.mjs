// The producers: enqueue the run's tasks, half over HTTP (the gateway) and half with the library,
// half immediate and half scheduled within ±5 s, at a steady rate: mostly `record`, one in ten
// `limited` (a concurrency limit per group of ten) and one in ten `rated` (a rate limit).
//
// A 202 or 200 answer, or a library add that resolved, is a promise: the key goes into `accepted`.
// Anything else (a 503, a connection error, a rejected promise) is not, and the same logical task
// is offered again later under a NEW key (n<i>r<try>): the failed request may still have been
// stored, and re-adding the same key after that task finished would run it a second time, which
// would be counted as a duplicate of the engine when it is one of the harness.
import { setTimeout as sleep } from 'node:timers/promises'

const HTTP_TIMEOUT_MS = 15_000
const RETRY_AFTER_MS = 400

export class Producers {
  /**
   * @param plan.total logical tasks
   * @param plan.rate first offers per second
   * @param plan.rng seeded generator (the plan is drawn from it up front)
   * @param gatewayUrl http://127.0.0.1:port
   * @param shadow a library client on the run's shadow
   */
  constructor({ total, rate, rng, gatewayUrl, shadow, concurrency = 8 }) {
    this.total = total
    this.rate = rate
    this.gatewayUrl = gatewayUrl
    this.shadow = shadow
    this.concurrency = concurrency
    /** Per logical task: channel, scheduled or not, offset of its due time, how long it runs. */
    this.plan = Array.from({ length: total }, () => ({
      channel: rng.random() < 0.5 ? 'http' : 'lib',
      scheduled: rng.random() < 0.5,
      offset: rng.int(-5000, 5000),
      // mostly short; one in ten runs long enough to be in flight when a worker is killed
      ms: rng.random() < 0.9 ? rng.int(0, 30) : rng.int(200, 1000),
      ...pickTask(rng),
    }))
    this.byChannel = { http: [], lib: [] }
    this.plan.forEach((p, i) => this.byChannel[p.channel].push(i))
    this.nextFirst = { http: 0, lib: 0 }
    this.retries = { http: [], lib: [] }
    this.tries = new Array(total).fill(0)
    this.done = new Array(total).fill(false)
    this.doneCount = { http: 0, lib: 0 }
    /** key → { i, channel, scheduled, acceptedAt } */
    this.accepted = new Map()
    this.stopped = false
    this.t0 = 0
    this.stats = {
      http: { requests: 0, statuses: {}, connectionErrors: 0, timeouts: 0 },
      lib: { adds: 0, rejected: 0, errors: {} },
      retried: 0,
      immediate: 0,
      scheduled: 0,
      byTask: {},
    }
    /** Every HTTP answer that was not a 2xx: { status, startedAt, endedAt, body? }. */
    this.httpFailures = []
    /** startedAt and endedAt of every accepted HTTP request (recovery after a Redis restart). */
    this.httpAccepted = []
  }

  /** Logical tasks accepted so far. */
  get acceptedCount() {
    return this.doneCount.http + this.doneCount.lib
  }

  /** Runs until every logical task was accepted, or `stop()`. */
  async run() {
    this.t0 = Date.now()
    const loops = []
    for (const channel of ['http', 'lib']) {
      for (let n = 0; n < this.concurrency; n++) loops.push(this.loop(channel))
    }
    await Promise.all(loops)
    this.endedAt = Date.now()
  }

  stop() {
    this.stopped = true
  }

  async loop(channel) {
    const list = this.byChannel[channel]
    while (!this.stopped && this.doneCount[channel] < list.length) {
      const now = Date.now()
      const retries = this.retries[channel]
      let job
      if (retries.length > 0 && retries[0].notBefore <= now) {
        job = retries.shift().i
      } else if (this.nextFirst[channel] < list.length) {
        const i = list[this.nextFirst[channel]]
        const releaseAt = this.t0 + (i * 1000) / this.rate
        if (releaseAt <= now) {
          job = i
          this.nextFirst[channel] += 1
        } else {
          await sleep(Math.min(releaseAt - now, 50))
          continue
        }
      }
      if (job === undefined) {
        await sleep(25)
        continue
      }
      await this.offer(channel, job)
    }
  }

  async offer(channel, i) {
    const p = this.plan[i]
    const attempt = this.tries[i]++
    if (attempt > 0) this.stats.retried += 1
    const key = attempt === 0 ? `n${i}` : `n${i}r${attempt}`
    const when = p.scheduled ? new Date(Date.now() + p.offset) : undefined
    const params = { i, ms: p.ms, ...(p.task === 'limited' ? { group: p.group } : {}) }
    const ok = channel === 'http' ? await this.viaHttp(p.task, key, params, when) : await this.viaLibrary(p.task, key, params, when)
    if (ok) {
      this.done[i] = true
      this.doneCount[channel] += 1
      const acceptedAt = Date.now()
      this.accepted.set(key, { i, channel, task: p.task, scheduled: p.scheduled, acceptedAt, due: when ? when.getTime() : acceptedAt })
      this.stats[p.scheduled ? 'scheduled' : 'immediate'] += 1
      this.stats.byTask[p.task] = (this.stats.byTask[p.task] ?? 0) + 1
    } else {
      this.retries[channel].push({ i, notBefore: Date.now() + RETRY_AFTER_MS })
    }
  }

  async viaHttp(task, key, params, when) {
    const s = this.stats.http
    s.requests += 1
    const startedAt = Date.now()
    const body = { task, params, key, ...(when ? { when: when.toISOString() } : {}) }
    let response
    try {
      response = await fetch(`${this.gatewayUrl}/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      })
    } catch (err) {
      if (err?.name === 'TimeoutError') s.timeouts += 1
      else s.connectionErrors += 1
      this.httpFailures.push({ status: 0, startedAt, endedAt: Date.now(), error: String(err?.cause?.code ?? err?.name ?? err) })
      return false
    }
    const text = await response.text().catch(() => '')
    const endedAt = Date.now()
    s.statuses[response.status] = (s.statuses[response.status] ?? 0) + 1
    if (response.status === 202 || response.status === 200) {
      this.httpAccepted.push([startedAt, endedAt])
      return true
    }
    this.httpFailures.push({ status: response.status, startedAt, endedAt, body: text.slice(0, 300) })
    return false
  }

  async viaLibrary(task, key, params, when) {
    const s = this.stats.lib
    s.adds += 1
    try {
      await this.shadow.add(task, { key, ...(when ? { when } : {}) })(params)
      return true
    } catch (err) {
      s.rejected += 1
      const what = err?.code ?? err?.name ?? 'Error'
      s.errors[what] = (s.errors[what] ?? 0) + 1
      return false
    }
  }
}

/** The task of one logical task of the plan: `record`, or one in ten each `limited` (in one of ten groups) and `rated`. */
function pickTask(rng) {
  const r = rng.random()
  if (r < 0.1) return { task: 'limited', group: rng.int(0, 9) }
  if (r < 0.2) return { task: 'rated' }
  return { task: 'record' }
}
