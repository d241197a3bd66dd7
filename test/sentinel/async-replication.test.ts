/**
 * What an asynchronous failover costs, measured: a gateway built with buildApp and a worker, in this
 * process, on a `redis+sentinel://` URL, under load while the master fails over — by
 * `SENTINEL FAILOVER` with no `min-replicas-to-write`, and by `kill -9`. Both carry on by themselves,
 * the gateway answers only 2xx or 503 meanwhile, and every task the new master holds completes.
 * Adds the old master acknowledged but had not replicated are lost, and may be many: the figures are
 * printed as test comments, not asserted.
 */
import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { defineTask, Shadow, Worker } from '../../src/index.js'
import { buildApp } from '../../src/gateway/app.js'
import { AddLoad, accountFor, recordStates } from '../helpers/add-load.js'
import { startSentinels, type TestSentinels } from '../helpers/sentinel.js'
import { testLogger, uniqueName, waitFor } from '../helpers/shadow.js'

/**
 * Runs the gateway and a worker on a fresh deployment, adds under load, has `failOver` take the
 * master away (it returns the old master's port), and checks and reports what followed.
 */
async function failoverUnderLoad(t: Test, what: string, failOver: (sentinels: TestSentinels) => Promise<number>): Promise<void> {
  const sentinels = await startSentinels()
  const name = uniqueName('sentinel')
  const ran: string[] = []
  const note = defineTask({
    name: 'note',
    async run(_params, ctx) {
      ran.push(ctx.key)
    },
  })
  const app = await buildApp({ tasks: [note], url: sentinels.url, name, logger: testLogger })
  const shadow = new Shadow({ url: sentinels.url, name, logger: testLogger })
  const worker = new Worker(shadow, { tasks: [note], concurrency: 20, logger: testLogger, gracePeriod: 2000 })
  // one teardown, so that the clients close before the servers go
  t.teardown(async () => {
    await Promise.allSettled([app.close(), worker.close()])
    await shadow.close().catch(() => undefined)
    await sentinels.stop()
  })
  await app.ready()
  void worker.run()

  const load = new AddLoad(async (key) => (await app.inject({ method: 'POST', url: '/tasks', payload: { task: 'note', key } })).statusCode, 'add')
  load.start(4)
  await waitFor(() => ran.length >= 300, 30_000, '300 tasks to run before the failover')

  const failedAt = Date.now()
  const old = await failOver(sentinels)
  const master = await sentinels.newMaster(old)
  const switchedAt = Date.now()
  let carriedOnAt = 0
  await waitFor(
    () => {
      const done = new Set(ran)
      carriedOnAt = load.acknowledged().some(([key, answer]) => answer.sentAt > switchedAt && done.has(key)) ? Date.now() : 0
      return carriedOnAt > 0
    },
    30_000,
    'a task added after the failover to run',
  )
  const before = load.answers.size
  await waitFor(() => load.answers.size >= before + 300, 30_000, '300 more adds after carrying on')
  await load.stop()

  const acknowledged = load.acknowledged().map(([key]) => key)
  const states = (keys: readonly string[]) => recordStates(sentinels.node(master), name, keys)
  // bounded, and not fatal: the assertion below names what did not finish
  await waitFor(async () => (await accountFor(acknowledged, states, new Set())).unfinished.length === 0, 30_000).catch(() => undefined)
  // the last tasks' functions may return a moment after their records were written
  await sleep(100)
  const accounting = await accountFor(acknowledged, states, new Set(ran))
  const statuses = load.statusCounts()
  const unavailable = [...load.answers.values()].filter((answer) => answer.status === 503)
  t.comment(
    `${what}: ${accounting.acknowledged} adds acknowledged, ${accounting.lost.length} lost ` +
      `(${accounting.lostButRan} of them had run), ${ran.length - new Set(ran).size} tasks ran twice; answers ${JSON.stringify(statuses)}; ` +
      `new master named after ${switchedAt - failedAt} ms, a new task ran ${carriedOnAt - failedAt} ms after the failover began` +
      (unavailable.length > 0
        ? `; 503s from ${Math.min(...unavailable.map((a) => a.sentAt)) - failedAt} to ${Math.max(...unavailable.map((a) => a.answeredAt)) - failedAt} ms`
        : ''),
  )
  t.same(load.failures, [], 'every add got an answer')
  t.same(
    Object.keys(statuses).filter((status) => !/^2\d\d$/.test(status) && status !== '503'),
    [],
    'the gateway answered only 2xx or 503',
  )
  const afterCarryOn = load
    .acknowledged()
    .filter(([, answer]) => answer.sentAt > carriedOnAt)
    .map(([key]) => key)
  const done = new Set(ran)
  t.ok(afterCarryOn.length > 0 && afterCarryOn.every((key) => done.has(key)), 'every task added after carrying on ran')
  const unfinishedStates = await states(accounting.unfinished)
  t.same(
    accounting.unfinished.map((key, i) => `${key} ${unfinishedStates[i] ?? ''}`),
    [],
    'every task the new master holds completed',
  )
  // every connection followed: the blocking reader and the pub/sub ones are on the new master, and
  // none is left on an old master still running
  const ours = async (port: number) => ((await sentinels.node(port).client('LIST')) as string).split('\n').filter((line) => / name=shadows:/.test(line))
  const oldRuns = await sentinels
    .node(old)
    .ping()
    .then(() => true)
    .catch(() => false)
  const followed = async () => {
    const onNew = await ours(master)
    return onNew.some((line) => / sub=[1-9]/.test(line)) && onNew.some((line) => / cmd=xreadgroup/.test(line)) && (!oldRuns || (await ours(old)).length === 0)
  }
  await waitFor(followed, 10_000).catch(() => undefined)
  t.ok(await followed(), `the reader and the subscribers are on the new master${oldRuns ? ', and nothing of ours on the old one' : ''}`)
  const health = await worker.health()
  t.match(health, { redis: true, readLoop: true }, 'the worker is healthy on the new master')
}

t.test('SENTINEL FAILOVER without min-replicas-to-write: writes to the old master until the switch are lost', (t) =>
  failoverUnderLoad(t, 'SENTINEL FAILOVER, no min-replicas-to-write', (sentinels) => sentinels.failover()),
)

t.test('kill -9 of the master: the sentinels promote the replica, and everything carries on', (t) =>
  failoverUnderLoad(t, 'kill -9 of the master', (sentinels) => sentinels.killMaster()),
)
