/**
 * A process's copy of a shadow's strike rules, kept in step with Redis by paying for what changed
 * (see strike-changes.ts for the change text). Clients check adds against it, workers check starts.
 */
import { StrikeSet, UNLOADED_STRIKES_VERSION, oldestFirst } from '../core/strikes.js'
import { readStrikesSince } from './commands.js'
import type { ShadowKeys } from './keys.js'
import type { RedisClient } from './scripts.js'
import { applyStrikeChange, type StrikeChange } from './strike-changes.js'

/**
 * `copy` brought up to date with Redis in one atomic read (the read-strikes script): `copy` itself
 * when it is current, `copy` with the last change applied when it is one change behind, otherwise
 * every rule read afresh.
 */
async function readStrikes(redis: RedisClient, keys: ShadowKeys, copy: StrikeSet): Promise<StrikeSet> {
  const read = await readStrikesSince(redis, keys, copy.version)
  if (read.kind === 'current') return copy
  if (read.kind === 'change') {
    if (read.change && read.change.previous === copy.version) return applyStrikeChange(copy, read.change)
    // a last change this build cannot read: read every rule instead (no stored version matches)
    return readStrikes(redis, keys, new StrikeSet(UNLOADED_STRIKES_VERSION, []))
  }
  return new StrikeSet(read.version, oldestFirst(read.rules))
}

/** One shadow's strike rules as this process last read them: a version with exactly the rules stored at it. */
export class StrikeCopy {
  private copy = new StrikeSet(UNLOADED_STRIKES_VERSION, [])
  private loading: Promise<StrikeSet> | undefined
  /** The read that follows the one out, for the refreshes asked for while it was out. */
  private following: Promise<StrikeSet> | undefined

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ShadowKeys,
  ) {}

  /**
   * The rules as last read, brought up to date when `refresh` is set or they were never read (only
   * what changed is read when the copy is one change behind). Concurrent callers share one read; a
   * refresh asked for while a read is out waits for the next one instead (the read out may have
   * reached Redis before the change that made the caller ask), which all such refreshes share.
   */
  current(refresh = false): Promise<StrikeSet> {
    if (!refresh && this.copy.version !== UNLOADED_STRIKES_VERSION) return Promise.resolve(this.copy)
    if (this.loading) {
      if (!refresh) return this.loading
      this.following ??= this.loading
        .catch(() => undefined)
        .then(() => {
          this.following = undefined
          return this.current(true)
        })
      return this.following
    }
    this.loading = this.load().finally(() => {
      this.loading = undefined
    })
    return this.loading
  }

  /** The rules as last read, without waiting; undefined when they were never read. */
  loaded(): StrikeSet | undefined {
    return this.copy.version === UNLOADED_STRIKES_VERSION ? undefined : this.copy
  }

  /**
   * Follows a change of the rules, pushed to a worker or made by this process: applied to the copy
   * when the copy is at the change's previous version; nothing when it already is at the change's
   * version or was never read (the first use reads it); otherwise, or when the change is not known
   * in detail (undefined), the copy is brought up to date from Redis.
   */
  changed(change: StrikeChange | undefined): Promise<StrikeSet> {
    const copy = this.copy
    if (copy.version === UNLOADED_STRIKES_VERSION || (change !== undefined && copy.version === change.version)) return Promise.resolve(copy)
    if (change === undefined || copy.version !== change.previous) return this.current(true)
    this.copy = applyStrikeChange(copy, change)
    return Promise.resolve(this.copy)
  }

  private async load(): Promise<StrikeSet> {
    const copy = this.copy
    const loaded = await readStrikes(this.redis, this.keys, copy)
    // a change applied while the read was out is kept: the read may predate it
    if (this.copy === copy) this.copy = loaded
    return this.copy
  }
}
