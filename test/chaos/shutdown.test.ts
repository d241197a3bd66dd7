import t from 'tap'
import { TEST_URL, adminRedis, closeAdmin, makeShadow, waitFor } from '../helpers/shadow.js'
import { fixtureLog, readNotes, startWorker, waitForDist, type Note } from '../fixtures/chaos/worker-process.js'
import type { Shadow } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'

t.setTimeout(240_000)
t.teardown(closeAdmin)

const TASKS = 30

/** Adds `count` slow tasks s0…s(count-1); returns their keys (every add resolved: each is a promise). */
async function addSlowTasks(shadow: Shadow, count: number, ms: number): Promise<string[]> {
  const keys: string[] = []
  for (let i = 0; i < count; i++) {
    const execution = await shadow.add('slow', { key: `s${i}` })({ ms })
    keys.push(execution.key)
  }
  return keys
}

/** Keys started by `pid` and not ended by it, per the notes. */
function inFlightOn(notes: readonly Note[], pid: number): string[] {
  const ended = new Set(notes.filter((n) => n.what === 'end' && n.pid === pid).map((n) => n.key))
  return notes.filter((n) => n.what === 'start' && n.pid === pid && !ended.has(n.key)).map((n) => n.key)
}

async function states(shadow: Shadow, keys: readonly string[]): Promise<Map<string, string | undefined>> {
  const entries = await Promise.all(keys.map(async (key) => [key, (await shadow.get(key))?.state] as const))
  return new Map(entries)
}

async function allCompleted(shadow: Shadow, keys: readonly string[]): Promise<boolean> {
  return [...(await states(shadow, keys)).values()].every((state) => state === 'completed')
}

t.test('SIGTERM under load: in-flight tasks finish and are acknowledged, the process exits 0, no task is lost', async (t) => {
  await waitForDist()
  const shadow = makeShadow(t)
  const log = fixtureLog(t)
  const keys = await addSlowTasks(shadow, TASKS, 1500)

  const a = startWorker(t, { url: TEST_URL, shadow: shadow.name, log, concurrency: 5, gracePeriod: 60_000 })
  await waitFor(() => inFlightOn(readNotes(log), a.pid).length === 5, 60_000, 'the worker to be busy with 5 tasks')
  const inFlightAtSignal = inFlightOn(readNotes(log), a.pid)
  a.process.kill('SIGTERM')
  const exit = await a.exited
  t.same(exit, { code: 0, signal: null }, `the worker exits 0 on SIGTERM (output: ${a.output().slice(-500)})`)
  t.ok(inFlightAtSignal.length > 0, `tasks were in flight when the signal came (${inFlightAtSignal.length})`)

  const notes = readNotes(log)
  const startedByA = notes.filter((n) => n.what === 'start' && n.pid === a.pid).map((n) => n.key)
  t.same(inFlightOn(notes, a.pid), [], 'every task the worker had started, it finished before exiting')
  const afterExit = await states(shadow, startedByA)
  t.same(
    startedByA.filter((key) => afterExit.get(key) !== 'completed'),
    [],
    `every task it had started was completed before it exited (${startedByA.length})`,
  )
  const finishers = await Promise.all(inFlightAtSignal.map(async (key) => (await shadow.get(key))?.worker))
  t.same(
    finishers,
    inFlightAtSignal.map(() => a.name),
    'the tasks in flight at the signal were finished by the worker that got it',
  )
  const pending = (await adminRedis().xpending(shadowContext(shadow).keys.stream, 'workers')) as [number, ...unknown[]]
  t.equal(pending[0], 0, 'nothing is left unacknowledged')
  t.equal((await shadow.snapshot()).counts.queued, TASKS - startedByA.length, 'the tasks it had not started are still queued')

  // another worker takes the rest
  const b = startWorker(t, { url: TEST_URL, shadow: shadow.name, log, concurrency: 10 })
  await waitFor(() => allCompleted(shadow, keys), 120_000, 'every task to complete')
  const final = readNotes(log)
  t.same(
    keys.filter((key) => final.filter((n) => n.what === 'end' && n.key === key).length !== 1),
    [],
    'every task ran exactly once: a graceful shutdown repeats nothing',
  )
  t.equal([...(await states(shadow, keys)).values()].filter((s) => s === 'completed').length, TASKS, 'no task lost: every accepted task completed')
  b.process.kill('SIGTERM')
  t.same(await b.exited, { code: 0, signal: null }, 'the second worker exits 0 too')
})

t.test('SIGKILL under load: in-flight tasks are redelivered to another worker after redeliveryTimeout, no task is lost', async (t) => {
  await waitForDist()
  const shadow = makeShadow(t)
  const log = fixtureLog(t)
  const keys = await addSlowTasks(shadow, TASKS, 3000)

  const a = startWorker(t, { url: TEST_URL, shadow: shadow.name, log, concurrency: 5, redeliveryTimeout: 1000 })
  await waitFor(() => inFlightOn(readNotes(log), a.pid).length === 5, 60_000, 'the worker to be busy with 5 tasks')
  a.process.kill('SIGKILL')
  t.same(await a.exited, { code: null, signal: 'SIGKILL' }, 'the worker was killed')
  const orphaned = inFlightOn(readNotes(log), a.pid)
  t.ok(orphaned.length > 0, `tasks were in flight on the killed worker (${orphaned.length})`)
  const held = await states(shadow, orphaned)
  t.same(
    orphaned.filter((key) => held.get(key) !== 'running'),
    [],
    'they are still marked running on the dead worker',
  )

  const b = startWorker(t, { url: TEST_URL, shadow: shadow.name, log, concurrency: 10, redeliveryTimeout: 1000 })
  await waitFor(() => allCompleted(shadow, keys), 120_000, 'every task to complete')
  const notes = readNotes(log)
  t.same(
    orphaned.filter((key) => !notes.some((n) => n.what === 'end' && n.key === key && n.pid === b.pid)),
    [],
    'every task in flight on the killed worker was redelivered to the other one and ran to its end',
  )
  const redelivered = await Promise.all(orphaned.map((key) => shadow.get(key)))
  t.same(
    redelivered.map((info) => [info?.worker, info?.attempt]),
    orphaned.map(() => [b.name, 1]),
    'and completed there, still as attempt 1 (a redelivery is not a retry)',
  )
  const missing = keys.filter((key) => !notes.some((n) => n.what === 'end' && n.key === key))
  t.same(missing, [], 'no accepted task is missing: every one ran to its end')
  t.equal([...(await states(shadow, keys)).values()].filter((s) => s === 'completed').length, TASKS, 'every task ended completed')
  t.same((await shadow.snapshot()).counts, { scheduled: 0, queued: 0, running: 0 }, 'nothing left behind')
  b.process.kill('SIGTERM')
  t.same(await b.exited, { code: 0, signal: null }, 'the other worker exits 0 on SIGTERM')
})
