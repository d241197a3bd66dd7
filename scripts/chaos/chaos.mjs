// The chaos itself: every tick one random choice among
//   8 %  kill -9 a worker (a new one is started in its place)
//   2 %  restart Redis (SIGKILL or SIGTERM, then start it again on the same port and directory)
//   5 %  enqueue a toxic task: one that ends its worker process, throws, or hangs past its timeout
//   5 %  a strike round (see StrikeRounds)
// Every random number is drawn at the tick, so the sequence of choices follows from the seed.
// Whatever has not happened once by `forceAtTick` is forced then, so that even a short run sees
// every kind of trouble.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ShadowsProcess } from './processes.mjs'

/** The run's workers: `size` processes; any that exits while the pool runs is replaced. */
export class WorkerPool {
  constructor({ size, args, logDir, env, runsDir }) {
    this.size = size
    this.args = args
    this.logDir = logDir
    this.env = env
    this.runsDir = runsDir
    this.slots = []
    /** Every worker process ever started. */
    this.all = []
    this.stopping = false
    /** Exits nobody asked for and no toxic task explains: { pid, code, signal }. */
    this.unexpected = []
    /** pid → when it died, for workers killed by the chaos or ended by a `crash` task. */
    this.deaths = new Map()
    this.crashes = 0
  }

  start() {
    for (let slot = 0; slot < this.size; slot++) this.spawn(slot)
  }

  spawn(slot) {
    const worker = new ShadowsProcess('worker', this.args, { logDir: this.logDir, env: this.env })
    this.slots[slot] = worker
    this.all.push(worker)
    worker.exited.then((exit) => {
      if (worker.endedBy === 'killed') this.deaths.set(worker.pid, exit.at)
      else if (worker.endedBy === undefined) {
        if (this.crashedByToxicTask(worker.pid)) {
          this.crashes += 1
          this.deaths.set(worker.pid, exit.at)
        } else {
          this.unexpected.push({ pid: worker.pid, code: exit.code, signal: exit.signal, error: exit.error })
        }
      }
      if (!this.stopping && this.slots[slot] === worker) this.spawn(slot)
    })
    return worker
  }

  /** Whether the worker's run file says a `crash` task ended it. */
  crashedByToxicTask(pid) {
    const file = join(this.runsDir, `runs-${pid}.log`)
    return existsSync(file) && /^C /m.test(readFileSync(file, 'utf8'))
  }

  /** kill -9 of the worker in `slot`; its replacement starts when the exit is seen. */
  async kill(slot) {
    const worker = this.slots[slot]
    if (!worker?.alive) return false
    await worker.kill()
    return true
  }

  /** SIGTERM to every worker; resolves with their exits. */
  async stop(ms) {
    this.stopping = true
    return Promise.all(this.slots.map(async (w) => ({ pid: w.pid, endedBy: 'stopped', ...(await w.terminate(ms)) })))
  }
}

/**
 * A strike round, and the rule it checks. A strike matching the round's number is put on the
 * `victim` task (which no producer enqueues), around victims scheduled to fall due while it is in
 * force:
 *   1. add the round's victims, three due at D + 0..800 ms, D = now + 1.5 s, and one due 1.5 s after
 *      the planned restore (it should run);
 *   2. strike { task: victim, parameter: round, value: R }; the time S it resolved is after the
 *      strike was stored. S must be before D, else the round is void (Redis was slow or away);
 *   3. wait until D + 800 ms + 0.5..2.5 s, note the time U, then restore (retried until it
 *      succeeds).
 * A victim cannot be claimed before it is due, so every claim of a victim happens after the strike
 * was stored. Hence, in a round that is not void, a victim whose function was entered before U was
 * claimed while the strike was in force: a violation. Victims claimed after the restore run
 * normally. And for every victim, whatever the round: it ends `struck` and its function never ran,
 * or it ends `completed` and its function ran.
 */
export class StrikeRounds {
  constructor(shadow) {
    this.shadow = shadow
    this.rounds = []
    this.active = undefined
  }

  get busy() {
    return this.active !== undefined
  }

  /** Starts a round with delays drawn now; resolves when it is over. */
  start(draws) {
    const round = { n: this.rounds.length, victims: [], failedAdds: 0, void: false }
    this.rounds.push(round)
    this.active = this.play(round, draws)
      .catch((err) => {
        round.error = String(err?.message ?? err)
      })
      .finally(() => {
        this.active = undefined
      })
    return this.active
  }

  async play(round, { offsets, hold }) {
    const D = Date.now() + 1500
    round.dueFrom = D
    await Promise.all(
      offsets.map(async (offset, j) => {
        const key = `v${round.n}-${j}`
        try {
          await this.shadow.add('victim', { key, when: new Date(D + offset) })({ round: round.n })
          round.victims.push({ key, due: D + offset })
        } catch {
          round.failedAdds += 1
        }
      }),
    )
    const rule = { task: 'victim', parameter: 'round', value: round.n }
    try {
      const { strike } = await this.shadow.strike(rule)
      round.strikeId = strike.id
      round.struckAt = Date.now()
      if (round.struckAt >= D) round.void = 'the strike resolved after the first victim was due'
    } catch (err) {
      round.void = `the strike failed: ${err?.code ?? err?.message}`
    }
    await sleep(Math.max(0, D + 800 + hold - Date.now()))
    round.restoreCalledAt = Date.now()
    const deadline = Date.now() + 60_000
    for (;;) {
      try {
        await this.shadow.restore(rule)
        break
      } catch (err) {
        // a restore whose answer was lost may have removed it already
        if (err?.code === 'SHADOWS_ERR_NOT_FOUND') break
        if (Date.now() > deadline) throw new Error(`could not restore the strike of round ${round.n}: ${err?.message}`, { cause: err })
        await sleep(250)
      }
    }
    round.restoredAt = Date.now()
  }
}

/** The chaos loop and its record of what it did. */
export class Chaos {
  constructor({ rng, pool, redis, shadow, tickMs, forceAtTick, onRedisUp }) {
    this.rng = rng
    this.pool = pool
    this.redis = redis
    this.shadow = shadow
    this.tickMs = tickMs
    this.forceAtTick = forceAtTick
    this.onRedisUp = onRedisUp
    this.strikes = new StrikeRounds(shadow)
    this.ticks = 0
    this.kills = []
    this.restarts = []
    this.restarting = undefined
    /** key → { kind, acceptedAt } of every accepted toxic task. */
    this.toxic = new Map()
    this.toxicFailedAdds = 0
    this.toxicCount = 0
    this.skipped = { restart: 0, strike: 0 }
    this.happened = { kill: false, restart: false, crash: false, throw: false, hang: false, strike: false }
    this.pending = new Set()
    this.errors = []
  }

  /** Ticks until `stop()`. */
  async run() {
    this.running = true
    let next = Date.now()
    while (this.running) {
      next += this.tickMs
      this.tick()
      await sleep(Math.max(0, next - Date.now()))
    }
    await Promise.allSettled([...this.pending])
  }

  stop() {
    this.running = false
  }

  track(promise) {
    const p = promise.catch((err) => this.errors.push(String(err?.stack ?? err))).finally(() => this.pending.delete(p))
    this.pending.add(p)
  }

  tick() {
    this.ticks += 1
    const r = this.rng.random()
    const a = this.rng.random()
    const b = this.rng.random()
    const c = this.rng.random()
    if (r < 0.08) this.killWorker(a)
    else if (r < 0.1) this.restartRedis(a, b)
    else if (r < 0.15) this.addToxic(a < 1 / 3 ? 'crash' : a < 2 / 3 ? 'throw' : 'hang', b)
    else if (r < 0.2) this.strikeRound(a, b, c)
    if (this.ticks === this.forceAtTick) this.forceMissing(a, b, c)
  }

  forceMissing(a, b, c) {
    if (!this.happened.kill) this.killWorker(a)
    if (!this.happened.restart) this.restartRedis(a, b)
    for (const kind of ['crash', 'throw', 'hang']) if (!this.happened[kind]) this.addToxic(kind, b)
    if (!this.happened.strike) this.strikeRound(a, b, c)
  }

  killWorker(a) {
    this.happened.kill = true
    const slot = Math.floor(a * this.pool.size)
    const pid = this.pool.slots[slot]?.pid
    this.track(
      this.pool.kill(slot).then((done) => {
        if (done) this.kills.push({ pid, at: Date.now() })
      }),
    )
  }

  restartRedis(a, b) {
    if (this.restarting) {
      this.skipped.restart += 1
      return
    }
    this.happened.restart = true
    const hard = a < 0.5
    const pause = Math.floor(b * 1000)
    this.restarting = (async () => {
      // what was waiting when Redis went away: the backlog its restart must not lose
      const backlog = await this.shadow.snapshot().then(
        (snapshot) => snapshot.counts,
        () => undefined,
      )
      const downAt = Date.now()
      const exit = await this.redis.stop(hard)
      await sleep(pause)
      const upAt = await this.redis.start()
      this.restarts.push({
        how: hard ? 'SIGKILL' : 'SIGTERM',
        downAt,
        upAt,
        downtimeMs: upAt - downAt,
        backlog,
        exit: exit && { code: exit.code, signal: exit.signal },
      })
      this.onRedisUp?.()
    })().finally(() => {
      this.restarting = undefined
    })
    this.track(this.restarting)
  }

  addToxic(kind, b) {
    this.happened[kind] = true
    const key = `x-${kind}-${this.toxicCount++}`
    const params = kind === 'crash' ? { how: b < 0.5 ? 'exit' : 'kill' } : {}
    this.track(
      this.shadow
        .add(kind, { key })(params)
        .then(
          () => this.toxic.set(key, { kind, acceptedAt: Date.now() }),
          () => {
            this.toxicFailedAdds += 1
          },
        ),
    )
  }

  strikeRound(a, b, c) {
    if (this.strikes.busy) {
      this.skipped.strike += 1
      return
    }
    this.happened.strike = true
    const hold = 500 + Math.floor(c * 2000)
    // three victims due while struck, and one due 1.5 s after the planned restore (it should run)
    const offsets = [0, Math.floor(a * 800), Math.floor(b * 800), 800 + hold + 1500]
    this.track(this.strikes.start({ offsets, hold }))
  }
}
