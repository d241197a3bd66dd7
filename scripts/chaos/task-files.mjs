// What the tasks modules of the chaos run and of the soak share: a file of this process's own to
// append lines to, and the guard that ends the process once the harness that started it is gone.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A function that appends a line to `<dir>/<prefix>-<pid>.log` (nothing when `dir` is unset), with
 * a synchronous write on a file opened for appending: the line is in the kernel once the call
 * returns, so it survives a kill -9 of the process and a restart of Redis.
 */
export function lineWriter(dir, prefix) {
  let fd
  return (line) => {
    if (!dir) return
    if (fd === undefined) {
      mkdirSync(dir, { recursive: true })
      fd = openSync(join(dir, `${prefix}-${process.pid}.log`), 'a')
      process.once('exit', () => closeSync(fd))
    }
    writeSync(fd, `${line}\n`)
  }
}

/** Ends this process (SIGKILL) once the process `parent` is gone, so that nothing outlives its harness. */
export function followParent(parent) {
  if (!Number.isInteger(parent) || parent <= 0) return
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL')
  }, 1000).unref()
}
