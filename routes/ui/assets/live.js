/**
 * What every view does to stay current: reads gathered so that one runs at a time, and following
 * GET /events, reading again after each (re)connect, or every few seconds when the gateway does
 * not serve /events or refuses it.
 */
import { follow } from './events.js'

/**
 * `read` run one at a time: `now()` runs it, or once more after the run in flight; `soon()` runs it
 * `delay` ms later, gathering the calls meanwhile into one; `stop()` ends both.
 */
export function gathered(read, delay) {
  let running = false
  let again = false
  let stopped = false
  let timer
  const soon = () => {
    if (timer === undefined && !stopped) timer = setTimeout(() => ((timer = undefined), void now()), delay)
  }
  const now = async () => {
    if (running) {
      again = true
      return
    }
    running = true
    try {
      await read()
    } finally {
      running = false
      if (again) {
        again = false
        soon()
      }
    }
  }
  const stop = () => {
    stopped = true
    clearTimeout(timer)
  }
  return { now, soon, stop }
}

/**
 * Follows `/events?{query}` for a view (`since`, `onEvent` as for {@link follow}), telling the
 * shell how the connection is. `onOpen()` runs after each connect; when the gateway does not
 * serve /events or refuses it for this token, `onNoEvents(state)` runs once and `poll()` every
 * `pollEvery` ms. Returns the stop.
 */
export function followLive(shell, { query, since, onEvent, onOpen, onNoEvents, poll, pollEvery }) {
  let stopped = false
  let poller
  const close = follow({
    query,
    since,
    onEvent,
    onState(state, detail) {
      if (stopped) return
      if (state === 'open') {
        shell.status('live')
        onOpen()
      } else if (state === 'retrying') {
        shell.status(`reconnecting in ${Math.round(detail / 1000)} s`)
      } else if (state === 'refused' && detail === 401) {
        shell.needToken()
      } else {
        shell.status(`refreshing every ${pollEvery / 1000} s`)
        onNoEvents(state)
        poller = setInterval(poll, pollEvery)
      }
    },
  })
  return () => {
    stopped = true
    close()
    clearInterval(poller)
  }
}
