/**
 * Using the command wrong: help on every subcommand, and every mistake a one-line error with exit
 * code 2 before anything connects.
 */
import t from 'tap'
import { add, restore, snapshot, strike, workers } from '../../src/cli/client.js'
import type { Command } from '../../src/cli/command.js'
import { dev } from '../../src/cli/dev.js'
import { COMMON_FLAGS } from '../../src/cli/flags.js'
import { serve } from '../../src/cli/serve.js'
import { worker } from '../../src/cli/worker.js'
import { closeAdmin } from '../helpers/shadow.js'
import { cliSession, fixture, lines, runFails, TASKS_FIXTURE } from '../helpers/cli.js'

t.teardown(closeAdmin)

const COMMANDS: readonly Command[] = [serve, worker, dev, add, snapshot, strike, restore, workers]

/** The environment variables of the CLI contract, and the commands that must read each. */
const CONTRACT_ENV: Readonly<Record<string, readonly string[]>> = {
  SHADOWS_URL: ['serve', 'worker', 'dev', 'add', 'snapshot', 'strike', 'restore', 'workers'],
  SHADOWS_NAME: ['serve', 'worker', 'dev', 'add', 'snapshot', 'strike', 'restore', 'workers'],
  LOG_LEVEL: ['serve', 'worker', 'dev', 'add', 'snapshot', 'strike', 'restore', 'workers'],
  SHADOWS_TASKS: ['serve', 'worker', 'dev', 'add'],
  PORT: ['serve', 'dev'],
  HOST: ['serve', 'dev'],
  SHADOWS_TOKENS: ['serve'],
  SHADOWS_CONCURRENCY: ['worker', 'dev'],
  SHADOWS_REDELIVERY_TIMEOUT: ['worker'],
}

t.test('--help on every subcommand: exit 0, the usage line, every flag and its environment variable', async (t) => {
  const cli = cliSession(t)
  const results = await Promise.all(COMMANDS.map((command) => cli.run([command.name, '--help'])))
  COMMANDS.forEach((command, i) => {
    const result = results[i]!
    t.equal(result.code, 0, `${command.name} --help exits 0`)
    t.equal(result.stderr, '', `${command.name} --help writes nothing on stderr`)
    t.match(result.stdout, new RegExp(`^usage: shadows ${command.name}\\b`), `${command.name} --help starts with its usage`)
    t.match(result.stdout, command.summary, `${command.name} --help has its summary`)
    for (const flag of [...command.flags, ...COMMON_FLAGS]) {
      t.match(result.stdout, `--${flag.name}`, `${command.name} --help lists --${flag.name}`)
      if (flag.env) t.match(result.stdout, `[env ${flag.env}]`, `${command.name} --help names ${flag.env}`)
    }
    for (const [variable, commands] of Object.entries(CONTRACT_ENV)) {
      if (commands.includes(command.name)) t.match(result.stdout, `[env ${variable}]`, `${command.name} reads ${variable}`)
    }
  })

  for (const args of [['--help'], ['-h'], ['help']]) {
    const result = await cli.run(args)
    t.equal(result.code, 0, `shadows ${args[0]} exits 0`)
    t.match(result.stdout, /^usage: shadows COMMAND/)
    for (const command of COMMANDS) t.match(result.stdout, new RegExp(`^  ${command.name} `, 'm'), `shadows ${args[0]} lists ${command.name}`)
  }
  const bare = await cli.run([])
  t.equal(bare.code, 2, 'no command at all: exit 2')
  t.equal(bare.stdout, '', 'nothing on stdout')
  t.match(bare.stderr, /^usage: shadows COMMAND/, 'the usage on stderr')
})

t.test('an unknown command or flag exits 2 with one line on stderr', async (t) => {
  const cli = cliSession(t)
  t.match(await runFails(t, cli, ['frobnicate'], 2), /^shadows: unknown command "frobnicate"/)
  t.match(await runFails(t, cli, ['worker', '--tasks', TASKS_FIXTURE, '--bogus'], 2), /^shadows worker: Unknown option '--bogus'/)
  t.match(await runFails(t, cli, ['serve', '--tasks', TASKS_FIXTURE, '-x'], 2), /^shadows serve: Unknown option '-x'/)
  t.match(await runFails(t, cli, ['snapshot', '--verbose'], 2), /^shadows snapshot: Unknown option '--verbose'/)
  t.match(await runFails(t, cli, ['serve', '--tasks', TASKS_FIXTURE, '--port'], 2), /^shadows serve: Option '--port <value>' argument missing/)
  t.match(await runFails(t, cli, ['snapshot', 'extra'], 2), /^shadows snapshot: snapshot takes no arguments/)
  t.match(await runFails(t, cli, ['worker', '--tasks', TASKS_FIXTURE, 'stray'], 2), /^shadows worker: worker takes no arguments/)
})

t.test('a bad number exits 2 with one line naming the flag', async (t) => {
  const cli = cliSession(t)
  const cases: [string[], RegExp][] = [
    [['worker', '--tasks', TASKS_FIXTURE, '--concurrency', 'abc'], /^shadows worker: --concurrency must be an integer from 1 to 100000, got "abc"$/m],
    [['worker', '--tasks', TASKS_FIXTURE, '--concurrency', '0'], /--concurrency must be an integer/],
    [['worker', '--tasks', TASKS_FIXTURE, '--redelivery-timeout', '1.5'], /--redelivery-timeout must be an integer/],
    [['worker', '--tasks', TASKS_FIXTURE, '--metrics-port', '70000'], /--metrics-port must be an integer from 0 to 65535/],
    [['serve', '--tasks', TASKS_FIXTURE, '--port', '99999'], /^shadows serve: --port must be an integer from 0 to 65535, got "99999"$/m],
    [['serve', '--tasks', TASKS_FIXTURE, '--port=-1'], /--port must be an integer/],
    [['serve', '--tasks', TASKS_FIXTURE, '--port', '-1'], /^shadows serve: --port needs a value; for one that starts with a dash write --port=-…$/m],
    [['dev', '--port', 'http'], /^shadows dev: --port must be an integer/],
    [['add', 'greet', '--delay', 'soon'], /^shadows add: --delay must be an integer/],
  ]
  for (const [args, message] of cases) t.match(await runFails(t, cli, args, 2), message)
})

t.test('a missing or wrong tasks module exits 2 with a helpful line', async (t) => {
  const cli = cliSession(t)
  for (const command of ['worker', 'serve']) {
    const stderr = await runFails(t, cli, [command], 2)
    t.match(stderr, new RegExp(`^shadows ${command}: --tasks is required \\(or SHADOWS_TASKS\\): a module whose default export is an array of tasks$`, 'm'))
  }
  for (const file of ['not-an-array.mjs', 'no-default.mjs', 'not-tasks.mjs']) {
    const stderr = await runFails(t, cli, ['worker', '--tasks', fixture(file)], 2)
    t.match(stderr, /must have a default export that is an array of tasks made with defineTask/, `${file} is refused`)
  }
  const missing = await runFails(t, cli, ['worker', '--tasks', fixture('missing.mjs')], 2)
  t.match(missing, /^shadows worker: cannot load tasks module .*missing\.mjs: /, 'a module that does not exist')
})

t.test('one-shot commands check their arguments', async (t) => {
  const cli = cliSession(t)
  t.match(await runFails(t, cli, ['add'], 2), /add takes exactly one TASK name/)
  t.match(await runFails(t, cli, ['add', 'a', 'b'], 2), /add takes exactly one TASK name/)
  t.match(await runFails(t, cli, ['add', 'greet', '--params', '[1,2]'], 2), /--params must be a JSON object/)
  t.match(await runFails(t, cli, ['restore'], 2), /restore takes exactly one strike ID/)
  t.match(await runFails(t, cli, ['strike'], 2), /at least one of --task and --parameter/)
  t.match(await runFails(t, cli, ['strike', 'greet'], 2), /^shadows strike: strike takes no arguments, got "greet"/)
  t.match(await runFails(t, cli, ['strike', '--task', 'greet', '--operator', '>'], 2), /--operator and --value need --parameter/)
  const both = await runFails(t, cli, ['add', 'greet', '--delay', '5', '--when', '2030-01-01T00:00:00Z'], 2)
  t.match(both, /SHADOWS_ERR_VALIDATION/, '--when and --delay together')
  t.equal(lines(both).length, 1)
})
