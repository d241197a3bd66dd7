/**
 * Admission: the worker's concurrency as a counting semaphore. A slot is held from the moment a
 * start call is sent for a message until the attempt it started ends (or, for a message that does
 * not run, until the call's reply arrives). Every waiter has its own promise: any number of parts
 * may wait at once, and each is woken when what it waits for holds.
 */

interface Acquirer {
  readonly count: number
  readonly resolve: (taken: boolean) => void
}

/** A counting semaphore of `capacity` slots, with FIFO acquisition and waiters that never replace each other. */
export class Slots {
  private held = 0
  private closed = false
  /** acquire() calls waiting, oldest first; a later caller never overtakes them. */
  private readonly acquirers: Acquirer[] = []
  private freeWaiters: (() => void)[] = []
  private idleWaiters: (() => void)[] = []
  private readonly releaseListeners: (() => void)[] = []

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
  }

  /** Slots neither held nor promised to a waiting acquire(); 0 once closed. */
  get free(): number {
    if (this.closed || this.acquirers.length > 0) return 0
    return Math.max(0, this.capacity - this.held)
  }

  /** Slots held now. */
  get inUse(): number {
    return this.held
  }

  /** Takes up to `max` free slots at once, without waiting; returns how many it took (0 when closed). */
  tryAcquire(max: number): number {
    const taken = Math.min(max, this.free)
    if (taken > 0) this.held += taken
    return taken
  }

  /**
   * Takes `count` slots (at most the capacity), waiting for them in turn behind earlier callers;
   * resolves false, taking nothing, once the slots are closed.
   */
  acquire(count: number): Promise<boolean> {
    if (!Number.isInteger(count) || count < 1 || count > this.capacity) throw new RangeError(`cannot acquire ${count} of ${this.capacity} slots`)
    if (this.closed) return Promise.resolve(false)
    if (this.acquirers.length === 0 && this.capacity - this.held >= count) {
      this.held += count
      return Promise.resolve(true)
    }
    return new Promise((resolve) => this.acquirers.push({ count, resolve }))
  }

  /** Gives back `count` slots; wakes, in this order, the acquirers they satisfy, free and idle waiters, then release listeners. */
  release(count = 1): void {
    if (count <= 0) return
    if (count > this.held) throw new RangeError(`releasing ${count} slots, but only ${this.held} are held`)
    this.held -= count
    // each check first asks whether anyone waits: a release per ending task is the common case
    if (this.acquirers.length > 0) this.grant()
    if (this.freeWaiters.length > 0 && this.free > 0) this.wake('free')
    if (this.idleWaiters.length > 0 && this.held === 0) this.wake('idle')
    for (const listener of this.releaseListeners) listener()
  }

  /** Resolves once a slot is free (at once when one is), or once the slots are closed. */
  whenFree(): Promise<void> {
    if (this.free > 0 || this.closed) return Promise.resolve()
    return new Promise((resolve) => this.freeWaiters.push(resolve))
  }

  /** Resolves once no slot is held (at once when none is); closing does not end this wait. */
  whenIdle(): Promise<void> {
    if (this.held === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Calls `listener` after every release, once the waiters were woken. */
  onRelease(listener: () => void): void {
    this.releaseListeners.push(listener)
  }

  /**
   * Admits nothing more: waiting acquire() calls resolve false, free waiters are woken, and no
   * slot is taken from now on. Slots held stay held until released. Idempotent.
   */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const acquirer of this.acquirers.splice(0)) acquirer.resolve(false)
    this.wake('free')
  }

  /** Hands released slots to the acquirers waiting, oldest first, as long as the oldest one fits. */
  private grant(): void {
    while (!this.closed) {
      const next = this.acquirers[0]
      if (!next || this.capacity - this.held < next.count) return
      this.acquirers.shift()
      this.held += next.count
      next.resolve(true)
    }
  }

  private wake(which: 'free' | 'idle'): void {
    const waiters = which === 'free' ? this.freeWaiters : this.idleWaiters
    if (waiters.length === 0) return
    if (which === 'free') this.freeWaiters = []
    else this.idleWaiters = []
    for (const resolve of waiters) resolve()
  }
}
