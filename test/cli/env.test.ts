/**
 * Every flag has an environment variable: SHADOWS_URL, SHADOWS_NAME, SHADOWS_TASKS, PORT, HOST,
 * SHADOWS_TOKENS, SHADOWS_CONCURRENCY, SHADOWS_REDELIVERY_TIMEOUT and LOG_LEVEL, each shown to work
 * through what the commands then do.
 */
import t from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort } from '../../src/cli/private-redis.js'
import { closeAdmin, TEST_URL, waitFor } from '../helpers/shadow.js'
import { cliSession, fetchJson, lines, logLines, postJson, runFails as fails, runOk as ok, taskRecord, TASKS_FIXTURE } from '../helpers/cli.js'

t.teardown(closeAdmin)

t.test('SHADOWS_URL chooses the Redis (and database); --url beats it', async (t) => {
  const cli = cliSession(t)
  const url = new URL(TEST_URL)
  url.pathname = '/7'
  const db7 = new Redis(url.toString())
  t.teardown(async () => {
    const keys = await db7.keys(`{${cli.name}}:*`)
    if (keys.length > 0) await db7.del(...keys)
    db7.disconnect()
  })
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"Seven"}', '--key', 'seven'], { SHADOWS_URL: url.toString() })
  t.equal(await db7.hget(`{${cli.name}}:task:seven`, 'state'), 'queued', 'stored in database 7')
  t.same(await taskRecord(cli.name, 'seven'), {}, 'not in database 0')

  const nowhere = `redis://127.0.0.1:${await freePort()}`
  const stderr = await fails(t, cli, ['snapshot'], 1, { SHADOWS_URL: nowhere })
  t.match(stderr, /SHADOWS_ERR_UNAVAILABLE: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/, 'a Redis that does not answer: one clear line')
  const json = JSON.parse(await ok(t, cli, ['snapshot', '--json', '--url', TEST_URL], { SHADOWS_URL: nowhere })) as Record<string, unknown>
  t.ok(json.counts, '--url beats SHADOWS_URL')
})

t.test('SHADOWS_NAME chooses the shadow; --name beats it', async (t) => {
  const cli = cliSession(t)
  const other = cliSession(t)
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"N"}', '--key', 'named'])
  t.equal((await taskRecord(cli.name, 'named')).state, 'queued', `stored under {${cli.name}}`)
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"N"}', '--key', 'flagged', '--name', other.name])
  t.equal((await taskRecord(other.name, 'flagged')).state, 'queued', '--name beats SHADOWS_NAME')
  t.same(await taskRecord(cli.name, 'flagged'), {})
})

t.test('PORT, HOST and SHADOWS_TASKS configure serve; SHADOWS_TOKENS turns on authentication', async (t) => {
  const cli = cliSession(t)
  const port = await freePort()
  const open = cli.spawn(['serve'], { PORT: String(port), HOST: '127.0.0.1', SHADOWS_TASKS: TASKS_FIXTURE })
  await open.waitForOutput('gateway listening')
  const base = `http://127.0.0.1:${port}`
  t.equal((await fetchJson(`${base}/health/live`)).status, 200, 'listens on PORT at HOST')
  t.equal((await postJson(`${base}/tasks`, { task: 'hold', params: { file: 'x' }, delay: 600000 })).status, 202, 'knows the tasks of SHADOWS_TASKS')
  open.signal('SIGTERM')
  t.same(await open.exited, { code: 0, signal: null })

  const tokenPort = await freePort()
  const secured = cli.spawn(['serve', '--tasks', TASKS_FIXTURE], { PORT: String(tokenPort), SHADOWS_TOKENS: 's3cret-token:enqueue,read;0ps-token-1:ops' })
  await secured.waitForOutput('gateway listening')
  const securedBase = `http://127.0.0.1:${tokenPort}`
  const refused = await fetchJson(`${securedBase}/snapshot`)
  t.equal(refused.status, 401, 'an unauthenticated request is refused with 401')
  t.match(refused.body, { statusCode: 401, code: 'SHADOWS_ERR_UNAUTHORIZED' })
  const allowed = await fetchJson(`${securedBase}/snapshot`, { headers: { authorization: 'Bearer s3cret-token' } })
  t.equal(allowed.status, 200, 'a token from SHADOWS_TOKENS is accepted')
  const forbidden = await postJson(`${securedBase}/strikes`, { task: 'greet' }, { authorization: 'Bearer s3cret-token' })
  t.equal(forbidden.status, 403, 'and its scopes apply')
  secured.signal('SIGTERM')
  t.same(await secured.exited, { code: 0, signal: null })

  const exposed = await cli.run(['serve', '--tasks', TASKS_FIXTURE], { HOST: '0.0.0.0', PORT: String(await freePort()) })
  t.equal(exposed.code, 2, 'HOST=0.0.0.0 without tokens exits 2')
  t.equal(lines(exposed.stderr).length, 1, 'with one line on stderr')
  t.match(exposed.stderr, /refusing to listen on 0\.0\.0\.0.*SHADOWS_TOKENS/, 'that mentions SHADOWS_TOKENS')

  const anyPort = await freePort()
  const everywhere = cli.spawn(['serve', '--tasks', TASKS_FIXTURE], { HOST: '0.0.0.0', PORT: String(anyPort), SHADOWS_TOKENS: 's3cret-token:read' })
  await everywhere.waitForOutput('gateway listening')
  t.equal((await fetchJson(`http://127.0.0.1:${anyPort}/health/live`)).status, 200, 'with tokens, HOST=0.0.0.0 is allowed')
  everywhere.signal('SIGTERM')
  t.same(await everywhere.exited, { code: 0, signal: null })

  const badTokens = await cli.run(['serve', '--tasks', TASKS_FIXTURE], { SHADOWS_TOKENS: 'short:admin' })
  t.equal(badTokens.code, 2, 'malformed SHADOWS_TOKENS exits 2')
  t.match(badTokens.stderr, /SHADOWS_TOKENS must look like/)
  const badPort = await cli.run(['serve', '--tasks', TASKS_FIXTURE], { PORT: 'eighty' })
  t.equal(badPort.code, 2, 'a bad PORT exits 2')
  t.match(badPort.stderr, /^shadows serve: PORT must be an integer/, 'naming the variable it came from')
})

t.test('SHADOWS_TASKS and SHADOWS_CONCURRENCY configure a worker', async (t) => {
  const cli = cliSession(t)
  const worker = cli.spawn(['worker'], { SHADOWS_TASKS: TASKS_FIXTURE, SHADOWS_CONCURRENCY: '2' })
  await worker.waitForOutput('worker started')
  const started = logLines(worker.stdout()).find((line) => line.msg === 'worker started')
  t.match(started, { concurrency: 2, tasks: ['greet', 'hold'] }, 'tasks from SHADOWS_TASKS, concurrency from SHADOWS_CONCURRENCY')
  await ok(t, cli, ['add', 'greet', '--params', '{"name":"Env"}', '--key', 'env'])
  await waitFor(async () => (await taskRecord(cli.name, 'env')).state === 'completed', 15_000, 'the task to complete')
  worker.signal('SIGTERM')
  t.same(await worker.exited, { code: 0, signal: null })

  const bad = await fails(t, cli, ['worker', '--tasks', TASKS_FIXTURE], 2, { SHADOWS_CONCURRENCY: 'many' })
  t.match(bad, /^shadows worker: SHADOWS_CONCURRENCY must be an integer/)
  const badTimeout = await fails(t, cli, ['worker', '--tasks', TASKS_FIXTURE], 2, { SHADOWS_REDELIVERY_TIMEOUT: '0' })
  t.match(badTimeout, /^shadows worker: SHADOWS_REDELIVERY_TIMEOUT must be an integer/)
})

t.test('SHADOWS_REDELIVERY_TIMEOUT: a worker given a short one takes over the task of a killed worker', async (t) => {
  const cli = cliSession(t)
  const file = join(cli.dir, 'orphan')
  const first = cli.spawn(['worker', '--tasks', TASKS_FIXTURE])
  await first.waitForOutput('worker started')
  await ok(t, cli, ['add', 'hold', '--params', JSON.stringify({ file }), '--key', 'orphan'])
  await waitFor(() => existsSync(`${file}.started`), 15_000, 'the task to start on the first worker')
  first.signal('SIGKILL')
  await first.exited
  writeFileSync(`${file}.release`, '')

  const second = cli.spawn(['worker', '--tasks', TASKS_FIXTURE], { SHADOWS_REDELIVERY_TIMEOUT: '300' })
  await second.waitForOutput('worker started')
  await waitFor(async () => (await taskRecord(cli.name, 'orphan')).state === 'completed', 15_000, 'the orphaned task to complete')
  const record = await taskRecord(cli.name, 'orphan')
  t.same(JSON.parse(record.result ?? 'null'), { released: true, attempt: 1 }, 'redelivered and completed')
  t.match(record.worker, new RegExp(`#${second.pid}$`), 'by the second worker')
  t.match(second.stdout(), /reclaimed tasks of a worker that stopped renewing its claim/)
  second.signal('SIGTERM')
  t.same(await second.exited, { code: 0, signal: null })
})

t.test('LOG_LEVEL sets the log level of long-running and one-shot commands', async (t) => {
  const cli = cliSession(t)
  const quiet = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--until-finished'], { LOG_LEVEL: 'silent' })
  t.same(await quiet.exited, { code: 0, signal: null })
  t.equal(quiet.stdout(), '', 'LOG_LEVEL=silent: no logs')

  await ok(t, cli, ['add', 'greet', '--params', '{"name":"Debug"}'])
  const chatty = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--until-finished'], { LOG_LEVEL: 'debug' })
  t.same(await chatty.exited, { code: 0, signal: null })
  const logs = logLines(chatty.stdout())
  t.ok(
    logs.some((line) => line.level === 20 && line.msg === 'task started'),
    'LOG_LEVEL=debug: debug lines',
  )
  t.ok(
    logs.some((line) => line.level === 30),
    'and info lines',
  )

  const warnOnly = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--until-finished'], { LOG_LEVEL: 'warn' })
  t.same(await warnOnly.exited, { code: 0, signal: null })
  t.equal(warnOnly.stdout(), '', 'LOG_LEVEL=warn: no info lines')

  const plain = await cli.run(['strike', '--task', 'greet'])
  t.equal(plain.stderr, '', 'a one-shot command logs nothing by default')
  const traced = await cli.run(['strike', '--task', 'hold'], { LOG_LEVEL: 'info' })
  t.equal(traced.code, 0)
  t.ok(logLines(traced.stderr).length > 0, 'with LOG_LEVEL=info it logs, on stderr')
  t.equal(lines(traced.stdout).length, 1, 'and stdout still holds only the result')

  const bad = await fails(t, cli, ['snapshot'], 2, { LOG_LEVEL: 'loud' })
  t.match(bad, /LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent/)
})
