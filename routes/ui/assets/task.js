/**
 * A task's page: its record (GET /tasks/{key}: params, result, error, progress) and its events
 * (GET /events?key=…, replayed from the start of the events log, then live). Read again when an
 * event arrives, or every few seconds while the task is unfinished when the gateway does not
 * serve /events.
 */
import { api, ApiError } from './api.js'
import { actionButton, set, errorText, eventItem, h, json, progressText, time } from './dom.js'
import { followLive, gathered } from './live.js'

/** Last-Event-ID that replays the whole events log (its ids are Redis stream ids, `<ms>-<sequence>`). */
export const FROM_THE_START = '0-0'
const LIVE = new Set(['scheduled', 'queued', 'running'])
const POLL_EVERY = 2000
const GATHER = 200

/** Mounts the page of the task `key` into `main`; returns its unmount. */
export function mountTask(main, shell, key) {
  let mounted = true
  let record
  const recordBody = h('div', { id: 'task-record' }, h('p', { class: 'empty' }, 'loading…'))
  const eventsBody = h('ol', { id: 'task-events', class: 'feed' })
  const eventsNote = h('p', { class: 'empty' }, 'waiting for events…')
  main.append(
    h('nav', null, h('a', { href: '#/' }, '← overview')),
    h('section', { id: 'task' }, h('h2', null, 'Task ', h('code', null, key)), recordBody),
    h('section', { id: 'task-history' }, h('h2', null, 'Events'), eventsNote, eventsBody),
  )

  async function read() {
    try {
      record = await api.get(key)
      if (mounted) render()
    } catch (err) {
      if (!mounted) return undefined
      if (err instanceof ApiError && err.status === 401) return shell.needToken()
      if (err instanceof ApiError && err.status === 404 && !err.missingRoute) {
        record = undefined
        set(recordBody, h('p', { class: 'note' }, `No task has the key ${key}: it never existed, or its record expired.`))
      } else {
        set(recordBody, h('p', { class: 'error' }, err.message))
      }
    }
    return undefined
  }
  const reads = gathered(read, GATHER)
  const load = reads.now

  function render() {
    const r = record
    const live = LIVE.has(r.state)
    const act = (label, done, action) =>
      actionButton(label, async () => {
        if (await shell.act(done, action)) void load()
      })
    set(
      recordBody,
      h(
        'dl',
        { class: 'record' },
        h('dt', null, 'task'),
        h('dd', { id: 'task-name' }, r.task),
        h('dt', null, 'state'),
        h('dd', null, h('span', { id: 'task-state', class: `state state-${r.state}` }, r.state)),
        h('dt', null, 'due'),
        h('dd', null, time(r.when)),
        h('dt', null, 'attempt'),
        h('dd', null, String(r.attempt)),
        r.worker ? [h('dt', null, 'worker'), h('dd', null, r.worker)] : null,
        r.startedAt ? [h('dt', null, 'started'), h('dd', null, time(r.startedAt))] : null,
        r.finishedAt ? [h('dt', null, 'finished'), h('dd', null, time(r.finishedAt))] : null,
      ),
      progressBar(r.progress),
      h('div', { class: 'actions' }, live ? act('Cancel', `Cancelled ${key}`, () => api.cancel(key)) : act('Retry', `Retried ${key}`, () => api.retry(key))),
      h('h3', null, 'params'),
      h('pre', { id: 'task-params', class: 'json' }, json(r.params)),
      r.result !== undefined ? [h('h3', null, 'result'), h('pre', { id: 'task-result', class: 'json' }, json(r.result))] : null,
      r.error ? [h('h3', null, 'error'), h('pre', { id: 'task-error', class: 'error' }, errorText(r.error))] : null,
    )
  }

  const stopFollowing = followLive(shell, {
    query: new URLSearchParams({ key }).toString(),
    since: FROM_THE_START,
    onEvent(event) {
      eventsNote.hidden = true
      eventsBody.append(eventItem(event, false))
      // progress shows at once; the record is read again for the rest
      if (record && event.data?.progress) {
        record = { ...record, progress: event.data.progress }
        render()
      }
      reads.soon()
    },
    onOpen: () => void load(),
    onNoEvents(state) {
      eventsNote.textContent = state === 'missing' ? 'This gateway does not serve GET /events: no events to show.' : 'Events were refused for this token.'
    },
    // an unfinished task is read again every few seconds
    poll() {
      if (!record || LIVE.has(record.state)) void load()
    },
    pollEvery: POLL_EVERY,
  })
  void load()

  return () => {
    mounted = false
    stopFollowing()
    reads.stop()
  }
}

/** The task's progress as a bar and its numbers; nothing when it reported none. */
function progressBar(progress) {
  if (!progress) return null
  const { current, total } = progress
  const bar =
    total !== undefined && total > 0
      ? h('progress', { id: 'task-progress', max: total, value: Math.min(current, total) })
      : h('progress', { id: 'task-progress' })
  return h('div', { class: 'progress' }, bar, ' ', h('span', { id: 'task-progress-text' }, progressText(progress)))
}
