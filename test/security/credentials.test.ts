/**
 * The Redis password never reaches a log, an error line or an error thrown to the caller. A private
 * Redis changes its password under a running gateway and worker and drops their connections, so
 * that they reconnect with the old one; the CLI and the library try the old one too. Everything they
 * wrote is searched for either password, and a refused password is reported as such, not as an
 * unreachable Redis.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, startRedisServer } from '../../src/cli/private-redis.js'
import { Shadow } from '../../src/index.js'
import { captureLogs } from '../helpers/engine-workers.js'
import { cliSession, lines, logLines, postJson, TASKS_FIXTURE, waitForTaskState, type CliProcess, type CliResult } from '../helpers/cli.js'
import { closeAdmin, uniqueName, waitFor } from '../helpers/shadow.js'
import { leakedKeysIn, within } from '../helpers/security.js'

// the CLI sessions' teardown looks for leaked keys through the shared admin connection
t.teardown(closeAdmin)

const REFUSED = 'Redis refused the credentials'

t.test('a rotated password: nothing logs it, and each part says the credentials were refused', async (t) => {
  const oldPassword = `old-${randomBytes(8).toString('hex')}`
  const newPassword = `new-${randomBytes(8).toString('hex')}`
  const redis = await startRedisServer(['--requirepass', oldPassword])
  t.teardown(() => redis.stop())
  const at = `127.0.0.1:${redis.port}`
  const admin = new Redis(`redis://:${oldPassword}@${at}`)
  t.teardown(() => admin.disconnect())

  const cli = cliSession(t, 'sec')
  const port = await freePort()
  // the password alone, and with the default user's name (AUTH default <password>)
  const gateway = cli.spawn(['serve', '--tasks', TASKS_FIXTURE, '--port', String(port), '--url', `redis://:${oldPassword}@${at}`])
  const worker = cli.spawn(['worker', '--tasks', TASKS_FIXTURE, '--url', `redis://default:${oldPassword}@${at}`])
  await gateway.waitForOutput('gateway listening')
  await worker.waitForOutput('worker started')
  const base = `http://127.0.0.1:${port}`
  t.equal((await postJson(`${base}/tasks`, { task: 'greet', params: { name: 'Jane' }, key: 'before' })).status, 202, 'accepted with the old password')
  await waitForTaskState(base, 'before', 'completed')

  // the password changes; the connections made with the old one are dropped and come back with it
  await admin.config('SET', 'requirepass', newPassword)
  await admin.client('KILL', 'TYPE', 'normal')
  await admin.client('KILL', 'TYPE', 'pubsub')

  /** Resolves once `p` logged a refused AUTH (whatever words it chose for it). */
  const refusedIn = (p: CliProcess) =>
    waitFor(
      () => logLines(p.stdout()).some((entry) => /WRONGPASS/.test(JSON.stringify(entry.err ?? ''))),
      15_000,
      `a refused AUTH in the log of ${p.child.spawnargs[2]}`,
    )
  await refusedIn(gateway)
  await refusedIn(worker)
  const refusedWarning = (p: CliProcess) => logLines(p.stdout()).some((entry) => entry.level === 40 && String(entry.msg).includes(REFUSED))
  t.ok(refusedWarning(gateway), `the gateway warns "${REFUSED}"`)
  t.ok(refusedWarning(worker), `the worker warns "${REFUSED}"`)
  t.notOk(
    [gateway, worker].some((p) =>
      /cannot reach redis|unreachable/i.test(
        logLines(p.stdout())
          .filter((e) => /WRONGPASS/.test(JSON.stringify(e.err ?? '')))
          .map((e) => e.msg)
          .join('\n'),
      ),
    ),
    'and not that Redis is unreachable',
  )
  const posted = await postJson(`${base}/tasks`, { task: 'greet', params: { name: 'John' } })
  t.equal(posted.status, 503, 'the gateway answers 503 while Redis refuses it')

  // one-shot commands with the old password, then with the user name in the URL
  const runs: CliResult[] = []
  for (const [url, args] of [
    [`redis://:${oldPassword}@${at}`, ['add', 'greet', '--params', '{"name":"x"}', '--log-level', 'debug']],
    [`redis://default:${oldPassword}@${at}`, ['snapshot', '--log-level', 'warn']],
    [`redis://:${oldPassword}@${at}`, ['workers']],
  ] as const) {
    const result = await cli.run([...args, '--url', url])
    runs.push(result)
    t.equal(result.code, 1, `shadows ${args[0]} with the old password exits 1`)
    // the command's own error line; with --log-level, log lines share stderr and may land after it
    const last = lines(result.stderr).find((line) => line.startsWith(`shadows ${args[0]}:`)) ?? ''
    t.match(last, REFUSED, `shadows ${args[0]}: the error line says the credentials were refused (${last})`)
    t.notMatch(last, /cannot reach|unreachable/i, 'not that Redis is unreachable')
    t.match(last, /redis:\/\/(default)?:\*\*\*@127\.0\.0\.1:\d+/, 'and names the URL without its password')
  }
  // a URL shadows cannot use, with a password in it, is refused without repeating the password
  const badUrl = await cli.run(['add', 'greet', '--url', `http://someone:${oldPassword}@${at}/0`])
  runs.push(badUrl)
  t.equal(badUrl.code, 2, 'a URL of another scheme is a usage error')

  // the library: the error the caller gets, and what the caller's own logger makes of it
  const logs = captureLogs('debug')
  const shadow = new Shadow({ name: uniqueName('sec'), url: `redis://:${oldPassword}@${at}`, logger: logs.logger })
  const failed = await shadow
    .add('greet')({ name: 'x' })
    .then(
      () => undefined,
      (err: unknown) => err,
    )
  t.ok(failed instanceof Error, 'an add with the old password rejects')
  logs.logger.error({ err: failed }, 'the caller logs what it caught')
  const thrown = `${inspect(failed, { depth: 10 })}\n${JSON.stringify(failed)}`
  t.match(thrown, /WRONGPASS/, 'the error says why')
  t.notOk(thrown.includes(oldPassword), 'the error thrown to the caller does not hold the password')
  t.ok((await within(shadow.close(), 15_000)) !== undefined, 'the client closes')

  gateway.signal('SIGTERM')
  worker.signal('SIGTERM')
  t.ok(await within(gateway.exited, 15_000), 'the gateway exits on SIGTERM')
  t.ok(await within(worker.exited, 15_000), 'the worker exits on SIGTERM')

  const outputs: [string, string][] = [
    ['gateway', gateway.stdout() + gateway.stderr()],
    ['worker', worker.stdout() + worker.stderr()],
    ...runs.map((run, i): [string, string] => [`cli run ${i + 1}`, run.stdout + run.stderr]),
    ['library log', logs.lines.join('\n')],
  ]
  for (const [who, output] of outputs) {
    t.notOk(output.includes(oldPassword), `the ${who} output does not contain the old password`)
    t.notOk(output.includes(newPassword), `the ${who} output does not contain the new password`)
  }

  t.same(await leakedKeysIn(admin, cli.name), [], 'no finished task record without a TTL')
})
