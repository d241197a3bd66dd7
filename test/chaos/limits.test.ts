/**
 * A concurrency limit holds across worker processes, and through the kill -9 of a worker that holds
 * slots: from the start and end times the tasks write, never more than the limit of one group run
 * at once (an attempt of the killed worker counts until its process is gone), and every task
 * completes, the killed worker's included, once its slots lapse and its tasks are taken over.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { TEST_URL, closeAdmin, makeShadow, waitFor } from '../helpers/shadow.js'
import { fixtureLog, startWorker, waitForDist, type WorkerProcess } from '../fixtures/chaos/worker-process.js'

t.setTimeout(240_000)
t.teardown(closeAdmin)

const LIMIT = 2
const GROUPS = ['g0', 'g1', 'g2']

interface Attempt {
  readonly key: string
  readonly pid: number
  readonly group: string
  readonly start: number
  end: number | undefined
}

/** The attempts of `limited` the log holds, each with its end when it was written. */
function attempts(log: string): Attempt[] {
  let text: string
  try {
    text = readFileSync(log, 'utf8')
  } catch {
    return []
  }
  const found = new Map<string, Attempt>()
  for (const line of text.split('\n')) {
    const [what, key, pid, a, b] = line.split(' ')
    if (what === 'lstart') found.set(`${key} ${pid} ${a}`, { key: key!, pid: Number(pid), group: b!, start: Number(a), end: undefined })
    else if (what === 'lend') {
      const attempt = found.get(`${key} ${pid} ${a}`)
      if (attempt) attempt.end = Number(b)
    }
  }
  return [...found.values()]
}

/** The most attempts of one group that ran at once. */
function mostAtOnce(list: readonly Attempt[], group: string, endOf: (a: Attempt) => number): number {
  const points = list.filter((a) => a.group === group).flatMap((a) => [[a.start, 1] as const, [endOf(a), -1] as const])
  points.sort((x, y) => x[0] - y[0] || x[1] - y[1])
  let now = 0
  let most = 0
  for (const [, step] of points) most = Math.max(most, (now += step))
  return most
}

t.test('a limit per group holds across three worker processes and the kill -9 of one holding slots', async (t) => {
  await waitForDist()
  const shadow = makeShadow(t)
  const log = fixtureLog(t)
  const keys: string[] = []
  // the first of each group run long, so that a worker is killed while it holds slots
  for (const group of GROUPS) {
    for (let i = 0; i < 14; i++) {
      const key = `${group}-${i}`
      keys.push(key)
      await shadow.add('limited', { key })({ group, ms: i < 2 ? 1500 : 20 + (i % 5) * 10 })
    }
  }
  const options = { url: TEST_URL, shadow: shadow.name, log, redeliveryTimeout: 500, concurrency: 10 }
  const workers: WorkerProcess[] = [startWorker(t, options), startWorker(t, options), startWorker(t, options)]

  // a worker running a long attempt: kill it while it holds the slot
  let victim: WorkerProcess | undefined
  await waitFor(
    () => {
      const open = attempts(log).filter((a) => a.end === undefined)
      victim = workers.find((w) => open.some((a) => a.pid === w.pid))
      return victim !== undefined
    },
    60_000,
    'a worker to hold a slot',
  )
  const killedWhileHolding = attempts(log).filter((a) => a.pid === victim!.pid && a.end === undefined).length
  victim!.process.kill('SIGKILL')
  await victim!.exited
  const diedAt = Date.now()

  await waitFor(
    async () => {
      for (const key of keys) if ((await shadow.get(key))?.state !== 'completed') return false
      return true
    },
    120_000,
    'every limited task to complete',
  )
  const list = attempts(log)
  // an attempt of the killed worker with no end ran until its process was gone
  const endOf = (a: Attempt) => a.end ?? (a.pid === victim!.pid ? diedAt : Number.POSITIVE_INFINITY)
  t.ok(killedWhileHolding > 0, `the killed worker held ${killedWhileHolding} slot(s)`)
  for (const group of GROUPS) {
    const most = mostAtOnce(list, group, endOf)
    t.ok(most <= LIMIT, `group ${group}: at most ${LIMIT} at once (${most})`)
  }
  t.ok(
    GROUPS.some((group) => mostAtOnce(list, group, endOf) === LIMIT),
    'the limit was reached: the check had something to check',
  )
  t.same(new Set(list.map((a) => a.key)), new Set(keys), 'every task ran')
  for (const w of workers) if (w.alive) w.process.kill('SIGTERM')
  await Promise.all(workers.map((w) => w.exited))
})
