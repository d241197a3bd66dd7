/**
 * Calls of the add script: adds made in the same turn of the event loop go out together, in order.
 */
import type { ShadowKeys } from '../redis/keys.js'
import { STALE, addTasks, type AddResult, type AddTask } from '../redis/commands.js'
import type { RedisClient } from '../redis/scripts.js'

/** A task validated and ready to store. */
export interface Prepared extends AddTask {
  readonly key: string
  readonly params: Record<string, unknown>
  readonly mode: 'add' | 'replace'
}

/**
 * The add script's answer for one task: what it stored or found (see {@link AddResult}), or
 * 'stale' when the strike rules changed meanwhile and the task must be judged again.
 */
export type AddReply = AddResult | typeof STALE

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

  /** `eventsLimit`: the shadow's, for the `added` events the add script writes. */
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ShadowKeys,
    private readonly eventsLimit: number,
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
      const sent = addTasks(
        this.redis,
        this.keys,
        first.prepared.mode,
        first.strikesVersion,
        this.eventsLimit,
        members.map((add) => add.prepared),
      )
      sent.then(
        (replies) => {
          members.forEach(({ group, index }, j) => {
            group.replies[index] = replies === STALE ? STALE : (replies[j] as AddResult)
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
}
