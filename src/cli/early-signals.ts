/**
 * Signals that arrive while the command line is still loading. Node's default for SIGTERM and
 * SIGINT is to die at once, and loading shadows (Fastify, ioredis, …) takes a moment, longer on a
 * busy host: a worker stopped right after it was started would die mid-start instead of shutting
 * down. main.ts listens from its first line; a command's shutdown handler then takes over and
 * acts on a signal that came before it. This module imports nothing, so that it loads at once.
 */

let received: NodeJS.Signals | undefined
let listening = false

function remember(signal: NodeJS.Signals): void {
  received ??= signal
}

/** Records SIGTERM and SIGINT from now on, instead of dying of them. */
export function listenEarly(): void {
  if (listening) return
  listening = true
  process.on('SIGTERM', remember)
  process.on('SIGINT', remember)
}

/** Stops recording: from now on the signals do what their other listeners (or Node's defaults) do. */
export function stopListeningEarly(): void {
  if (!listening) return
  listening = false
  process.off('SIGTERM', remember)
  process.off('SIGINT', remember)
}

/** The first signal that arrived while recording, if any. */
export function earlySignal(): NodeJS.Signals | undefined {
  return received
}
