/**
 * The operator's commands against the test Redis: tasks (a page of one state), retry (one task, or
 * every one of a state) and watch (live events).
 */
import t from 'tap'
import { defineTask, Shadow, ShadowsError, Worker } from '../../src/index.js'
import { closeAdmin, TEST_URL, testLogger, waitFor } from '../helpers/shadow.js'
import { cliSession, lines, runFails as fails, runOk as ok } from '../helpers/cli.js'
import { logPosition } from '../helpers/history.js'

t.teardown(closeAdmin)

t.test('tasks lists failed tasks with their errors, a page at a time; retry runs one or all of them again; watch prints events', async (t) => {
  const cli = cliSession(t)
  // failing tasks come from a worker in this process, on the session's shadow
  const boom = defineTask({
    name: 'boom',
    async run() {
      throw new Error('kaput\nsecond line')
    },
  })
  const shadow = new Shadow({ name: cli.name, url: TEST_URL, logger: testLogger, tasks: [boom] })
  const worker = new Worker(shadow, { tasks: [boom], logger: testLogger, gracePeriod: 2000 })
  t.teardown(async () => {
    await worker.close()
    await shadow.close()
  })
  void worker.run()
  const failed = async (key: string) => {
    const error = await shadow.result(key, { timeout: 30_000 }).then(
      () => undefined,
      (err: unknown) => err,
    )
    t.match(error, ShadowsError, `${key} ended`)
    t.match((error as ShadowsError).details, { state: 'failed' }, `${key} failed`)
  }
  for (const key of ['b1', 'b2', 'b3']) {
    await shadow.add('boom', { key })()
    await failed(key)
  }

  const table = lines(await ok(t, cli, ['tasks', '--state', 'failed']))
  t.match(table[0], /^KEY\s+TASK\s+ATTEMPT\s+FINISHED\s+OUTCOME$/, 'a table header')
  t.match(table.slice(1), [/^b3\s+boom\s+1\s+\S+Z\s+Error: kaput second line$/, /^b2\s/, /^b1\s/], 'newest first, the error on one line')
  t.equal(table.length, 4, 'one row per failed task, no "more" line')

  const first = await ok(t, cli, ['tasks', '--state', 'failed', '--limit', '2'])
  const more = /--cursor (\S+)$/m.exec(first)
  t.ok(more, 'a page that is not the last says how to read the next')
  const rest = JSON.parse(await ok(t, cli, ['tasks', '--state', 'failed', '--limit', '2', '--cursor', more![1]!, '--json'])) as {
    tasks: { key: string }[]
    next?: string
  }
  t.same(
    rest.tasks.map((task) => task.key),
    ['b1'],
    'the next page holds the rest',
  )
  t.equal(rest.next, undefined, 'and is the last')
  const page = JSON.parse(await ok(t, cli, ['tasks', '--state', 'failed', '--task', 'boom', '--json'])) as { tasks: Record<string, unknown>[] }
  t.match(page.tasks[0], { key: 'b3', task: 'boom', state: 'failed', attempt: 1, error: { type: 'Error', message: 'kaput\nsecond line' }, finishedAt: String })
  t.equal((await ok(t, cli, ['tasks', '--state', 'completed'])).trim(), 'no completed tasks', 'an empty state says so')
  t.match(await fails(t, cli, ['tasks', '--state', 'bogus'], 2), /^shadows tasks: SHADOWS_ERR_VALIDATION: /, 'a bad state')
  t.match(await fails(t, cli, ['tasks', '--state', 'failed', '--cursor', 'garbage!'], 2), /^shadows tasks: SHADOWS_ERR_VALIDATION: /, 'a bad cursor')

  // watch from the newest event on, so that nothing written from here is missed
  const since = await logPosition(cli.name)
  const watcher = cli.spawn(['watch', '--task', 'boom', '--since', since, '--json'])
  const lineWatcher = cli.spawn(['watch', '--key', 'b1', '--since', since])

  t.match(await ok(t, cli, ['retry', 'b1']), /^b1 \(boom\) queued again$/m, 'retry KEY')
  await failed('b1')
  t.match(await fails(t, cli, ['retry', 'nope'], 1), /^shadows retry: SHADOWS_ERR_NOT_FOUND/, 'an unknown key')
  await shadow.add('boom', { key: 'later', delay: 600_000 })()
  t.match(await fails(t, cli, ['retry', 'later'], 1), /^shadows retry: SHADOWS_ERR_NOT_FINISHED/, 'a task not finished yet')

  const counts = JSON.parse(await ok(t, cli, ['retry', '--state', 'failed', '--task', 'boom', '--json'])) as Record<string, unknown>
  t.same(counts, { retried: 3, skipped: 0 }, 'retry --state failed: every failed boom')
  for (const key of ['b1', 'b2', 'b3']) await failed(key)
  t.match(await ok(t, cli, ['retry', '--state', 'failed', '--finished-after', '2999-01-01T00:00:00Z']), /^0 retried, 0 skipped$/m, 'none finished after then')

  // b1: added, started, failed; retried: retrying, started, failed; and again in the bulk retry
  const typesOf = (text: string) =>
    lines(text).map((line) => (JSON.parse(line) as { key: string; type: string }).key + ' ' + (JSON.parse(line) as { type: string }).type)
  await waitFor(() => typesOf(watcher.stdout()).filter((line) => line === 'b3 failed').length >= 1, 30_000, 'the events of the bulk retry')
  const seen = typesOf(watcher.stdout())
  t.same(
    seen.filter((line) => line.startsWith('b1 ')),
    ['b1 retrying', 'b1 started', 'b1 failed', 'b1 retrying', 'b1 started', 'b1 failed'],
    'watch --json: every event of b1 since then, in order',
  )
  t.ok(seen.includes('later added'), 'and the task added meanwhile')
  await waitFor(() => lines(lineWatcher.stdout()).length >= 6, 30_000, 'the line watcher')
  t.match(
    lines(lineWatcher.stdout()),
    [
      /^\S+Z {2}retrying +boom {2}b1 {2}attempt 1 {2}-> queued$/,
      /^\S+Z {2}started +boom {2}b1 {2}attempt 1$/,
      /^\S+Z {2}failed +boom {2}b1 {2}attempt 1 {2}Error: kaput second line$/,
    ],
    'watch: one readable line per event, of that key only',
  )
  for (const process of [watcher, lineWatcher]) {
    process.signal('SIGINT')
    t.same(await process.exited, { code: 0, signal: null }, 'Ctrl-C ends watch with exit code 0')
  }
})
