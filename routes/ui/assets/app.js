/**
 * The dashboard's shell: the token prompt, the status line, messages, and which view shows
 * (`#/` the overview, `#/task/{key}` a task's page). Views read and act through the API only.
 */
import { api, ApiError, setToken, token } from './api.js'
import { mountOverview } from './overview.js'
import { mountTask } from './task.js'

const main = document.getElementById('main')
const login = document.getElementById('login')
const loginError = document.getElementById('login-error')
const statusLine = document.getElementById('status')
const flash = document.getElementById('flash')
const forget = document.getElementById('forget')

let unmount
let connection = 'loading…'
let problem

function showStatus() {
  statusLine.textContent = problem ? `${connection} · ${problem}` : connection
  statusLine.className = problem ? 'problem' : ''
}

/** What a failed action tells a person. */
function describe(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error)
  if (error.missingRoute) return 'this gateway does not serve that route (it is older than this dashboard)'
  return error.message
}

function say(text, kind) {
  flash.textContent = text
  flash.className = kind
  flash.hidden = false
}

/** What views may use of the shell. */
const shell = {
  /** The connection's state, in the header: live, reconnecting, refreshing every few seconds. */
  status(text) {
    connection = text
    showStatus()
  },
  /** A problem of the gateway (Redis away, the gateway unreachable), or undefined when it is over. */
  problem(text) {
    problem = text
    showStatus()
  },
  /** Runs an action of the API; says how it went; resolves with whether it succeeded. */
  async act(done, action) {
    try {
      await action()
      say(done, 'info')
      return true
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        shell.needToken()
        return false
      }
      say(describe(error), 'error')
      return false
    }
  },
  /** Shows the token prompt instead of the views (the gateway answered 401). */
  needToken() {
    unmount?.()
    unmount = undefined
    main.replaceChildren()
    main.hidden = true
    forget.hidden = true
    login.hidden = false
    if (token() !== null) {
      loginError.textContent = 'The gateway refused this token.'
      loginError.hidden = false
      setToken(null)
    }
    shell.status('token needed')
    login.elements.token.focus()
  },
}

/** Shows the view the address names. */
function route() {
  unmount?.()
  main.replaceChildren()
  main.hidden = false
  login.hidden = true
  forget.hidden = token() === null
  flash.hidden = true
  const task = /^#\/task\/(.+)$/.exec(location.hash)
  if (task) {
    let key
    try {
      key = decodeURIComponent(task[1])
    } catch {
      key = task[1]
    }
    document.title = `${key} · shadows`
    unmount = mountTask(main, shell, key)
  } else {
    document.title = 'shadows'
    unmount = mountOverview(main, shell)
  }
}

login.addEventListener('submit', async (event) => {
  event.preventDefault()
  const entered = String(login.elements.token.value).trim()
  if (entered === '') return
  setToken(entered)
  loginError.hidden = true
  try {
    await api.snapshot()
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setToken(null)
      loginError.textContent = 'The gateway refused this token.'
      loginError.hidden = false
      return
    }
    // another answer (a scope this token lacks, Redis away): the views say what they can
  }
  login.reset()
  route()
})

forget.addEventListener('click', () => {
  setToken(null)
  shell.needToken()
})

window.addEventListener('hashchange', route)
route()
