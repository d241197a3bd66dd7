/**
 * Building the page from data without ever parsing HTML: text goes in as text nodes and
 * attributes through setAttribute, so whatever a task name, its params or an error holds is
 * shown, never run. Nothing in the dashboard uses innerHTML.
 *
 * `h(tag, props, ...children)` has the signature of hyperscript (and of preact's `h`), so the
 * views could move to a component library without being rewritten.
 */

/**
 * An element. `props`: `onclick` and other `on…` functions become listeners; `value` and
 * `checked` are set as properties; `true` sets an empty attribute; `false`, null and undefined
 * set nothing. Children: nodes, strings, numbers, arrays of them; null and false are skipped.
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (name.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`${name} must be a function`)
      element.addEventListener(name.slice(2), value)
    } else if (name === 'value' || name === 'checked') {
      element[name] = value
    } else {
      element.setAttribute(name, value === true ? '' : String(value))
    }
  }
  append(element, children)
  return element
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue
    if (Array.isArray(child)) append(element, child)
    else element.append(typeof child === 'object' ? child : String(child))
  }
}

/** Replaces the children of `element` (children as for {@link h}). */
export function set(element, ...children) {
  element.replaceChildren()
  append(element, children)
  return element
}

/** The link to a task's page. Keys are URL-safe, but encoded all the same. */
export function taskHref(key) {
  return `#/task/${encodeURIComponent(key)}`
}

/** A link to a task's page showing its key. */
export function taskLink(key) {
  return h('a', { href: taskHref(key), class: 'key' }, key)
}

/** A time as the reader's local time, the exact value in its title; '' when absent. */
export function time(iso) {
  if (!iso) return ''
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return String(iso)
  return h('time', { datetime: iso, title: iso }, date.toLocaleString())
}

/** JSON for a person, cut at `max` characters. */
export function json(value, max = Infinity) {
  const text = value === undefined ? '' : JSON.stringify(value, null, max === Infinity ? 2 : undefined)
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/** A task error as one line. */
export function errorText(error) {
  return error ? `${error.type}: ${error.message}` : ''
}

/** A table with a head row, or a short note when there are no rows. */
export function table(columns, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty)
  return h(
    'table',
    null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        columns.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h('tbody', null, rows),
  )
}

/** A button that runs `action` once per click, disabled while it runs. */
export function actionButton(label, action, props = {}) {
  const button = h('button', {
    type: 'button',
    ...props,
    onclick: async () => {
      button.disabled = true
      try {
        await action()
      } finally {
        button.disabled = false
      }
    },
  })
  button.append(label)
  return button
}

/** A strike rule as one line: `task X`, `amount > 100`, or `task X where amount > 100`. */
export function strikeText(strike) {
  const condition = strike.parameter !== undefined ? `${strike.parameter} ${strike.operator} ${json(strike.value)}` : ''
  if (strike.task !== undefined) return condition ? `task ${strike.task} where ${condition}` : `task ${strike.task}`
  return condition
}

/** A task's progress as one line: `3 / 10 · message`. */
export function progressText({ current, total, message }) {
  return `${current}${total !== undefined ? ` / ${total}` : ''}${message ? ` · ${message}` : ''}`
}

/** What an event says beyond its type, task and key. */
function eventDetail(data) {
  if (data.error) return errorText(data.error)
  if (data.progress) return progressText(data.progress)
  if (data.strike) return strikeText(data.strike)
  return data.attempt !== undefined ? `attempt ${data.attempt}` : ''
}

/** One event of GET /events as a list item; the key links to the task unless `withKey` is false. */
export function eventItem(event, withKey = true) {
  const data = typeof event.data === 'object' && event.data !== null ? event.data : { type: event.type }
  return h(
    'li',
    { 'data-type': data.type ?? event.type },
    time(data.at),
    ' ',
    h('span', { class: `event event-${data.type ?? event.type}` }, data.type ?? event.type),
    data.task ? [' ', h('span', { class: 'task' }, data.task)] : null,
    withKey && data.key ? [' ', taskLink(data.key)] : null,
    ' ',
    h('span', { class: 'detail' }, eventDetail(data)),
  )
}
