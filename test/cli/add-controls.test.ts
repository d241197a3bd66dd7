/**
 * `shadows add --debounce MS` and `--throttle MS` against the test Redis: the answers as JSON, and
 * bad values refused with exit code 2 and nothing stored.
 */
import t from 'tap'
import { adminRedis, closeAdmin, shadowKeysIn } from '../helpers/shadow.js'
import { cliSession, runFails as fails, runOk as ok } from '../helpers/cli.js'

t.teardown(closeAdmin)

t.test('add --debounce schedules, and moves the scheduled task on the next add; --throttle makes the next adds duplicates', async (t) => {
  const cli = cliSession(t)
  const first = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"A"}', '--key', 'd', '--debounce', '60000'])) as Record<string, unknown>
  t.match(first, { key: 'd', state: 'scheduled', duplicate: false }, '--debounce → scheduled')
  t.notOk('debounced' in first)
  const moved = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"B"}', '--key', 'd', '--debounce', '60000'])) as Record<string, unknown>
  t.match(moved, { key: 'd', state: 'scheduled', duplicate: false, debounced: true }, 'the second add moved it')
  t.equal(Number(await adminRedis().zscore(`{${cli.name}}:schedule`, 'd')), Date.parse(moved.when as string), 'to the new due time')
  t.same(JSON.parse((await adminRedis().hget(`{${cli.name}}:task:d`, 'params')) ?? 'null'), { name: 'B' }, 'with the new params')

  const throttled = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"C"}', '--key', 't', '--throttle', '60000'])) as Record<string, unknown>
  t.match(throttled, { key: 't', state: 'queued', duplicate: false })
  t.ok((await adminRedis().pttl(`{${cli.name}}:throttle:t`)) > 0, 'the window is open, with a TTL')
  const duplicate = JSON.parse(await ok(t, cli, ['add', 'greet', '--params', '{"name":"D"}', '--key', 't', '--throttle', '60000'])) as Record<string, unknown>
  t.match(duplicate, { key: 't', duplicate: true, params: { name: 'C' } }, 'within the window: a duplicate')
})

t.test('add with a bad --debounce or --throttle exits 2 and stores nothing', async (t) => {
  const cli = cliSession(t)
  // each process costs a Node start: a few values per flag (the library's own tests try the rest)
  const bad: [string, string][] = [
    ['--debounce', '-5'],
    ['--debounce', '1.5'],
    ['--throttle', '31536000001'],
  ]
  for (const [flag, value] of bad) {
    t.match(await fails(t, cli, ['add', 'greet', '--key', 'k', `${flag}=${value}`], 2), new RegExp(`${flag} must be an integer from 1 to 31536000000`))
  }
  t.match(await fails(t, cli, ['add', 'greet', '--throttle', '1000'], 2), /SHADOWS_ERR_VALIDATION: throttle needs a key/, '--throttle without --key')
  t.match(await fails(t, cli, ['add', 'greet', '--key', 'k', '--debounce', '1000', '--delay', '5'], 2), /SHADOWS_ERR_VALIDATION: debounce/)
  t.same(await shadowKeysIn(cli.name), [], 'nothing stored')
})
