// Flags of the chaos run, and its seeded random numbers.
import { parseArgs } from 'node:util'

const USAGE = `usage: node scripts/chaos/run.mjs [--quick] [--tasks N] [--seed S] [--duration SECONDS] [--rate PER_SECOND]
                                 [--concurrency C] [--keep]

  --quick       2,000 tasks, a shorter run (the test suite runs this)
  --tasks N     how many tasks the producers enqueue (default 20000; 2000 with --quick)
  --seed S      seed of every random choice (default: a random one, printed)
  --duration S  cap, in seconds, on the produce-and-chaos phase (default 240; 60 with --quick)
  --rate R      tasks offered per second by the producers (default 135; 100 with --quick); the
                workers' concurrency and the rate-limited task's limit grow with it, so that the
                run is a steady load, not an ever-growing backlog
  --concurrency C  concurrency of each of the four workers (default: 10, or rate / 35 when more)
  --keep        keep the run's directory (logs, AOF, run records) even when it passes
`

/** The run's settings, from the command line. */
export function parseOptions(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        quick: { type: 'boolean' },
        tasks: { type: 'string' },
        seed: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        concurrency: { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
    })
  } catch (err) {
    throw new UsageError(err.message)
  }
  const v = parsed.values
  if (v.help) return { help: USAGE }
  const quick = Boolean(v.quick)
  const int = (name, fallback, min) => {
    if (v[name] === undefined) return fallback
    const n = Number(v[name])
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v[name])}`)
    return n
  }
  const rate = int('rate', quick ? 100 : 135, 1)
  return {
    quick,
    tasks: int('tasks', quick ? 2000 : 20_000, 1),
    seed: int('seed', Math.floor(Math.random() * 2 ** 31), 0),
    durationMs: int('duration', quick ? 60 : 240, 1) * 1000,
    rate,
    keep: Boolean(v.keep),
    workers: 4,
    // a producers' task takes 75 ms on average (see producers.mjs): four workers of rate / 35 each
    // keep about twice the slots the rate needs
    concurrency: int('concurrency', Math.max(10, Math.ceil(rate / 35)), 1),
    // one task in ten is rate-limited: its limit stays above what the producers offer of it
    rateLimit: Math.max(20, Math.ceil(rate / 8)),
    redeliveryTimeout: 2000,
    gracePeriod: 15_000,
    /** How long the queue may take to drain once the producers stopped. */
    drainTimeoutMs: quick ? 60_000 : 120_000,
    tickMs: 250,
  }
}

export class UsageError extends Error {}

export { USAGE }

/** mulberry32: a small seeded generator; `random()` in [0, 1). */
export function seeded(seed) {
  let a = seed >>> 0
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    random,
    /** An integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor(random() * (hi - lo + 1)),
    pick: (list) => list[Math.floor(random() * list.length)],
  }
}
