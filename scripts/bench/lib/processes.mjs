// Forking helper processes (servers, workers) and talking to them over IPC.
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { within } from './common.mjs'

/**
 * Forks `lib/<script>` with a JSON spec; its stdout and stderr go to our stderr. With `gc` it runs
 * with --expose-gc, so that it can collect garbage before it reports its heap.
 */
export function forkHelper(script, spec, { gc = false } = {}) {
  const child = fork(fileURLToPath(new URL(`./${script}`, import.meta.url)), [JSON.stringify(spec)], {
    stdio: ['ignore', 2, 2, 'ipc'],
    env: process.env,
    execArgv: gc ? [...process.execArgv, '--expose-gc'] : process.execArgv,
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    child,
    /** The next message for which `accept(message)` is true. */
    next(accept, ms = 30_000, what = 'helper process') {
      return within(
        new Promise((resolve, reject) => {
          const onMessage = (message) => {
            if (!accept(message)) return
            child.off('message', onMessage)
            child.off('exit', onExit)
            resolve(message)
          }
          const onExit = (code) => reject(new Error(`${what} exited with ${code}`))
          child.on('message', onMessage)
          child.once('exit', onExit)
        }),
        ms,
        what,
      )
    },
    /** Asks it to close; kills it when it has not exited within `ms`. */
    async stop(ms = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.send('close')
        const timer = setTimeout(() => child.kill('SIGKILL'), ms)
        await exited
        clearTimeout(timer)
      }
    },
  }
}
