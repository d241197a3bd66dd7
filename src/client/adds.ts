/**
 * Calls of the add script: adds made in the same turn of the event loop go out together, in order.
 */
import type { ShadowKeys } from '../redis/keys.js'
import type { LiveState } from '../core/records.js'
import { runScript, type RedisClient } from '../redis/scripts.js'

/** A task validated and ready to store. */
export interface Prepared {
  readonly key: string
  /** The key's form inside Redis. */
  readonly stored: string
  /** The key was made up for this add (a random UUID): no record of it can exist. */
  readonly fresh: boolean
  readonly task: string
  readonly params: Record<string, unknown>
  readonly json: string
  readonly due: number
  readonly mode: 'add' | 'replace'
}

/**
 * The add script's answer for one task: 'stale' (strikes changed: judge it again); a number for a
 * stored task (0 queued, 1 scheduled, plus 2 when it replaced a live one); or the live task it
 * duplicates: state, due time, task name, params.
 */
export type AddReply = 'stale' | number | [LiveState, string, string, string]

/** The state a stored task is in, from its numeric add reply. */
export function storedState(reply: number): LiveState {
  return reply % 2 === 1 ? 'scheduled' : 'queued'
}

/** An add waiting to go out with the others of its turn of the event loop. */
interface PendingAdd {
  readonly prepared: Prepared
  readonly strikesVersion: string
  /** The adds made in one call (one add, or a batch), answered together. */
  readonly group: AddGroup
  readonly index: number
}

interface AddGroup {
  readonly replies: AddReply[]
  left: number
  readonly resolve: (replies: AddReply[]) => void
  readonly reject: (err: unknown) => void
}

/** Most tasks per add-script call (batch adds and adds made together). */
export const BATCH_CHUNK = 500

/** The add-script calls of one shadow. */
export class AddCalls {
  private pending: PendingAdd[] = []

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ShadowKeys,
  ) {}

  /**
   * Queues adds (one, or a chunk of a batch) to go out with every other add made in the same turn
   * of the event loop (concurrent adds, one per gateway request): consecutive adds of one mode and
   * strikes version share a script call, and each is judged alone and in order, as if sent one by
   * one, for a fraction of the cost. Resolves with one reply per task, in order.
   */
  send(tasks: readonly Prepared[], strikesVersion: string): Promise<AddReply[]> {
    if (tasks.length === 0) return Promise.resolve([])
    return new Promise((resolve, reject) => {
      const group: AddGroup = { replies: new Array<AddReply>(tasks.length), left: tasks.length, resolve, reject }
      if (this.pending.length === 0) setImmediate(() => this.flush())
      tasks.forEach((prepared, index) => this.pending.push({ prepared, strikesVersion, group, index }))
    })
  }

  private flush(): void {
    const pending = this.pending
    this.pending = []
    // consecutive adds of one mode and strikes version share a call; the calls go out in order
    let chunk: PendingAdd[] = []
    const send = () => {
      const members = chunk
      chunk = []
      const first = members[0] as PendingAdd
      const { schedule, stream, strikesVersion: versionKey } = this.keys
      const args = this.args(
        members.map((add) => add.prepared),
        first.prepared.mode,
        first.strikesVersion,
      )
      const sent = runScript(this.redis, 'add', [schedule, stream, versionKey], args) as Promise<['stale'] | AddReply[]>
      sent.then(
        (replies) => {
          const stale = replies[0] === 'stale'
          members.forEach(({ group, index }, j) => {
            group.replies[index] = stale ? 'stale' : (replies[j] as AddReply)
            if (--group.left === 0) group.resolve(group.replies)
          })
        },
        (err: unknown) => members.forEach(({ group }) => group.reject(err)),
      )
    }
    for (const add of pending) {
      const last = chunk[chunk.length - 1]
      if (last && (chunk.length === BATCH_CHUNK || last.prepared.mode !== add.prepared.mode || last.strikesVersion !== add.strikesVersion)) send()
      chunk.push(add)
    }
    if (chunk.length > 0) send()
  }

  private args(tasks: readonly Prepared[], mode: 'add' | 'replace', strikesVersion: string): (string | number)[] {
    const args: (string | number)[] = [Date.now(), mode, strikesVersion, this.keys.events, this.keys.taskPrefix]
    for (const p of tasks) {
      // a generation to start from: it only needs to differ from the key's earlier incarnations;
      // negative for a key made up just now, whose record the script need not look for
      const seed = 1 + Math.floor(Math.random() * 0x7fffffff)
      args.push(p.stored, p.task, p.json, p.due, p.fresh ? -seed : seed)
    }
    return args
  }
}
