// After the run: reads what the tasks wrote and judges the run against the pass criteria.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { LIMITED_SLOTS, RATE_LIMIT, RATE_WINDOW } from './tasks.mjs'

/** Slack around a Redis outage within which a 503, or a repeated run, is put down to it (ms). */
const OUTAGE_SLACK_BEFORE = 2000
const OUTAGE_SLACK_AFTER = 5000

/** Every line the tasks wrote, by kind. */
export function readRuns(runsDir) {
  const runs = { R: new Map(), V: new Map(), C: [], T: [], H: [], S: [], E: new Map(), Q: [] }
  let files
  try {
    files = readdirSync(runsDir).filter((f) => /^runs-\d+\.log$/.test(f))
  } catch {
    files = []
  }
  for (const file of files) {
    for (const line of readFileSync(join(runsDir, file), 'utf8').split('\n')) {
      const [kind, key, pid, a, b] = line.split(' ')
      if (!kind || !key) continue
      if (kind === 'R') push(runs.R, key, { pid: Number(pid), start: Number(a), end: Number(b) })
      else if (kind === 'S') runs.S.push({ key, pid: Number(pid), start: Number(a), group: Number(b) })
      else if (kind === 'E') runs.E.set(`${key} ${pid} ${a}`, Number(b))
      else if (kind === 'Q') runs.Q.push({ key, pid: Number(pid), at: Number(a) })
      else if (kind === 'V') push(runs.V, key, { pid: Number(pid), at: Number(a), round: Number(b) })
      else if (kind in runs) runs[kind].push({ key, pid: Number(pid), at: Number(a) })
    }
  }
  return runs
}

function push(map, key, value) {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

function overlaps(a0, a1, b0, b1) {
  return a0 <= b1 && b0 <= a1
}

/**
 * Judges the run. Returns { failures: string[], figures }.
 * `states` maps a key to the state (and error) of its record, for the keys asked about.
 */
export function judge({ producers, chaos, pool, runs, states, processes, drained }) {
  const failures = []
  const restarts = chaos.restarts

  // 1. every accepted task ran at least once
  const missing = [...producers.accepted.keys()].filter((key) => !runs.R.has(key))
  const missingByOutcome = {}
  for (const key of missing) {
    const info = states.get(key)
    const label = info ? `${info.state}${info.error ? `:${info.error.type}` : ''}` : 'no record'
    ;(missingByOutcome[label] ??= []).push(key)
  }
  if (missing.length > 0) {
    const detail = Object.entries(missingByOutcome).map(
      ([label, keys]) => `${keys.length} ${label} (${keys.slice(0, 5).join(' ')}${keys.length > 5 ? ' …' : ''})`,
    )
    failures.push(`${missing.length} accepted tasks never ran: ${detail.join(', ')}`)
  }

  // 2. duplicates: every run but the last must have been cut short before its outcome was
  // recorded, by the death of its worker or by a Redis outage
  let repeated = 0
  let extraRuns = 0
  const explained = { workerDied: 0, redisOutage: 0 }
  const unexplained = []
  for (const [key, list] of runs.R) {
    if (list.length < 2 || !producers.accepted.has(key)) continue
    repeated += 1
    extraRuns += list.length - 1
    list.sort((x, y) => x.end - y.end)
    for (const run of list.slice(0, -1)) {
      const died = pool.deaths.get(run.pid)
      if (died !== undefined && died >= run.end) explained.workerDied += 1
      else if (restarts.some((r) => overlaps(run.start, run.end, r.downAt - OUTAGE_SLACK_BEFORE, r.upAt + OUTAGE_SLACK_AFTER))) explained.redisOutage += 1
      else unexplained.push({ key, pid: run.pid, start: run.start, end: run.end, runs: list.length })
    }
  }
  if (unexplained.length > 0) {
    failures.push(`${unexplained.length} repeated runs not explained by a dead worker or a Redis outage (first: ${JSON.stringify(unexplained.slice(0, 3))})`)
  }
  const unacceptedRuns = [...runs.R.keys()].filter((key) => !producers.accepted.has(key)).length

  // 3. strikes: no victim ran while its round's strike was in force; struck ⇔ never ran
  const strikeViolations = []
  for (const round of chaos.strikes.rounds) {
    for (const victim of round.victims) {
      const ran = runs.V.get(victim.key) ?? []
      const state = states.get(victim.key)?.state
      if (!round.void && round.restoreCalledAt !== undefined) {
        for (const run of ran) {
          if (run.at < round.restoreCalledAt)
            strikeViolations.push(`${victim.key} ran at ${run.at}, strike in force from before ${round.struckAt} until after ${round.restoreCalledAt}`)
        }
      }
      if (!round.void && state === 'struck' && ran.length > 0) strikeViolations.push(`${victim.key} ended struck but its function ran`)
      if (state === 'completed' && ran.length === 0) strikeViolations.push(`${victim.key} ended completed but its function never ran`)
      if (state !== 'struck' && state !== 'completed') strikeViolations.push(`${victim.key} ended ${state ?? 'without a record'}`)
    }
    if (round.error) strikeViolations.push(`round ${round.n}: ${round.error}`)
  }
  if (strikeViolations.length > 0) failures.push(`strikes: ${strikeViolations.slice(0, 5).join('; ')}`)

  // 4. limits: never more than LIMITED_SLOTS attempts of one group at once (an attempt whose
  // worker was killed counts until the kill), never more than RATE_LIMIT starts in RATE_WINDOW ms
  const limits = checkLimits(runs, pool)
  if (limits.concurrencyViolations.length > 0) {
    failures.push(
      `concurrency limit exceeded ${limits.concurrencyViolations.length} times (first: ${JSON.stringify(limits.concurrencyViolations.slice(0, 3))})`,
    )
  }
  if (limits.rateViolations.length > 0) {
    failures.push(`rate limit exceeded ${limits.rateViolations.length} times (first: ${JSON.stringify(limits.rateViolations.slice(0, 3))})`)
  }

  // 5. the gateway: no 5xx but 503, and a 503 only around a Redis outage
  const http = producers.stats.http
  const bad5xx = producers.httpFailures.filter((f) => f.status >= 500 && f.status !== 503)
  if (bad5xx.length > 0) failures.push(`gateway answered ${bad5xx.length} 5xx other than 503 (first: ${JSON.stringify(bad5xx[0])})`)
  const stray503 = producers.httpFailures.filter(
    (f) => f.status === 503 && !restarts.some((r) => overlaps(f.startedAt, f.endedAt, r.downAt, r.upAt + OUTAGE_SLACK_AFTER)),
  )
  if (stray503.length > 0) failures.push(`gateway answered 503 ${stray503.length} times while Redis was up (first: ${JSON.stringify(stray503[0])})`)
  const other4xx = producers.httpFailures.filter((f) => f.status >= 400 && f.status < 500)
  if (other4xx.length > 0) failures.push(`gateway refused ${other4xx.length} valid requests (first: ${JSON.stringify(other4xx[0])})`)
  const connectionErrorsOutsideOutages = producers.httpFailures.filter(
    (f) => f.status === 0 && !restarts.some((r) => overlaps(f.startedAt, f.endedAt, r.downAt, r.upAt + OUTAGE_SLACK_AFTER)),
  )
  if (connectionErrorsOutsideOutages.length > 0) {
    failures.push(
      `${connectionErrorsOutsideOutages.length} HTTP requests got no answer while Redis was up (first: ${JSON.stringify(connectionErrorsOutsideOutages[0])})`,
    )
  }

  // 6. toxic tasks end as they should; a poison task fails with an error that says why
  const toxicOutcomes = { crash: {}, throw: {}, hang: {} }
  const toxicWrong = []
  for (const [key, { kind }] of chaos.toxic) {
    const info = states.get(key)
    const label = info ? `${info.state}:${info.error?.type ?? '-'}` : 'no record'
    toxicOutcomes[kind][label] = (toxicOutcomes[kind][label] ?? 0) + 1
    const ok =
      info?.state === 'failed' &&
      (kind === 'crash'
        ? info.error?.type === 'PoisonTaskError' && /maxDeliveries/.test(info.error?.message ?? '')
        : kind === 'throw'
          ? /thrown on purpose/.test(info.error?.message ?? '')
          : info.error?.type === 'TimeoutError')
    if (!ok) toxicWrong.push(`${key} ${label} ${info?.error?.message ?? ''}`.trim())
  }
  if (toxicWrong.length > 0) failures.push(`toxic tasks ended wrongly: ${toxicWrong.slice(0, 5).join('; ')}`)

  // 7. processes
  if (pool.unexpected.length > 0)
    failures.push(`workers exited without being killed or crashed by a toxic task: ${JSON.stringify(pool.unexpected.slice(0, 5))}`)
  for (const p of processes) {
    if (p.code !== 0 || p.endedBy !== 'stopped')
      failures.push(`${p.name} (pid ${p.pid}) did not end cleanly: code ${p.code}, signal ${p.signal}${p.endedBy !== 'stopped' ? `, ${p.endedBy}` : ''}`)
  }
  if (!drained.ok) failures.push(`the queue did not drain within ${drained.timeoutMs} ms (last snapshot ${JSON.stringify(drained.last)})`)
  if (chaos.errors.length > 0) failures.push(`chaos actions failed: ${chaos.errors.slice(0, 3).join(' | ')}`)

  // figures
  const allRuns = [...runs.R.values()].flat()
  const firstStart = Math.min(...allRuns.map((r) => r.start))
  const lastEnd = Math.max(...allRuns.map((r) => r.end))
  const firstStarts = new Map()
  for (const [key, list] of runs.R) firstStarts.set(key, Math.min(...list.map((run) => run.start)))
  const recoveries = restarts.map((r) => {
    const gateway = producers.httpAccepted.filter(([s]) => s >= r.upAt).reduce((min, [, e]) => Math.min(min, e), Infinity)
    const workers = allRuns.filter((run) => run.start >= r.upAt).reduce((min, run) => Math.min(min, run.start), Infinity)
    const back = Math.max(gateway, workers)
    const backlog = restartBacklog(producers, firstStarts, r)
    return {
      how: r.how,
      downAt: r.downAt,
      upAt: r.upAt,
      downtimeMs: r.downtimeMs,
      gatewayMs: Number.isFinite(gateway) ? gateway - r.upAt : null,
      workersMs: Number.isFinite(workers) ? workers - r.upAt : null,
      recoveryMs: Number.isFinite(back) ? back - r.upAt : null,
      queueBeforeDown: r.backlog ?? null,
      backlogTasks: backlog.tasks,
      backlogDrainedMs: backlog.drainedMs,
      ...(backlog.neverRan > 0 ? { backlogNeverRan: backlog.neverRan } : {}),
      ...(backlog.slowest ? { backlogLastStarted: backlog.slowest } : {}),
    }
  })
  const recoveryValues = recoveries.map((r) => r.recoveryMs).filter((v) => v !== null)
  const figures = {
    tasks: {
      requested: producers.total,
      accepted: producers.accepted.size,
      viaHttp: producers.doneCount.http,
      viaLibrary: producers.doneCount.lib,
      immediate: producers.stats.immediate,
      scheduled: producers.stats.scheduled,
      offersRetried: producers.stats.retried,
      ranAtLeastOnce: producers.accepted.size - missing.length,
      missing: missing.length,
      missingByOutcome: Object.fromEntries(Object.entries(missingByOutcome).map(([label, keys]) => [label, keys.length])),
      runsOfUnacceptedKeys: unacceptedRuns,
    },
    throughput: {
      producedPerSecond: round1(producers.accepted.size / ((producers.endedAt - producers.t0) / 1000)),
      ranPerSecond: allRuns.length ? round1(runs.R.size / ((lastEnd - firstStart) / 1000)) : 0,
    },
    duplicates: {
      tasks: repeated,
      extraRuns,
      explainedByDeadWorker: explained.workerDied,
      explainedByRedisOutage: explained.redisOutage,
      unexplained: unexplained.length,
    },
    gateway: { requests: http.requests, statuses: http.statuses, connectionErrors: http.connectionErrors, timeouts: http.timeouts },
    library: producers.stats.lib,
    chaos: {
      ticks: chaos.ticks,
      workerKills: chaos.kills.length,
      workersStarted: pool.all.length,
      workerCrashesByToxicTasks: pool.crashes,
      redisRestarts: restarts.length,
      redisRestartsSkipped: chaos.skipped.restart,
      toxicAccepted: chaos.toxic.size,
      toxicAddsFailed: chaos.toxicFailedAdds,
      toxicOutcomes,
      toxicCalls: { crash: runs.C.length, throw: runs.T.length, hang: runs.H.length },
      strikeRounds: chaos.strikes.rounds.length,
      strikeRoundsVoid: chaos.strikes.rounds.filter((r) => r.void).length,
      victims: chaos.strikes.rounds.reduce((n, r) => n + r.victims.length, 0),
      victimsStruck: chaos.strikes.rounds.reduce((n, r) => n + r.victims.filter((v) => states.get(v.key)?.state === 'struck').length, 0),
      victimsRan: chaos.strikes.rounds.reduce((n, r) => n + r.victims.filter((v) => runs.V.has(v.key)).length, 0),
      strikeViolations: strikeViolations.length,
    },
    limits: limits.figures,
    redis: { restarts: recoveries, longestRecoveryMs: recoveryValues.length ? Math.max(...recoveryValues) : null },
    drainMs: drained.ms,
    processes: processes.map((p) => ({ name: p.name, code: p.code, signal: p.signal })),
  }
  return { failures, figures }
}

/**
 * The backlog a Redis restart found: the `record` tasks accepted and due before Redis went down
 * that had not started by then (limited and rated tasks wait by design, so they are left out), and
 * how long after Redis was back the last of them started (null when none waited); one that never
 * ran (see the missing tasks) is counted apart.
 */
function restartBacklog(producers, firstStarts, restart) {
  let tasks = 0
  let neverRan = 0
  let last = -Infinity
  let lastKey
  for (const [key, a] of producers.accepted) {
    if (a.task !== 'record' || a.acceptedAt >= restart.downAt || a.due >= restart.downAt) continue
    const start = firstStarts.get(key)
    if (start !== undefined && start <= restart.downAt) continue
    tasks += 1
    if (start === undefined) neverRan += 1
    else if (start > last) [last, lastKey] = [start, key]
  }
  const slowest = lastKey && { key: lastKey, due: producers.accepted.get(lastKey).due, started: last }
  return { tasks, neverRan, drainedMs: Number.isFinite(last) ? Math.max(0, last - restart.upAt) : null, slowest }
}

function round1(n) {
  return Math.round(n * 10) / 10
}

/** The measured start-to-end of recorded attempts can only be shorter than the time they held a slot. */
const RATE_SLACK_MS = 100

/**
 * Checks the limits from what the tasks wrote: the attempts of `limited` per group at any moment
 * (a sweep over their starts and ends; an attempt with no end ran until its process died), and the
 * starts of `rated` in every window, at the times the start script judged them (read from their
 * records; when a record could not be read, the function's own start, a moment later: so windows
 * are checked RATE_SLACK_MS short).
 */
function checkLimits(runs, pool) {
  const lastSeen = Math.max(0, ...[...runs.R.values()].flat().map((r) => r.end))
  const byGroup = new Map()
  let unended = 0
  for (const s of runs.S) {
    let end = runs.E.get(`${s.key} ${s.pid} ${s.start}`)
    if (end === undefined) {
      unended += 1
      end = pool.deaths.get(s.pid) ?? lastSeen
    }
    push(byGroup, s.group, [s.start, end])
  }
  const concurrencyViolations = []
  let most = 0
  for (const [group, intervals] of byGroup) {
    // ends sort before starts at the same moment: one attempt may start as another ends
    const points = intervals.flatMap(([start, end]) => [
      [start, 1],
      [end, -1],
    ])
    points.sort((x, y) => x[0] - y[0] || x[1] - y[1])
    let now = 0
    for (const [at, step] of points) {
      now += step
      most = Math.max(most, now)
      if (now > LIMITED_SLOTS) concurrencyViolations.push({ group, at, running: now })
    }
  }
  const starts = runs.Q.map((q) => q.at).sort((x, y) => x - y)
  const rateViolations = []
  let tightest = Infinity
  for (let i = RATE_LIMIT; i < starts.length; i++) {
    const span = starts[i] - starts[i - RATE_LIMIT]
    tightest = Math.min(tightest, span)
    if (span < RATE_WINDOW - RATE_SLACK_MS) rateViolations.push({ at: starts[i], starts: RATE_LIMIT + 1, withinMs: span })
  }
  return {
    concurrencyViolations,
    rateViolations,
    figures: {
      limitedAttempts: runs.S.length,
      limitedGroups: byGroup.size,
      limitedCutShort: unended,
      mostRunningInAGroup: most,
      concurrencyLimit: LIMITED_SLOTS,
      ratedStarts: starts.length,
      rateLimit: `${RATE_LIMIT} per ${RATE_WINDOW} ms`,
      tightestWindowMs: Number.isFinite(tightest) ? tightest : null,
    },
  }
}
