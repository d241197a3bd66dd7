/**
 * Graceful shutdown on SIGTERM and SIGINT; a second signal forces the exit.
 */
import type { Logger } from 'pino'
import { earlySignal, stopListeningEarly } from './early-signals.js'

/** Exit code after a forced (second-signal) shutdown. */
export const FORCED_EXIT_CODE = 130

/** A stop routine that runs once however often it is called. */
export type Stop = () => Promise<void>

/** Wraps `stop` so that every call shares the first call's promise. */
export function runOnce(stop: () => Promise<void>): Stop {
  let stopping: Promise<void> | undefined
  return () => (stopping ??= stop())
}

/**
 * Runs `shutdown` on the first SIGTERM/SIGINT and resolves with the exit code once it finished
 * (0, or 1 when it failed); a second signal exits at once with {@link FORCED_EXIT_CODE}.
 * Install it before the first resource is opened, so a signal during start-up is graceful too; a
 * signal that came earlier still, while the command line loaded (see early-signals.ts), starts the
 * shutdown at once.
 */
export function onShutdownSignal(logger: Logger, shutdown: Stop): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now')
        process.exit(FORCED_EXIT_CODE)
      }
      stopping = true
      logger.info({ signal }, 'shutting down gracefully (send the signal again to force)')
      shutdown().then(
        () => resolve(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          resolve(1)
        },
      )
    }
    process.on('SIGTERM', handler)
    process.on('SIGINT', handler)
    // a signal that came while the command was loading stops it now, gracefully
    stopListeningEarly()
    const early = earlySignal()
    if (early !== undefined) handler(early)
  })
}
