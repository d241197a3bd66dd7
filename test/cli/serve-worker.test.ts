/**
 * `shadows serve` and `shadows worker` as separate processes, driven over HTTP: a task goes in at
 * the gateway and comes out completed; SIGTERM shuts both down gracefully (the worker finishes what
 * it runs), a second signal forces the exit; --until-finished and --metrics-port.
 */
import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../../src/cli/private-redis.js'
import { FORCED_EXIT_CODE } from '../../src/cli/signals.js'
import { Shadow } from '../../src/index.js'
import { closeAdmin, TEST_URL, testLogger, waitFor } from '../helpers/shadow.js'
import { cliSession, fetchJson, postJson, taskRecord, TASKS_FIXTURE, waitForTaskState, type CliSession } from '../helpers/cli.js'

t.teardown(closeAdmin)

/** Starts `serve` on a free port; resolves with its base URL once it listens. */
async function startGateway(cli: CliSession, extra: readonly string[] = []) {
  const port = await freePort()
  const gateway = cli.spawn(['serve', '--tasks', TASKS_FIXTURE, '--port', String(port), ...extra])
  await gateway.waitForOutput('gateway listening')
  return { gateway, base: `http://127.0.0.1:${port}` }
}

/** Starts `worker`; resolves once it has started taking work. */
async function startWorker(cli: CliSession, extra: readonly string[] = []) {
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, ...extra])
  await worker.waitForOutput('worker started')
  return worker
}

t.test('a task posted to the gateway is run by the worker; SIGTERM stops both with exit 0', async (t) => {
  const cli = cliSession(t)
  const { gateway, base } = await startGateway(cli)
  const worker = await startWorker(cli)

  const posted = await postJson(`${base}/tasks`, { task: 'greet', params: { name: 'Jane' }, key: 'jane' })
  t.equal(posted.status, 202, 'POST /tasks → 202')
  t.match(posted.body, { key: 'jane', task: 'greet', state: 'queued' })

  const done = await waitForTaskState(base, 'jane', 'completed')
  t.same(done.result, { text: 'Hello, Jane!' }, "GET /tasks/jane has the task's result")
  t.equal(done.attempt, 1)

  gateway.signal('SIGTERM')
  worker.signal('SIGTERM')
  t.same(await gateway.exited, { code: 0, signal: null }, 'serve exits 0 on SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null }, 'worker exits 0 on SIGTERM')
  await t.rejects(fetch(`${base}/health/live`), 'the gateway no longer accepts connections')
  t.equal(gateway.stderr(), '', 'serve wrote nothing to stderr')
  t.equal(worker.stderr(), '', 'worker wrote nothing to stderr')
})

t.test('SIGTERM while a task runs: the worker lets it finish, records it completed, then exits 0', async (t) => {
  const cli = cliSession(t)
  const { gateway, base } = await startGateway(cli)
  const worker = await startWorker(cli)
  const file = join(cli.dir, 'drain')

  t.equal((await postJson(`${base}/tasks`, { task: 'hold', params: { file }, key: 'held' })).status, 202)
  await waitFor(() => existsSync(`${file}.started`), 15_000, 'the task to start')
  t.equal((await fetchJson(`${base}/tasks/held`)).body.state, 'running', 'the task is running')

  worker.signal('SIGTERM')
  await worker.waitForOutput('shutting down gracefully')
  t.equal(worker.child.exitCode, null, 'the worker waits for the running task')
  writeFileSync(`${file}.release`, '')

  t.same(await worker.exited, { code: 0, signal: null }, 'worker exits 0 once the task finished')
  const task = await waitForTaskState(base, 'held', 'completed')
  t.same(task.result, { released: true, attempt: 1 }, 'the task completed on its first attempt, not lost or retried')
  t.equal(readFileSync(`${file}.started`, 'utf8'), '1', 'and it started only once')

  gateway.signal('SIGTERM')
  t.same(await gateway.exited, { code: 0, signal: null }, 'serve exits 0')
})

t.test('SIGTERM to the gateway: it stops accepting and exits 0, while the worker goes on', async (t) => {
  const cli = cliSession(t)
  const { gateway, base } = await startGateway(cli)
  const worker = await startWorker(cli)
  gateway.signal('SIGTERM')
  t.same(await gateway.exited, { code: 0, signal: null }, 'serve exits 0')
  await t.rejects(postJson(`${base}/tasks`, { task: 'greet', params: { name: 'late' } }), 'POST /tasks is refused once it stopped')

  const shadow = new Shadow({ url: TEST_URL, name: cli.name, logger: testLogger })
  t.teardown(() => shadow.close())
  await shadow.add('greet', { key: 'after' })({ name: 'After' })
  await waitFor(async () => (await taskRecord(cli.name, 'after')).state === 'completed', 15_000, 'the task added directly to complete')
  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null }, 'worker exits 0')
})

t.test('a second signal forces the exit while a task still runs', async (t) => {
  const cli = cliSession(t)
  const worker = await startWorker(cli)
  const shadow = new Shadow({ url: TEST_URL, name: cli.name, logger: testLogger })
  t.teardown(() => shadow.close())
  const file = join(cli.dir, 'stuck')
  await shadow.add('hold', { key: 'stuck' })({ file })
  await waitFor(() => existsSync(`${file}.started`), 15_000, 'the task to start')

  worker.signal('SIGTERM')
  await worker.waitForOutput('shutting down gracefully')
  worker.signal('SIGTERM')
  const exit = await worker.exited
  t.same(exit, { code: FORCED_EXIT_CODE, signal: null }, `the second signal exits at once with ${FORCED_EXIT_CODE}`)
  t.match(worker.stdout(), /second signal: exiting now/, 'and says so')
  t.equal((await taskRecord(cli.name, 'stuck')).state, 'running', 'the task was not completed: it stays claimed, for redelivery')
})

t.test('worker --until-finished runs everything queued and scheduled, then exits 0 by itself', async (t) => {
  const cli = cliSession(t)
  const shadow = new Shadow({ url: TEST_URL, name: cli.name, logger: testLogger })
  t.teardown(() => shadow.close())
  for (const name of ['Ann', 'Bob', 'Cid']) await shadow.add('greet', { key: name })({ name })
  await shadow.add('greet', { key: 'soon', delay: 300 })({ name: 'Soon' })

  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--until-finished'])
  t.same(await worker.exited, { code: 0, signal: null }, 'exits 0 without a signal')
  for (const key of ['Ann', 'Bob', 'Cid', 'soon']) {
    t.equal((await taskRecord(cli.name, key)).state, 'completed', `${key} completed`)
  }
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 }, 'nothing is left')
  t.equal(worker.stderr(), '')
})

t.test('worker --metrics-port serves Prometheus text that counts completed tasks', async (t) => {
  const cli = cliSession(t)
  const port = await freePort()
  const worker = await startWorker(cli, ['--metrics-port', String(port)])
  const shadow = new Shadow({ url: TEST_URL, name: cli.name, logger: testLogger })
  t.teardown(() => shadow.close())
  await shadow.add('greet', { key: 'counted' })({ name: 'Counted' })
  await waitFor(async () => (await taskRecord(cli.name, 'counted')).state === 'completed', 15_000, 'the task to complete')

  const response = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(response.status, 200)
  t.match(response.headers.get('content-type'), /^text\/plain/, 'Prometheus text format')
  const text = await response.text()
  t.match(text, /# TYPE shadows_tasks_completed_total counter/)
  t.match(text, /^shadows_tasks_completed_total\{task="greet"\} 1$/m, 'one greet completed')
  t.match(text, /^shadows_queue_depth \d+$/m, 'queue depth is reported')
  t.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404, 'other paths are 404')

  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null })
  await t.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'the metrics port is closed on exit')
})
