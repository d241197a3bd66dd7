/**
 * Graceful shutdown on SIGTERM and SIGINT; a second signal forces the exit.
 */
import type { Logger } from 'pino'

/** Runs `shutdown` on the first SIGTERM/SIGINT; exits at once (code 130) on a second one. */
export function onShutdownSignal(logger: Logger, shutdown: () => Promise<void>): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    stopping = true
    logger.info({ signal }, 'shutting down gracefully (send the signal again to force)')
    shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', handler)
  process.on('SIGINT', handler)
}
