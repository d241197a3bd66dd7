/**
 * The overview: counts by state and task, workers, running, scheduled, failed and recently
 * completed tasks, strikes, and the live events. It reads GET /snapshot, /workers, /strikes and
 * /tasks?state=…, and reads them again when GET /events tells of a change (or every few seconds
 * when the gateway does not serve /events). Each part shows what it could read, and says so when
 * the gateway does not serve the route it needs.
 */
import { api, ApiError } from './api.js'
import { actionButton, set, errorText, eventItem, h, json, strikeText, table, taskHref, taskLink, time } from './dom.js'
import { followLive, gathered } from './live.js'

const LIVE_STATES = ['scheduled', 'queued', 'running']
const FINISHED_STATES = ['completed', 'failed', 'cancelled', 'struck']
/** How many finished tasks of each state are read for the counts and lists. */
const LIST_LIMIT = 100
/** How long a burst of events may gather before the page is read again, ms. */
const GATHER = 400
/** How often the page is read again without /events, ms. */
const POLL_EVERY = 5000
const FEED_LENGTH = 50
const OPERATORS = ['==', '!=', '>', '>=', '<', '<=', 'between']

/**
 * The live events seen so far, newest first, and the id of the newest: kept while a task's page
 * shows, so that the overview resumes from there when it shows again.
 */
const feed = []
let lastSeen

/** A section with a title and a body to fill. */
function section(id, title, ...extra) {
  const body = h('div', { class: 'body' }, h('p', { class: 'empty' }, 'loading…'))
  return { element: h('section', { id }, h('h2', null, title), body, ...extra), body }
}

/** What a failed read shows in place of its part. */
function unavailable(error, route) {
  if (error instanceof ApiError && error.missingRoute) return h('p', { class: 'note' }, `This gateway does not serve ${route}.`)
  return h('p', { class: 'error' }, `${route}: ${error.message}`)
}

/** Mounts the overview into `main`; returns its unmount. */
export function mountOverview(main, shell) {
  let mounted = true
  const parts = {
    counts: section('counts', 'Counts'),
    workers: section('workers', 'Workers'),
    running: section('running', 'Running'),
    scheduled: section('scheduled', 'Scheduled'),
    failed: section('failed', 'Failed'),
    completed: section('completed', 'Recently completed'),
    strikes: section('strikes', 'Strikes', strikeForm()),
    events: section('events', 'Live events'),
  }
  set(parts.events.body, h('p', { class: 'empty' }, 'waiting for events…'))
  main.append(
    parts.counts.element,
    h('div', { class: 'columns' }, parts.workers.element, parts.running.element),
    parts.scheduled.element,
    parts.failed.element,
    h('div', { class: 'columns' }, parts.completed.element, parts.strikes.element),
    parts.events.element,
    openForm(),
  )

  const reads = gathered(load, GATHER)
  const refresh = reads.now

  async function load() {
    const [snapshot, workers, strikes, ...lists] = await Promise.allSettled([
      api.snapshot(),
      api.workers(),
      api.strikes(),
      ...FINISHED_STATES.map((state) => api.list(state, LIST_LIMIT)),
    ])
    if (!mounted) return
    const errors = [snapshot, workers, strikes, ...lists].filter((r) => r.status === 'rejected').map((r) => r.reason)
    if (errors.some((e) => e instanceof ApiError && e.status === 401)) return shell.needToken()
    const away = errors.find((e) => e instanceof ApiError && (e.status === 503 || e.status === 0))
    shell.problem(away ? away.message : undefined)
    const listed = Object.fromEntries(FINISHED_STATES.map((state, i) => [state, lists[i]]))
    renderCounts(snapshot, listed)
    renderWorkers(workers)
    renderRunning(snapshot)
    renderScheduled(snapshot)
    renderFailed(listed.failed)
    renderCompleted(listed.completed)
    renderStrikes(strikes)
    return undefined
  }

  function renderCounts(snapshot, listed) {
    const tasks = new Map()
    const cell = (task) => {
      if (!tasks.has(task)) tasks.set(task, {})
      return tasks.get(task)
    }
    const all = cell('')
    if (snapshot.status === 'fulfilled') {
      for (const state of LIVE_STATES) all[state] = snapshot.value.counts[state]
      for (const [task, counts] of Object.entries(snapshot.value.byTask)) for (const state of LIVE_STATES) cell(task)[state] = counts[state]
    }
    const partial = {}
    for (const state of FINISHED_STATES) {
      const list = listed[state]
      if (list.status !== 'fulfilled') continue
      partial[state] = list.value.next !== undefined
      all[state] = list.value.tasks.length
      for (const record of list.value.tasks) cell(record.task)[state] = (cell(record.task)[state] ?? 0) + 1
    }
    const known = (state) => (LIVE_STATES.includes(state) ? snapshot.status === 'fulfilled' : listed[state].status === 'fulfilled')
    const row = (task, counts) =>
      h(
        'tr',
        { 'data-task': task },
        h('th', { scope: 'row' }, task === '' ? 'all tasks' : task),
        [...LIVE_STATES, ...FINISHED_STATES].map((state) =>
          h(
            'td',
            { 'data-state': state, class: 'n', title: known(state) ? null : 'not available from this gateway' },
            known(state) ? `${counts[state] ?? 0}${partial[state] ? '+' : ''}` : '–',
          ),
        ),
      )
    const names = [...tasks.keys()].filter((t) => t !== '').sort()
    set(
      parts.counts.body,
      table(['task', ...LIVE_STATES, ...FINISHED_STATES], [row('', all), ...names.map((task) => row(task, tasks.get(task)))], ''),
      FINISHED_STATES.some((s) => partial[s]) ? h('p', { class: 'note' }, `n+: at least n (the newest ${LIST_LIMIT} of a finished state are read).`) : null,
      snapshot.status === 'rejected' ? unavailable(snapshot.reason, 'GET /snapshot') : null,
      listed.failed.status === 'rejected' ? unavailable(listed.failed.reason, 'GET /tasks?state=… (task history)') : null,
    )
  }

  function renderWorkers(workers) {
    if (workers.status === 'rejected') return set(parts.workers.body, unavailable(workers.reason, 'GET /workers'))
    const rows = workers.value.workers.map((w) =>
      h(
        'tr',
        { 'data-worker': w.name },
        h('td', null, w.name),
        h('td', null, w.tasks.join(', ')),
        h('td', { class: 'n' }, `${w.running} / ${w.concurrency}`),
        h('td', null, time(w.lastSeen)),
      ),
    )
    return set(parts.workers.body, table(['name', 'tasks', 'running', 'last seen'], rows, 'No live worker.'))
  }

  /** A button that runs `action` through the shell, then reads the page again when it succeeded. */
  const act = (label, done, action) =>
    actionButton(label, async () => {
      if (await shell.act(done, action)) void refresh()
    })
  const cancelButton = (key) => act('Cancel', `Cancelled ${key}`, () => api.cancel(key))
  /** A row of a task: its key (a link to its page), its name, then `cells`. */
  const taskRow = (task, ...cells) => h('tr', { 'data-key': task.key }, h('td', null, taskLink(task.key)), h('td', null, task.task), cells)

  function renderRunning(snapshot) {
    if (snapshot.status === 'rejected') return set(parts.running.body, unavailable(snapshot.reason, 'GET /snapshot'))
    const rows = snapshot.value.running.map((r) => taskRow(r, h('td', null, r.worker), h('td', null, time(r.startedAt)), h('td', null, cancelButton(r.key))))
    return set(parts.running.body, table(['key', 'task', 'worker', 'started', ''], rows, 'Nothing is running.'))
  }

  function renderScheduled(snapshot) {
    if (snapshot.status === 'rejected') return set(parts.scheduled.body, unavailable(snapshot.reason, 'GET /snapshot'))
    const { scheduled, counts } = snapshot.value
    const rows = scheduled.map((s) => taskRow(s, h('td', null, time(s.when)), h('td', null, cancelButton(s.key))))
    return set(
      parts.scheduled.body,
      table(['key', 'task', 'due', ''], rows, 'Nothing is scheduled.'),
      counts.scheduled > scheduled.length ? h('p', { class: 'note' }, `The first ${scheduled.length} of ${counts.scheduled}, by due time.`) : null,
    )
  }

  function renderFailed(list) {
    if (list.status === 'rejected') return set(parts.failed.body, unavailable(list.reason, 'GET /tasks?state=failed'))
    const rows = list.value.tasks.map((r) =>
      taskRow(
        r,
        h('td', null, time(r.finishedAt)),
        h('td', { class: 'error' }, errorText(r.error)),
        h(
          'td',
          null,
          act('Retry', `Retried ${r.key}`, () => api.retry(r.key)),
        ),
      ),
    )
    return set(
      parts.failed.body,
      table(['key', 'task', 'failed', 'error', ''], rows, 'No failed task.'),
      list.value.next !== undefined ? h('p', { class: 'note' }, `The newest ${rows.length}.`) : null,
    )
  }

  function renderCompleted(list) {
    if (list.status === 'rejected') return set(parts.completed.body, unavailable(list.reason, 'GET /tasks?state=completed'))
    const rows = list.value.tasks.slice(0, 10).map((r) => taskRow(r, h('td', null, time(r.finishedAt)), h('td', { class: 'json' }, json(r.result, 60))))
    return set(parts.completed.body, table(['key', 'task', 'finished', 'result'], rows, 'No completed task.'))
  }

  function renderStrikes(strikes) {
    if (strikes.status === 'rejected') return set(parts.strikes.body, unavailable(strikes.reason, 'GET /strikes'))
    const rows = strikes.value.strikes.map((s) =>
      h(
        'tr',
        { 'data-id': s.id },
        h('td', { class: 'rule' }, strikeText(s)),
        h('td', null, time(s.createdAt)),
        h(
          'td',
          null,
          act('Restore', `Restored: ${strikeText(s)}`, () => api.restore(s.id)),
        ),
      ),
    )
    return set(parts.strikes.body, table(['rule', 'since', ''], rows, 'No strike: every task runs.'))
  }

  function strikeForm() {
    const form = h(
      'form',
      { id: 'strike-form', class: 'inline' },
      h('label', null, 'Task ', h('input', { name: 'task', placeholder: 'any task', autocomplete: 'off' })),
      h('label', null, 'Parameter ', h('input', { name: 'parameter', placeholder: 'none', autocomplete: 'off' })),
      h(
        'label',
        null,
        'Operator ',
        h(
          'select',
          { name: 'operator' },
          OPERATORS.map((op) => h('option', { value: op }, op)),
        ),
      ),
      h('label', null, 'Value ', h('input', { name: 'value', placeholder: '42, "text", [1, 5]', autocomplete: 'off' })),
      h('button', { type: 'submit' }, 'Strike'),
    )
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      const fields = new FormData(form)
      const rule = {}
      const task = String(fields.get('task')).trim()
      const parameter = String(fields.get('parameter')).trim()
      if (task) rule.task = task
      if (parameter) {
        rule.parameter = parameter
        rule.operator = String(fields.get('operator'))
        rule.value = parseValue(String(fields.get('value')))
      }
      const added = await shell.act('Struck', () => api.strike(rule))
      if (added) {
        form.reset()
        void refresh()
      }
    })
    return form
  }

  function renderFeed() {
    set(
      parts.events.body,
      feed.length === 0
        ? h('p', { class: 'empty' }, 'No event yet.')
        : h(
            'ol',
            { class: 'feed' },
            feed.map((e) => eventItem(e)),
          ),
    )
  }

  let feedQueued = false
  const stopFollowing = followLive(shell, {
    since: lastSeen,
    onEvent(event) {
      if (event.id !== undefined) lastSeen = event.id
      feed.unshift(event)
      feed.length = Math.min(feed.length, FEED_LENGTH)
      if (!feedQueued) {
        feedQueued = true
        requestAnimationFrame(() => ((feedQueued = false), mounted && renderFeed()))
      }
      reads.soon()
    },
    onOpen() {
      renderFeed()
      void refresh()
    },
    // no /events (an older gateway) or refused: the page is read again every few seconds
    onNoEvents(state) {
      set(
        parts.events.body,
        h(
          'p',
          { class: 'note' },
          state === 'missing' ? 'This gateway does not serve GET /events: no live events.' : 'Live events were refused for this token.',
        ),
      )
    },
    poll: () => void refresh(),
    pollEvery: POLL_EVERY,
  })
  void refresh()

  return () => {
    mounted = false
    stopFollowing()
    reads.stop()
  }
}

/** A strike value as typed: JSON when it parses (42, true, "text", [1, 5]), else the text itself. */
function parseValue(text) {
  const trimmed = text.trim()
  if (trimmed === '') return undefined
  try {
    return JSON.parse(trimmed)
  } catch {
    return trimmed
  }
}

/** Opens a task's page by its key. */
function openForm() {
  const form = h(
    'form',
    { id: 'open-task', class: 'inline' },
    h('label', null, 'Task key ', h('input', { name: 'key', required: true, autocomplete: 'off', maxlength: 200 })),
    h('button', { type: 'submit' }, 'Open'),
  )
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const key = String(new FormData(form).get('key')).trim()
    if (key) location.hash = taskHref(key)
  })
  return h('section', { id: 'open' }, h('h2', null, 'Find a task'), form)
}
