/**
 * Using the command wrong: help on every subcommand, and every mistake a one-line error with exit
 * code 2 before anything connects.
 */
import t from 'tap'
import { add, restore, snapshot, strike, workers } from '../../src/cli/client.js'
import type { Command } from '../../src/cli/command.js'
import { dev } from '../../src/cli/dev.js'
import { get } from '../../src/cli/get.js'
import { cancel } from '../../src/cli/cancel.js'
import { retry, tasks } from '../../src/cli/tasks.js'
import { version } from '../../src/cli/version.js'
import { watch } from '../../src/cli/watch.js'
import { COMMON_FLAGS } from '../../src/cli/flags.js'
import { serve } from '../../src/cli/serve.js'
import { worker } from '../../src/cli/worker.js'
import { closeAdmin } from '../helpers/shadow.js'
import { cliSession, fixture, lines, runFails, TASKS_FIXTURE } from '../helpers/cli.js'

t.teardown(closeAdmin)

const COMMANDS: readonly Command[] = [serve, worker, dev, add, get, cancel, tasks, retry, watch, snapshot, strike, restore, workers, version]

/** The environment variables of the CLI contract, and the commands that must read each. */
const CONTRACT_ENV: Readonly<Record<string, readonly string[]>> = {
  SHADOWS_URL: ['serve', 'worker', 'dev', 'add', 'get', 'cancel', 'tasks', 'retry', 'watch', 'snapshot', 'strike', 'restore', 'workers'],
  SHADOWS_NAME: ['serve', 'worker', 'dev', 'add', 'get', 'cancel', 'tasks', 'retry', 'watch', 'snapshot', 'strike', 'restore', 'workers'],
  LOG_LEVEL: ['serve', 'worker', 'dev', 'add', 'get', 'cancel', 'tasks', 'retry', 'watch', 'snapshot', 'strike', 'restore', 'workers'],
  SHADOWS_TASKS: ['serve', 'worker', 'dev', 'add'],
  PORT: ['serve', 'dev'],
  HOST: ['serve', 'dev'],
  SHADOWS_TOKENS: ['serve'],
  SHADOWS_CONCURRENCY: ['worker', 'dev'],
  SHADOWS_REDELIVERY_TIMEOUT: ['worker'],
  SHADOWS_EXECUTION_TTL: ['serve', 'worker', 'add', 'cancel', 'retry', 'strike', 'restore'],
  SHADOWS_HISTORY_LIMIT: ['serve', 'worker', 'add', 'cancel', 'retry', 'strike', 'restore'],
  SHADOWS_EVENTS_LIMIT: ['serve', 'worker', 'add', 'cancel', 'retry', 'strike', 'restore'],
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
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^shadows: unknown command "frobnicate"/],
    [['worker', '--tasks', TASKS_FIXTURE, '--bogus'], /^shadows worker: Unknown option '--bogus'/],
    [['serve', '--tasks', TASKS_FIXTURE, '-x'], /^shadows serve: Unknown option '-x'/],
    [['snapshot', '--verbose'], /^shadows snapshot: Unknown option '--verbose'/],
    [['serve', '--tasks', TASKS_FIXTURE, '--port'], /^shadows serve: Option '--port <value>' argument missing/],
    [['snapshot', 'extra'], /^shadows snapshot: snapshot takes no arguments/],
    [['worker', '--tasks', TASKS_FIXTURE, 'stray'], /^shadows worker: worker takes no arguments/],
    [['tasks'], /^shadows tasks: tasks needs --state/],
    [['tasks', '--state', 'failed', '--limit', '0'], /^shadows tasks: --limit must be an integer from 1 to 1000, got "0"$/m],
    [['retry'], /^shadows retry: retry takes one task KEY, or --state/],
    [['retry', 'k', '--state', 'failed'], /^shadows retry: retry takes one task KEY, or --state/],
    [['retry', 'k', '--task', 'x'], /^shadows retry: --task goes with --state, not with a KEY/],
    [['watch', '--type', 'failed,exploded'], /^shadows watch: --type takes a comma-separated list of .*; got "exploded"$/m],
  ]
  const stderrs = await Promise.all(cases.map(([args]) => runFails(t, cli, args, 2)))
  cases.forEach(([, message], i) => t.match(stderrs[i], message))
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
  // each a process of its own: run side by side, so the file stays quick on a busy machine
  const stderrs = await Promise.all(cases.map(([args]) => runFails(t, cli, args, 2)))
  cases.forEach(([, message], i) => t.match(stderrs[i], message))
})

t.test('a missing or wrong tasks module exits 2 with a helpful line', async (t) => {
  const cli = cliSession(t)
  await Promise.all(
    ['worker', 'serve'].map(async (command) => {
      const stderr = await runFails(t, cli, [command], 2)
      t.match(stderr, new RegExp(`^shadows ${command}: --tasks is required \\(or SHADOWS_TASKS\\): a module whose default export is an array of tasks$`, 'm'))
    }),
  )
  await Promise.all(
    ['not-an-array.mjs', 'no-default.mjs', 'not-tasks.mjs'].map(async (file) => {
      const stderr = await runFails(t, cli, ['worker', '--tasks', fixture(file)], 2)
      t.match(stderr, /must have a default export that is an array of tasks made with defineTask/, `${file} is refused`)
    }),
  )
  const missing = await runFails(t, cli, ['worker', '--tasks', fixture('missing.mjs')], 2)
  t.match(missing, /^shadows worker: cannot load tasks module .*missing\.mjs: /, 'a module that does not exist')
})

t.test('one-shot commands check their arguments', async (t) => {
  const cli = cliSession(t)
  const cases: [string[], RegExp][] = [
    [['add'], /add takes exactly one TASK name/],
    [['add', 'a', 'b'], /add takes exactly one TASK name/],
    [['add', 'greet', '--params', '[1,2]'], /--params must be a JSON object/],
    [['restore'], /restore takes exactly one strike ID/],
    [['strike'], /at least one of --task and --parameter/],
    [['strike', 'greet'], /^shadows strike: strike takes no arguments, got "greet"/],
    [['strike', '--task', 'greet', '--operator', '>'], /--operator and --value need --parameter/],
  ]
  const stderrs = await Promise.all(cases.map(([args]) => runFails(t, cli, args, 2)))
  cases.forEach(([, message], i) => t.match(stderrs[i], message))
  const both = await runFails(t, cli, ['add', 'greet', '--delay', '5', '--when', '2030-01-01T00:00:00Z'], 2)
  t.match(both, /SHADOWS_ERR_VALIDATION/, '--when and --delay together')
  t.equal(lines(both).length, 1)
})
