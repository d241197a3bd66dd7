/**
 * Browser tests: Debian's Chromium (`/usr/bin/chromium`, installed by .ci/run when missing) driven
 * by playwright-core, never a browser build of its own. Each test gets a fresh profile, removed on
 * teardown, and a folder for its screenshots, kept after the test. The page's errors, CSP
 * violations and any request that leaves the gateway fail the test.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page, type Request } from 'playwright-core'
import type { Test } from 'tap'
import type { AnyTask } from '../../src/index.js'
import type { AppOptions } from '../../src/gateway/app.js'
import { makeApp } from './gateway.js'
import { makeShadow, makeWorker } from './shadow.js'

/** Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium'

/** Headless, and nothing that reaches the network by itself (updates, sync, QUIC probes). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A browser on one page, for one test. */
export interface BrowserPage {
  readonly page: Page
  readonly context: BrowserContext
  /** Every request the page made, in order. */
  readonly requests: Request[]
  /** Saves a full-page screenshot as `{name}.png` in the test's folder, prints its path and returns it. */
  screenshot(name: string): Promise<string>
}

/** Opens Chromium with a fresh profile; closed on teardown. Requests outside `origin` fail the test. */
export async function openBrowser(t: Test, origin: string): Promise<BrowserPage> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium); .ci/run does`)
  const profile = await mkdtemp(join(tmpdir(), 'shadows-chromium-'))
  const shots = await mkdtemp(join(tmpdir(), 'shadows-ui-'))
  let context: BrowserContext
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    })
  } catch (err) {
    await rm(profile, { recursive: true, force: true })
    throw err
  }
  // registered after the gateway's teardowns, so it runs before them (tap runs them last first):
  // the page's open GET /events streams end before the app closes. It never throws, since a
  // teardown that throws makes tap skip the ones after it and the gateway would be left open.
  t.teardown(async () => {
    try {
      await context.close()
    } catch (err) {
      t.comment(`closing the browser: ${(err as Error).message}`)
    }
    await rm(profile, { recursive: true, force: true }).catch(() => undefined)
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const requests: Request[] = []
  page.on('request', (request) => {
    requests.push(request)
    if (!request.url().startsWith(origin) && !request.url().startsWith('data:')) t.fail(`the page asked for something outside the gateway: ${request.url()}`)
  })
  page.on('pageerror', (err) => t.fail(`the page threw: ${err.message}`))
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) t.fail(`a CSP violation: ${message.text()}`)
  })
  return {
    page,
    context,
    requests,
    async screenshot(name) {
      const path = join(shots, `${name}.png`)
      await page.screenshot({ path, fullPage: true })
      t.comment(`screenshot: ${path}`)
      return path
    },
  }
}

/** A listening gateway on its own shadow name, with a worker in the same process. */
export interface ServedGateway {
  /** `http://127.0.0.1:{port}` */
  readonly origin: string
  readonly name: string
}

/**
 * Starts a gateway on a loopback port and a worker for `tasks`, both on a new shadow name. On
 * teardown (in reverse order): the worker closes, then the no-leak checks run and the app closes.
 */
export async function serveGateway(t: Test, tasks: readonly AnyTask[], options: Partial<AppOptions> = {}): Promise<ServedGateway> {
  const { app, name } = await makeApp(t, { ...options, tasks })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const shadow = makeShadow(t, { name, tasks })
  const worker = makeWorker(t, shadow, tasks)
  const loop = worker.run()
  t.teardown(async () => {
    await worker.close()
    await loop
  })
  const { port } = app.server.address() as AddressInfo
  return { origin: `http://127.0.0.1:${port}`, name }
}
