/**
 * Adds under load across a Redis failover, and what became of them: a few loops add tasks one
 * after another, each under a key of its own, recording when each request was sent and how the
 * gateway answered; afterwards {@link accountFor} sorts the acknowledged adds into those that kept
 * their record on the new master and those the failover lost (ran anyway, or never ran).
 */
import { setTimeout as sleep } from 'node:timers/promises'

/** One add: when it was sent (ms since the epoch) and the status it was answered with. */
export interface AddAnswer {
  readonly sentAt: number
  readonly answeredAt: number
  readonly status: number
}

/** Sends the add of the task under `key`; resolves with the HTTP status. */
export type SendAdd = (key: string) => Promise<number>

/** Adds in `loops` concurrent loops until stopped. */
export class AddLoad {
  /** Every answered add, by key. */
  readonly answers = new Map<string, AddAnswer>()
  /** Adds that got no HTTP answer at all (the gateway's socket failed). */
  readonly failures: { key: string; err: unknown }[] = []
  private stopped = false
  private readonly loops: Promise<void>[] = []
  private next = 0

  constructor(
    private readonly send: SendAdd,
    private readonly prefix: string,
  ) {}

  /** Starts `loops` loops, each adding again as soon as its add is answered. */
  start(loops: number): void {
    for (let i = 0; i < loops; i++) this.loops.push(this.loop())
  }

  /** Stops adding; resolves once every add in flight is answered. */
  async stop(): Promise<void> {
    this.stopped = true
    await Promise.all(this.loops)
  }

  /** Keys of the acknowledged (2xx) adds, with their answers. */
  acknowledged(): [string, AddAnswer][] {
    return [...this.answers].filter(([, answer]) => answer.status >= 200 && answer.status < 300)
  }

  /** How many answers each status got. */
  statusCounts(): Record<string, number> {
    const counts: Record<string, number> = {}
    for (const { status } of this.answers.values()) counts[status] = (counts[status] ?? 0) + 1
    return counts
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const key = `${this.prefix}-${this.next++}`
      const sentAt = Date.now()
      try {
        const status = await this.send(key)
        this.answers.set(key, { sentAt, answeredAt: Date.now(), status })
        // a 503 says to wait a little: without a pause the loop would only spin against it
        if (status === 503) await sleep(20)
      } catch (err) {
        this.failures.push({ key, err })
        await sleep(20)
      }
    }
  }
}

/** What became of the acknowledged adds. */
export interface Accounting {
  readonly acknowledged: number
  /** Acknowledged adds whose record is on the new master. */
  readonly kept: number
  /** Acknowledged adds without a record on the new master: the failover lost them. */
  readonly lost: readonly string[]
  /** Of the lost, those that had run before their record was lost. */
  readonly lostButRan: number
  /** Of the kept, those whose record is not `completed`. */
  readonly unfinished: readonly string[]
}

/**
 * Sorts the acknowledged adds by what the new master holds: `stateOf` reads a key's record state
 * there (undefined without a record), `ran` holds the keys whose task ran at least once.
 */
export async function accountFor(
  acknowledged: readonly string[],
  stateOf: (keys: readonly string[]) => Promise<(string | undefined)[]>,
  ran: ReadonlySet<string>,
): Promise<Accounting> {
  const states = await stateOf(acknowledged)
  const lost = acknowledged.filter((_, i) => states[i] === undefined)
  const unfinished = acknowledged.filter((_, i) => states[i] !== undefined && states[i] !== 'completed')
  return {
    acknowledged: acknowledged.length,
    kept: acknowledged.length - lost.length,
    lost,
    lostButRan: lost.filter((key) => ran.has(key)).length,
    unfinished,
  }
}

/** Record states of `keys` of the shadow `name`, read in one pipeline from `redis`. */
export async function recordStates(
  redis: { pipeline(): { hget(key: string, field: string): unknown; exec(): Promise<[Error | null, unknown][] | null> } },
  name: string,
  keys: readonly string[],
): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = []
  // in slices: one reply for ten thousand keys is needlessly large
  for (let i = 0; i < keys.length; i += 1000) {
    const pipeline = redis.pipeline()
    for (const key of keys.slice(i, i + 1000)) pipeline.hget(`{${name}}:task:${key}`, 'state')
    for (const [err, state] of (await pipeline.exec()) ?? []) {
      if (err) throw err
      out.push(typeof state === 'string' ? state : undefined)
    }
  }
  return out
}
