/**
 * A strike change costs what changed: a worker (told by the push) and a client that only adds
 * (told by its add going stale) bring their copy of the rules up to date without reading the
 * whole set again; a copy that missed a change still converges through a full read.
 *
 * Whole-set reads are counted with `INFO commandstats` on a private redis-server, so that no other
 * test's commands are counted.
 */
import t, { type Test } from 'tap'
import { Type } from '@sinclair/typebox'
import { Redis } from 'ioredis'
import { Shadow, Worker, defineTask, type Strike } from '../../src/index.js'
import { shadowContext } from '../../src/client/shadow.js'
import { startRedisServer } from '../../src/cli/private-redis.js'
import { normalizeStrike, strikeId } from '../../src/core/strikes.js'
import { rejectsCode } from '../helpers/engine-rules.js'
import { testLogger, uniqueName, waitFor } from '../helpers/shadow.js'

const server = await startRedisServer()
const admin = new Redis(server.url)
t.teardown(async () => {
  admin.disconnect()
  await server.stop()
})

const send = defineTask({
  name: 'send',
  params: Type.Object({ customer: Type.String() }),
  async run() {},
})

/** A client on shadow `name` of the private Redis, closed on teardown. */
function open(t: Test, name: string): Shadow {
  const shadow = new Shadow({ name, url: server.url, logger: testLogger })
  t.teardown(() => shadow.close())
  return shadow
}

/** A running worker on `shadow`, closed on teardown. */
function runWorker(t: Test, shadow: Shadow): Worker {
  const worker = new Worker(shadow, { tasks: [send], logger: testLogger, gracePeriod: 2000 })
  const running = worker.run()
  t.teardown(async () => {
    await worker.close()
    await running
  })
  return worker
}

/** On teardown: every finished task record has a TTL; then the shadow's keys are deleted. */
function checkKeys(t: Test, name: string): void {
  t.teardown(async () => {
    const keys = await admin.keys(`{${name}}:*`)
    for (const key of keys.filter((k) => k.includes('}:task:'))) {
      const state = await admin.hget(key, 'state')
      if (state !== 'scheduled' && state !== 'queued' && state !== 'running' && (await admin.pttl(key)) < 0) t.fail(`${key} has no TTL`)
    }
    if (keys.length > 0) await admin.del(...keys)
  })
}

/** How many times Redis ran a command that reads a whole hash (inside scripts too). */
async function wholeSetReads(): Promise<number> {
  const stats = await admin.info('commandstats')
  let calls = 0
  for (const command of ['hvals', 'hgetall', 'hkeys', 'hscan']) {
    const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)
    calls += Number(match?.[1] ?? 0)
  }
  return calls
}

/** Resolves once `shadow`'s own copy of the rules is at the version stored in Redis. */
async function inStep(shadow: Shadow, what: string): Promise<void> {
  await waitFor(
    async () => (await shadowContext(shadow).strikes.current()).version === ((await admin.get(shadowContext(shadow).keys.strikesVersion)) ?? ''),
    10_000,
    what,
  )
}

/** The ids of a copy's rules, in order. */
async function copyIds(shadow: Shadow): Promise<string[]> {
  return (await shadowContext(shadow).strikes.current()).rules.map((rule) => rule.id)
}

/** The rules a client that never read them gets from Redis, in order. */
async function storedRules(t: Test, name: string): Promise<Strike[]> {
  return open(t, name).strikes()
}

/** Restores every strike left, then checks that no strike key is left behind. */
async function restoreAll(t: Test, shadow: Shadow): Promise<void> {
  for (const strike of await shadow.strikes()) await shadow.restore(strike.id)
  t.same(await admin.keys(`{${shadow.name}}:strikes*`), [], 'no strike key left once every strike is restored')
}

t.test('adding or restoring one strike among 50 reaches a worker and an adding client without reading the whole set', async (t) => {
  const name = uniqueName('strike-changes')
  checkKeys(t, name)
  const operator = open(t, name)
  const workerShadow = open(t, name)
  const client = open(t, name)
  for (let i = 0; i < 50; i++) await operator.strike({ parameter: 'customer', value: `c${i}` })
  runWorker(t, workerShadow)
  await client.add(send)({ customer: 'fine-0' })
  await inStep(workerShadow, 'the worker loaded the 50 rules')
  t.equal((await shadowContext(client).strikes.current()).rules.length, 50, 'the client loaded them at its first add')

  const before = await wholeSetReads()
  const { strike: added } = await operator.strike({ parameter: 'customer', value: 'c50' })
  await inStep(workerShadow, 'the worker heard the new strike')
  t.ok((await copyIds(workerShadow)).includes(added.id), "the new rule is in the worker's copy")
  await rejectsCode(t, client.add(send)({ customer: 'c50' }), 'SHADOWS_ERR_STRUCK', 'the client, whose add went stale, honours the new strike')

  const removed = await operator.restore({ parameter: 'customer', value: 'c7' })
  await inStep(workerShadow, 'the worker heard the restore')
  t.notOk((await copyIds(workerShadow)).includes(removed.id), "the restored rule left the worker's copy")
  t.equal((await client.add(send)({ customer: 'fine-1' })).duplicate, false, 'the client adds again once its copy is brought up to date')
  t.notOk((await copyIds(client)).includes(removed.id), "and the restored rule left the client's copy")

  t.equal((await wholeSetReads()) - before, 0, 'no process read the whole set of rules for these changes')

  const stored = await storedRules(t, name)
  t.equal(stored.length, 50)
  t.same((await shadowContext(workerShadow).strikes.current()).rules, stored, "the worker's copy is exactly what Redis holds, in order")
  t.same((await shadowContext(client).strikes.current()).rules, stored, "the client's copy too")
  await restoreAll(t, operator)
})

t.test('a copy that missed a change converges through a full read, and the next change is incremental again', async (t) => {
  const name = uniqueName('strike-changes')
  checkKeys(t, name)
  const operator = open(t, name)
  const workerShadow = open(t, name)
  for (let i = 0; i < 20; i++) await operator.strike({ parameter: 'customer', value: `c${i}` })
  runWorker(t, workerShadow)
  await inStep(workerShadow, 'the worker loaded the 20 rules')

  // another process stores a rule and the worker never hears of it: rule and version written alone
  const rule = normalizeStrike({ parameter: 'customer', value: 'silent' })
  const silent: Strike = { id: strikeId(rule), ...rule, createdAt: new Date().toISOString() }
  await admin
    .multi()
    .hset(shadowContext(operator).keys.strikes, silent.id, JSON.stringify(silent))
    .set(shadowContext(operator).keys.strikesVersion, 'silent-version')
    .exec()

  // the next change is pushed as going from 'silent-version': not the worker's version, so it reads all
  const beforeMissed = await wholeSetReads()
  const { strike: next } = await operator.strike({ parameter: 'customer', value: 'after-silent' })
  await inStep(workerShadow, 'the worker caught up')
  t.ok((await wholeSetReads()) - beforeMissed >= 1, 'the worker fell back to reading the whole set')
  const ids = await copyIds(workerShadow)
  t.ok(ids.includes(silent.id) && ids.includes(next.id), 'its copy holds both the missed rule and the new one')
  t.same((await shadowContext(workerShadow).strikes.current()).rules, await storedRules(t, name), 'and is exactly what Redis holds')

  const beforeNext = await wholeSetReads()
  await operator.restore(next.id)
  await inStep(workerShadow, 'the worker heard the restore')
  t.notOk((await copyIds(workerShadow)).includes(next.id), 'the restored rule left its copy')
  t.equal((await wholeSetReads()) - beforeNext, 0, 'back in step, the next change needs no whole-set read')
  await restoreAll(t, operator)
})
