/**
 * Retrying something that fails while Redis is away, without flooding the log: failures in a row
 * are counted, the first and every Nth of them is logged, and the delay before the next try grows
 * with each one up to a cap. A success starts over. Callers wait as suits them (a sleep, a timer,
 * their next tick): the helper only says how long.
 */

/** Where a {@link Backoff} logs: a pino logger will do. */
export interface BackoffLogger {
  warn(fields: { readonly err: unknown; readonly failures: number }, message: string): void
}

/** Settings of a {@link Backoff}. */
export interface BackoffOptions {
  /** Delay after the first failure in a row, in ms; each further failure adds as much again. */
  readonly step: number
  /** Longest delay, in ms. */
  readonly max: number
  /** Logs the 1st failure in a row and every `logEvery`th after it. */
  readonly logEvery: number
  /** Where failures are logged, at warn, with `err` and `failures`. */
  readonly logger: BackoffLogger
  /** The message logged, or what makes it from the error. */
  readonly message: string | ((err: unknown) => string)
}

/** The failures in a row of one retried operation. */
export class Backoff {
  private count = 0

  constructor(private readonly options: BackoffOptions) {}

  /** Failures in a row so far. */
  get failures(): number {
    return this.count
  }

  /** Counts a failure, logs it when it is the 1st in a row or an Nth, and returns the delay before the next try, in ms. */
  failed(err: unknown): number {
    this.count += 1
    const { step, max, logEvery, logger, message } = this.options
    if (this.count === 1 || this.count % logEvery === 0) {
      logger.warn({ err, failures: this.count }, typeof message === 'string' ? message : message(err))
    }
    return Math.min(step * this.count, max)
  }

  /** A success: the next failure starts a new run. */
  succeeded(): void {
    this.count = 0
  }
}
