/**
 * The one-shot commands (add, snapshot, strike, restore, workers) against the test Redis.
 */
import t from 'tap'
import { adminRedis, closeAdmin, shadowKeysIn } from '../helpers/shadow.js'
import { cliSession, lines, runFails as fails, runOk as ok, taskRecord, TASKS_FIXTURE } from '../helpers/cli.js'

t.teardown(closeAdmin)

t.test('add prints the task as JSON and stores it; --delay schedules it; --key makes it idempotent', async (t) => {
  const cli = cliSession(t)
  const added = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"Jane"}'])) as Record<string, unknown>
  t.match(added, { key: String, task: 'greet', state: 'queued', duplicate: false }, 'key and state')
  t.ok(!Number.isNaN(Date.parse(added.when as string)), 'when is a timestamp')
  const record = await taskRecord(cli.name, added.key as string)
  t.equal(record.task, 'greet', 'the task is in Redis')
  t.equal(record.state, 'queued')
  t.same(JSON.parse(record.params ?? 'null'), { name: 'Jane' }, 'with its params')

  const later = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"John"}', '--delay', '60000', '--key', 'john'])) as Record<string, unknown>
  t.match(later, { key: 'john', state: 'scheduled', duplicate: false }, '--delay → scheduled')
  t.ok(Date.parse(later.when as string) > Date.parse(added.when as string), 'due later')
  t.ok((await adminRedis().zscore(`{${cli.name}}:schedule`, 'john')) !== null, 'in the schedule')

  const again = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"Other"}', '--key', 'john'])) as Record<string, unknown>
  t.match(again, { key: 'john', state: 'scheduled', duplicate: true }, 'the same key again changes nothing')

  const at = new Date(Date.now() + 3_600_000).toISOString()
  const when = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"W"}', '--when', at])) as Record<string, unknown>
  t.match(when, { state: 'scheduled', when: at }, '--when → scheduled at that time')

  const naive = await fails(t, cli, ['add', 'greet', '--when', '2030-01-01T10:00:00'], 2)
  t.match(naive, /SHADOWS_ERR_VALIDATION/, 'a timestamp without an offset is refused')
})

t.test('add --tasks validates params: bad ones exit 1 with SHADOWS_ERR_INVALID_PARAMS and store nothing', async (t) => {
  const cli = cliSession(t)
  const stderr = await fails(t, cli, ['add', 'greet', '--params', '{"name":5}', '--tasks', TASKS_FIXTURE], 1)
  t.match(stderr, /^shadows add: SHADOWS_ERR_INVALID_PARAMS: /)
  const unknown = await fails(t, cli, ['add', 'nope', '--tasks', TASKS_FIXTURE], 1)
  t.match(unknown, /SHADOWS_ERR_UNKNOWN_TASK/, 'an unknown task name is refused too')
  t.same(await shadowKeysIn(cli.name), [], 'nothing stored')

  const good = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"Valid"}'], { SHADOWS_TASKS: TASKS_FIXTURE })) as Record<string, unknown>
  t.equal(good.state, 'queued', 'valid params are added (tasks module from SHADOWS_TASKS)')
  const viaEnv = await fails(t, cli, ['add', 'greet', '--params', '{}'], 1, { SHADOWS_TASKS: TASKS_FIXTURE })
  t.match(viaEnv, /SHADOWS_ERR_INVALID_PARAMS/, 'SHADOWS_TASKS validates like --tasks')

  const notJson = await fails(t, cli, ['add', 'greet', '--params', '{name:'], 2)
  t.match(notJson, /--params must be JSON/)
})

t.test('snapshot prints a table with counts; --json prints the snapshot as JSON', async (t) => {
  const cli = cliSession(t)
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"A"}', '--key', 'now-a'])
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"B"}', '--key', 'now-b'])
  await ok(t, cli, ['add', 'hold', '--params', '{"file":"/nonexistent"}', '--key', 'later', '--delay', '600000'])

  const table = await ok(t, cli, ['snapshot'])
  t.match(table, /scheduled 1\s+queued 2\s+running 0/, 'the totals')
  const rows = lines(table)
  const header = rows.findIndex((row) => /^TASK\s+SCHEDULED\s+QUEUED\s+RUNNING$/.test(row))
  t.ok(header >= 0, 'a per-task table')
  t.ok(
    rows.some((row) => /^greet\s+0\s+2\s+0$/.test(row)),
    'greet: 2 queued',
  )
  t.ok(
    rows.some((row) => /^hold\s+1\s+0\s+0$/.test(row)),
    'hold: 1 scheduled',
  )
  t.ok(
    rows.some((row) => /^later\s+hold\s+\S+Z$/.test(row)),
    'the scheduled task is listed with its due time',
  )

  const json = JSON.parse(await ok(t, cli, ['snapshot', '--json'])) as Record<string, unknown>
  t.same(json.counts, { scheduled: 1, queued: 2, running: 0 }, '--json has the counts')
  t.match(json.byTask, { greet: { queued: 2 }, hold: { scheduled: 1 } })
  t.match(json.scheduled, [{ key: 'later', task: 'hold' }])
})

t.test('strike prints the strike as JSON; restore removes it; an unknown id exits 1 with SHADOWS_ERR_NOT_FOUND', async (t) => {
  const cli = cliSession(t)
  const byTask = JSON.parse(await ok(t, cli, ['strike', '--task', 'greet'])) as Record<string, unknown>
  t.match(byTask, { id: String, task: 'greet', operator: '==', created: true }, 'a task strike, with its id')
  const refused = await fails(t, cli, ['add', 'greet', '--params', '{"name":"Jane"}'], 1)
  t.match(refused, /SHADOWS_ERR_STRUCK/, 'adding a struck task is refused')

  const byValue = JSON.parse(await ok(t, cli, ['strike', '--parameter', 'size', '--operator', '>', '--value', '5'])) as Record<string, unknown>
  t.match(byValue, { id: String, parameter: 'size', operator: '>', value: 5, created: true }, 'a parameter strike; the value is JSON (a number)')
  const word = JSON.parse(await ok(t, cli, ['strike', '--parameter', 'name', '--value', 'Jane'])) as Record<string, unknown>
  t.match(word, { parameter: 'name', operator: '==', value: 'Jane' }, 'a bare word is a string')
  const same = JSON.parse(await ok(t, cli, ['strike', '--task', 'greet'])) as Record<string, unknown>
  t.match(same, { id: byTask.id, created: false }, 'the same strike again is not created twice')
  t.equal(await adminRedis().hlen(`{${cli.name}}:strikes`), 3, 'three rules stored')

  const restored = JSON.parse(await ok(t, cli, ['restore', byTask.id as string])) as Record<string, unknown>
  t.match(restored, { id: byTask.id, task: 'greet' }, 'restore prints the removed strike')
  t.equal(await adminRedis().hexists(`{${cli.name}}:strikes`, byTask.id as string), 0, 'and it is gone')
  t.equal(JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"Jim"}'])).state, 'queued', 'greet can be added again')

  const again = await fails(t, cli, ['restore', byTask.id as string], 1)
  t.match(again, /^shadows restore: SHADOWS_ERR_NOT_FOUND: /, 'restoring it again: not found')
  const bad = await fails(t, cli, ['strike', '--parameter', 'size', '--operator', '~', '--value', '1'], 2)
  t.match(bad, /SHADOWS_ERR_VALIDATION/, 'an unknown operator is a usage error')
})

t.test('workers lists a running worker process (table and --json); SHADOWS_CONCURRENCY sets its concurrency', async (t) => {
  const cli = cliSession(t)
  t.equal((await ok(t, cli, ['workers'])).trim(), 'no live workers', 'none at first')
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE], { SHADOWS_CONCURRENCY: '3' })
  await worker.waitForOutput('worker started')

  const table = lines(await ok(t, cli, ['workers']))
  t.match(table[0], /^WORKER\s+RUNNING\s+CONCURRENCY\s+LAST SEEN\s+TASKS$/, 'a table header')
  t.ok(
    table.some((row) => new RegExp(`^\\S+#${worker.pid}\\s+0\\s+3\\s+\\S+Z\\s+greet,hold$`).test(row)),
    `the worker process (pid ${worker.pid}) is listed with concurrency 3 and its tasks`,
  )
  const list = JSON.parse(await ok(t, cli, ['workers', '--json'])) as Record<string, unknown>[]
  t.equal(list.length, 1, 'one live worker')
  t.match(list[0], { name: new RegExp(`#${worker.pid}$`), concurrency: 3, running: 0, tasks: ['greet', 'hold'], lastSeen: String })

  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null })
  t.equal((await ok(t, cli, ['workers'])).trim(), 'no live workers', 'a worker that stopped is no longer listed')
})
