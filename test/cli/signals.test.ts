/**
 * A signal that comes while `shadows` is still loading (its modules, the tasks module) stops the
 * command gracefully, with exit code 0, instead of killing it: a worker or gateway started and
 * stopped at once by an orchestrator must end cleanly.
 */
import t from 'tap'
import { cliSession, fixture } from '../helpers/cli.js'
import { closeAdmin } from '../helpers/shadow.js'

t.teardown(closeAdmin)

for (const command of ['worker', 'serve'] as const) {
  t.test(`${command}: SIGTERM while the tasks module loads ends it with 0`, async (t) => {
    const cli = cliSession(t, `signals-${command}`)
    const args = command === 'serve' ? ['serve', '--port', '0'] : ['worker']
    const child = cli.spawn([...args, '--tasks', fixture('slow-tasks.mjs')])
    // a generous bound: on a busy host (the chaos run beside it) loading can take many seconds
    await child.waitForOutput('loading slow tasks', 60_000)
    child.signal('SIGTERM')
    t.same(await child.exited, { code: 0, signal: null }, 'exits 0, not killed by the signal')
  })
}
