/**
 * One task's commands against the test Redis: get (its record as lines or JSON) and cancel; and
 * version.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { adminRedis, closeAdmin } from '../helpers/shadow.js'
import { indexedKeys } from '../helpers/history.js'
import { cliSession, runFails as fails, runOk as ok, taskRecord, TASKS_FIXTURE } from '../helpers/cli.js'

t.teardown(closeAdmin)

t.test('get shows a record as lines or JSON, cancel cancels, version prints the package version', async (t) => {
  const cli = cliSession(t)
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"Later"}', '--key', 'later', '--delay', '600000'])
  const shown = await ok(t, cli, ['get', 'later'])
  t.match(shown, /^key +later$/m, 'the key')
  t.match(shown, /^state +scheduled$/m, 'the state')
  t.match(shown, /^params +\{"name":"Later"\}$/m, 'the params')
  const record = JSON.parse(await ok(t, cli, ['get', 'later', '--json'])) as Record<string, unknown>
  t.match(record, { key: 'later', task: 'greet', state: 'scheduled', params: { name: 'Later' } }, '--json: the record as GET /tasks/{key} answers it')

  t.match(await ok(t, cli, ['cancel', 'later']), /^later \(greet\) cancelled; it was scheduled$/m)
  t.same(
    JSON.parse(await ok(t, cli, ['cancel', 'later', '--json'])),
    { key: 'later', task: 'greet', state: 'cancelled', previous: 'cancelled' },
    'again: already cancelled',
  )
  t.equal((await taskRecord(cli.name, 'later')).state, 'cancelled', 'cancelled in Redis')
  t.equal(await adminRedis().zscore(`{${cli.name}}:schedule`, 'later'), null, 'and out of the schedule')

  t.match(await fails(t, cli, ['get', 'nope'], 1), /^shadows get: SHADOWS_ERR_NOT_FOUND: no task with key nope/)
  t.match(await fails(t, cli, ['cancel', 'nope'], 1), /^shadows cancel: SHADOWS_ERR_NOT_FOUND/)
  t.match(await fails(t, cli, ['get'], 2), /get takes exactly one task KEY/)

  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal((await ok(t, cli, ['version'])).trim(), version, "version prints package.json's version")
})

t.test('SHADOWS_HISTORY_LIMIT and SHADOWS_EVENTS_LIMIT reach every process that writes: one-shot commands and the worker', async (t) => {
  const cli = cliSession(t)
  const log = `{${cli.name}}:events:log`
  const off = { SHADOWS_HISTORY_LIMIT: '0', SHADOWS_EVENTS_LIMIT: '0' }
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"A"}', '--key', 'a'], off)
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"B"}', '--key', 'b', '--delay', '600000'], off)
  await ok(t, cli, ['cancel', 'b'], off)
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--until-finished', '--history-limit', '0', '--events-limit', '0'])
  t.same(await worker.exited, { code: 0, signal: null }, 'the worker ran what was queued')
  t.equal((await taskRecord(cli.name, 'a')).state, 'completed')
  t.equal(await adminRedis().exists(log), 0, 'no events written')
  t.same(await adminRedis().keys(`{${cli.name}}:ended:*`), [], 'no history written')

  // and by default, both are kept
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"C"}', '--key', 'c', '--delay', '600000'])
  await ok(t, cli, ['cancel', 'c'])
  t.equal(await adminRedis().xlen(log), 2, 'added and cancelled')
  t.same(await indexedKeys(`{${cli.name}}:ended:cancelled`), ['c'], 'c is in the history of cancelled tasks')
  t.match(await fails(t, cli, ['cancel', 'c', '--events-limit', 'many'], 2), /--events-limit must be an integer from 0/)
})
