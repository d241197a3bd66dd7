/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against a real
 * gateway and a worker on the test Redis: a failed task shows with its error and is retried from
 * the page until it completes, a strike is added and restored from the page, a scheduled task is
 * cancelled from the overview and a running one from its page, a task's page shows its progress
 * and events; with tokens, the page asks for one, keeps it out of every URL, and the token's
 * scopes hold. Screenshots are kept in a temporary folder whose paths the test prints.
 */
import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { Page } from 'playwright-core'
import { defineTask } from '../../src/index.js'
import { greet } from '../helpers/gateway.js'
import { closeAdmin } from '../helpers/shadow.js'
import { openBrowser, serveGateway } from '../helpers/browser.js'

t.teardown(closeAdmin)

/** Keys of `ui-flaky` tasks that succeed from now on; the others fail. */
const healed = new Set<string>()

/** Fails, with an error message full of markup, until its key is healed. */
const flaky = defineTask({
  name: 'ui-flaky',
  params: Type.Object({ label: Type.String() }),
  async run({ label }, ctx) {
    if (!healed.has(ctx.key)) throw new Error(`refused <b>${label}</b> <img src=x onerror="window.pwned=1">`)
    return { label, healed: true }
  },
})

/** Lets each `ui-report` task finish, by key. */
const releases = new Map<string, () => void>()

/** Reports progress 3 of `steps`, then waits to be released (or cancelled). */
const report = defineTask({
  name: 'ui-report',
  params: Type.Object({ steps: Type.Integer({ minimum: 3 }) }),
  async run({ steps }, ctx) {
    await ctx.progress(3, steps, 'three <i>done</i>')
    await new Promise<void>((resolve) => {
      releases.set(ctx.key, resolve)
      ctx.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    return { steps }
  },
})

const TASKS = [greet, flaky, report]

/** Calls the gateway as any client would (Node's fetch: no Origin). */
async function call(origin: string, method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const response = await fetch(`${origin}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  const text = await response.text()
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
}

/** The row of `key` in the overview's section `id`. */
const row = (page: Page, id: string, key: string) => page.locator(`#${id} tr[data-key="${key}"]`)

t.test('without tokens: failed, retried, struck, restored, cancelled, and a task page, all from the page', async (t) => {
  const { origin } = await serveGateway(t, TASKS)
  const browser = await openBrowser(t, origin)
  const { page } = browser

  const loaded = await page.goto(`${origin}/ui`)
  t.match(loaded?.headers()['content-security-policy'], /script-src 'self'/, 'the page is served with its CSP')
  await page.locator('#status', { hasText: 'live' }).waitFor()
  await page.locator('#workers tr[data-worker]').waitFor()
  t.pass('the overview is live (GET /events) and shows the worker')

  await t.test('a task failed through the API shows in the failed list with its error, as text', async (t) => {
    t.equal((await call(origin, 'POST', '/tasks', { task: 'ui-flaky', key: 'flaky-1', params: { label: 'one' } })).status, 202)
    const failed = row(page, 'failed', 'flaky-1')
    await failed.waitFor()
    t.match(await failed.locator('td.error').textContent(), 'Error: refused <b>one</b> <img src=x onerror="window.pwned=1">', 'the error, markup shown as text')
    t.equal(await page.locator('#failed img, #failed b').count(), 0, 'no markup of the error became an element')
    t.equal(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned), undefined, 'and none of it ran')
    await page.locator('#counts tr[data-task="ui-flaky"] td[data-state="failed"]', { hasText: '1' }).waitFor()
    t.pass('the counts show one failed ui-flaky')
    await browser.screenshot('overview-failed')
  })

  await t.test('retried from the page, it runs again and completes', async (t) => {
    healed.add('flaky-1')
    await row(page, 'failed', 'flaky-1').getByRole('button', { name: 'Retry' }).click()
    await row(page, 'completed', 'flaky-1').waitFor()
    await row(page, 'failed', 'flaky-1').waitFor({ state: 'detached' })
    const record = await call(origin, 'GET', '/tasks/flaky-1')
    t.match(record.body, { state: 'completed', result: { label: 'one', healed: true } }, 'the API agrees')
    await browser.screenshot('overview-retried')
  })

  await t.test('a strike added from the page holds, and is restored from the page', async (t) => {
    const form = page.locator('#strike-form')
    await form.locator('input[name=task]').fill('greet')
    await form.locator('input[name=parameter]').fill('name')
    await form.locator('select[name=operator]').selectOption('==')
    await form.locator('input[name=value]').fill('"Mallory"')
    await form.getByRole('button', { name: 'Strike' }).click()
    const rule = page.locator('#strikes tr[data-id]', { hasText: 'task greet where name == "Mallory"' })
    await rule.waitFor()
    const strikes = (await call(origin, 'GET', '/strikes')).body.strikes as { task?: string; parameter?: string; value?: unknown }[]
    t.match(strikes, [{ task: 'greet', parameter: 'name', operator: '==', value: 'Mallory' }], 'stored as entered')
    const refused = await call(origin, 'POST', '/tasks', { task: 'greet', params: { name: 'Mallory' } })
    t.match(refused, { status: 409, body: { code: 'SHADOWS_ERR_STRUCK' } }, 'and it holds')
    await browser.screenshot('overview-struck')
    await rule.getByRole('button', { name: 'Restore' }).click()
    await rule.waitFor({ state: 'detached' })
    t.same((await call(origin, 'GET', '/strikes')).body, { strikes: [] }, 'restored')
    t.equal((await call(origin, 'POST', '/tasks', { task: 'greet', params: { name: 'Mallory' } })).status, 202, 'the task is accepted again')
  })

  await t.test('a scheduled task is cancelled from the page', async (t) => {
    t.equal((await call(origin, 'POST', '/tasks', { task: 'greet', key: 'later-1', params: { name: 'Later' }, delay: 3_600_000 })).status, 202)
    const scheduled = row(page, 'scheduled', 'later-1')
    await scheduled.waitFor()
    await scheduled.getByRole('button', { name: 'Cancel' }).click()
    await scheduled.waitFor({ state: 'detached' })
    t.match((await call(origin, 'GET', '/tasks/later-1')).body, { state: 'cancelled' }, 'the API agrees')
  })

  await t.test("a task's page shows its params, progress, events and result", async (t) => {
    t.equal((await call(origin, 'POST', '/tasks', { task: 'ui-report', key: 'report-1', params: { steps: 10 } })).status, 202)
    await row(page, 'running', 'report-1').getByRole('link', { name: 'report-1' }).click()
    await page.locator('#task-progress-text', { hasText: '3 / 10 · three <i>done</i>' }).waitFor()
    t.equal(await page.locator('#task-progress').getAttribute('max'), '10', 'a progress bar out of 10')
    t.equal(await page.locator('#task-progress').evaluate((bar) => (bar as unknown as { value: number }).value), 3, 'at 3')
    t.match(JSON.parse((await page.locator('#task-params').textContent()) ?? ''), { steps: 10 }, 'its params')
    for (const type of ['added', 'started', 'progress']) await page.locator(`#task-events li[data-type="${type}"]`).waitFor()
    t.pass('its events so far, replayed from the log: added, started, progress')
    await browser.screenshot('task-running')
    releases.get('report-1')?.()
    await page.locator('#task-state', { hasText: 'completed' }).waitFor()
    await page.locator('#task-events li[data-type="completed"]').waitFor()
    t.match(JSON.parse((await page.locator('#task-result').textContent()) ?? ''), { steps: 10 }, 'its result')
    await browser.screenshot('task-completed')
  })

  await t.test('a running task is cancelled from its page', async (t) => {
    t.equal((await call(origin, 'POST', '/tasks', { task: 'ui-report', key: 'report-2', params: { steps: 5 } })).status, 202)
    await page.locator('nav a', { hasText: 'overview' }).click()
    await row(page, 'running', 'report-2').getByRole('link', { name: 'report-2' }).click()
    await page.locator('#task-state', { hasText: 'running' }).waitFor()
    await page.locator('#task-record').getByRole('button', { name: 'Cancel' }).click()
    await page.locator('#task-state', { hasText: 'cancelled' }).waitFor()
    await page.locator('#task-events li[data-type="cancelled"]').waitFor()
    t.match((await call(origin, 'GET', '/tasks/report-2')).body, { state: 'cancelled' }, 'the API agrees')
    await page.locator('#task-record').getByRole('button', { name: 'Retry' }).waitFor()
    t.pass('a finished task offers Retry instead')
    await browser.screenshot('task-cancelled')
  })
})

t.test('with tokens: the page asks for one, keeps it out of URLs, and its scopes hold', async (t) => {
  const OPS = 'ui-ops-token-1'
  const READ = 'ui-read-token-1'
  const { origin } = await serveGateway(t, TASKS, { tokens: `${OPS}:ops;${READ}:read` })
  const browser = await openBrowser(t, origin)
  const { page } = browser

  await page.goto(`${origin}/ui`)
  const login = page.locator('#login')
  await login.waitFor()
  t.equal(await page.locator('#main').isHidden(), true, 'nothing but the prompt shows')
  await browser.screenshot('token-prompt')

  await login.locator('input[name=token]').fill('not-a-token')
  await login.getByRole('button', { name: 'Use token' }).click()
  await page.locator('#login-error', { hasText: 'refused' }).waitFor()
  t.pass('a wrong token is refused')

  await login.locator('input[name=token]').fill(READ)
  await login.getByRole('button', { name: 'Use token' }).click()
  await page.locator('#status', { hasText: 'live' }).waitFor()
  await page.locator('#workers tr[data-worker]').waitFor()
  t.equal(await page.evaluate("sessionStorage.getItem('shadows.token')"), READ, 'the token is kept for the tab')

  // a read token cannot strike: the page says what the gateway said
  await page.locator('#strike-form input[name=task]').fill('greet')
  await page.locator('#strike-form').getByRole('button', { name: 'Strike' }).click()
  await page.locator('#flash.error', { hasText: 'lacks the ops scope' }).waitFor()
  t.same((await call(origin, 'GET', '/strikes', undefined, OPS)).body, { strikes: [] }, 'nothing was struck')
  await browser.screenshot('read-token-refused')

  await page.getByRole('button', { name: 'Forget token' }).click()
  await login.waitFor()
  t.equal(await page.evaluate("sessionStorage.getItem('shadows.token')"), null, 'forgotten')
  await login.locator('input[name=token]').fill(OPS)
  await login.getByRole('button', { name: 'Use token' }).click()
  await page.locator('#status', { hasText: 'live' }).waitFor()
  await page.locator('#strike-form input[name=task]').fill('greet')
  await page.locator('#strike-form').getByRole('button', { name: 'Strike' }).click()
  await page.locator('#strikes tr[data-id]', { hasText: 'task greet' }).waitFor()
  t.match((await call(origin, 'GET', '/strikes', undefined, OPS)).body, { strikes: [{ task: 'greet' }] }, 'an ops token strikes')
  await browser.screenshot('ops-token')

  const api = browser.requests.filter((r) => !new URL(r.url()).pathname.startsWith('/ui'))
  t.ok(api.length > 0, 'the page called the API')
  t.notOk(
    browser.requests.some((r) => r.url().includes(OPS) || r.url().includes(READ)),
    'no URL carries a token',
  )
  const events = api.filter((r) => new URL(r.url()).pathname === '/events')
  const authorizations = await Promise.all(events.map(async (r) => (await r.allHeaders()).authorization))
  t.ok(authorizations.includes(`Bearer ${OPS}`), 'the page followed GET /events with the token in its Authorization header')
  t.ok(
    authorizations.every((header) => header === undefined || header === `Bearer ${READ}` || header === `Bearer ${OPS}`),
    'each /events request carried the token entered then, or none before one was',
  )
})
