/**
 * `debounce` and `throttle` over HTTP: POST /tasks, PUT /tasks/{key} and batch items, with the
 * status codes of the contract (202 stored, 200 debounced, 200 duplicate), and hostile values
 * refused with 400 in the one error shape and nothing written.
 */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { MAX_ADD_WINDOW } from '../../src/index.js'
import { closeAdmin, makeShadow, makeWorker, shadowKeysIn } from '../helpers/shadow.js'
import { TASKS, assertError, json, makeApp } from '../helpers/gateway.js'

t.teardown(closeAdmin)

type Body = Record<string, unknown>

/** A POST /tasks of `body`. */
function add(body: Body): InjectOptions {
  return { method: 'POST', url: '/tasks', payload: body }
}

t.test('POST /tasks with debounce: 202 scheduled, then 200 { …, debounced: true } moving it with the new params', async (t) => {
  const { app } = await makeApp(t)
  const before = Date.now()
  const first = await app.inject(add({ task: 'greet', key: 'd', params: { name: 'one' }, debounce: 60_000 }))
  t.equal(first.statusCode, 202)
  t.equal(first.headers.location, '/tasks/d')
  const added = json(first)
  t.equal(added.state, 'scheduled')
  t.ok(Date.parse(added.when as string) >= before + 60_000, 'due at now + debounce')

  const second = await app.inject(add({ task: 'greet', key: 'd', params: { name: 'two' }, debounce: 60_000 }))
  t.equal(second.statusCode, 200)
  const moved = json(second)
  t.same(Object.keys(moved).sort(), ['debounced', 'key', 'state', 'task', 'when'], 'exactly key, task, when, state, debounced')
  t.match(moved, { key: 'd', task: 'greet', state: 'scheduled', debounced: true })
  const record = json(await app.inject({ method: 'GET', url: '/tasks/d' }))
  t.same(record.params, { name: 'two' }, 'the newest params')
  t.equal(record.when, moved.when, 'at the new due time')

  await app.inject(add({ task: 'greet', key: 'q', params: { name: 'queued' } }))
  const queued = await app.inject(add({ task: 'greet', key: 'q', params: { name: 'later' }, debounce: 60_000 }))
  t.equal(queued.statusCode, 200)
  t.match(json(queued), { duplicate: true, state: 'queued', params: { name: 'queued' } }, 'a queued key: 200 duplicate')

  const put = await app.inject({ method: 'PUT', url: '/tasks/d', payload: { task: 'greet', params: { name: 'three' }, debounce: 60_000 } })
  t.equal(put.statusCode, 200)
  t.match(json(put), { key: 'd', state: 'scheduled', replaced: true, debounced: true }, 'PUT moves a scheduled task too')
  const putQueued = await app.inject({ method: 'PUT', url: '/tasks/q', payload: { task: 'greet', params: { name: 'x' }, debounce: 60_000 } })
  t.same(Object.keys(json(putQueued)).sort(), ['key', 'replaced', 'state', 'task', 'when'], 'PUT of a queued key: replaced, not debounced')
  for (const key of ['d', 'q']) await app.inject({ method: 'DELETE', url: `/tasks/${key}` })
})

t.test('POST /tasks with throttle: 202, then 200 duplicate within the window, also once the task finished', async (t) => {
  const { app, name } = await makeApp(t)
  const first = await app.inject(add({ task: 'greet', key: 'th', params: { name: 'one' }, throttle: 60_000 }))
  t.equal(first.statusCode, 202)
  const worker = makeWorker(t, makeShadow(t, { name }), TASKS)
  await worker.runUntilFinished()
  const again = await app.inject(add({ task: 'greet', key: 'th', params: { name: 'two' } }))
  t.equal(again.statusCode, 200)
  t.same(json(again), { key: 'th', task: 'greet', when: json(first).when, state: 'completed', duplicate: true, params: { name: 'one' } })

  const put = await app.inject({ method: 'PUT', url: '/tasks/th', payload: { task: 'greet', params: { name: 'put' }, throttle: 60_000 } })
  t.match(json(put), { replaced: false, state: 'queued' }, 'PUT replaces whatever the window says')
  await worker.runUntilFinished()
})

t.test('POST /tasks/batch: debounce and throttle items get 202, 200 debounced, 200 duplicate or 400, in order', async (t) => {
  const { app } = await makeApp(t)
  const res = await app.inject({
    method: 'POST',
    url: '/tasks/batch',
    payload: {
      tasks: [
        { task: 'greet', key: 'd', params: { name: 'a' }, debounce: 60_000 },
        { task: 'greet', key: 'd', params: { name: 'b' }, debounce: 60_000 },
        { task: 'greet', key: 't', params: { name: 'c' }, throttle: 60_000, delay: 60_000 },
        { task: 'greet', key: 't', params: { name: 'd' }, throttle: 60_000 },
        { task: 'greet', params: { name: 'e' }, throttle: 60_000 },
        { task: 'greet', key: 'x', params: { name: 'f' }, debounce: 1.5 },
        { task: 'greet', key: 'x', params: { name: 'g' }, debounce: '1000' },
      ],
    },
  })
  t.equal(res.statusCode, 200)
  const results = json<{ results: Body[] }>(res).results
  t.same(
    results.map((r) => [r.status, r.state ?? r.code, r.debounced ?? r.duplicate ?? null]),
    [
      [202, 'scheduled', false],
      [200, 'scheduled', true],
      [202, 'scheduled', false],
      [200, 'scheduled', true],
      [400, 'SHADOWS_ERR_VALIDATION', null],
      [400, 'SHADOWS_ERR_VALIDATION', null],
      [400, 'SHADOWS_ERR_VALIDATION', null],
    ],
  )
  t.match(results[1], { debounced: true, duplicate: false })
  t.match(results[3], { duplicate: true })
  t.notOk('debounced' in (results[3] ?? {}), 'a duplicate is not debounced')
  t.match(results[4]?.message, /key/, 'the message names the key')
  for (const key of ['d', 't']) await app.inject({ method: 'DELETE', url: `/tasks/${key}` })
})

t.test('hostile debounce and throttle values: 400 SHADOWS_ERR_VALIDATION naming the field, nothing written', async (t) => {
  const { app, name } = await makeApp(t)
  const bodies: [string, Body, RegExp][] = []
  for (const field of ['debounce', 'throttle']) {
    for (const [what, value] of [
      ['negative', -5],
      ['zero', 0],
      ['a float', 2.5],
      ['huge', 1e300],
      ['past one year', MAX_ADD_WINDOW + 1],
      ['a string', '1000'],
      ['null', null],
      ['an object', { ms: 5 }],
    ] as const) {
      bodies.push([`${field} ${what}`, { task: 'greet', key: 'k', params: { name: 'x' }, [field]: value }, new RegExp(field)])
    }
    bodies.push([`${field} without a key`, { task: 'greet', params: { name: 'x' }, [field]: 1000 }, /key/])
  }
  bodies.push(['debounce with when', { task: 'greet', key: 'k', params: { name: 'x' }, debounce: 1000, when: '2099-01-01T00:00:00Z' }, /debounce/])
  bodies.push(['debounce with delay', { task: 'greet', key: 'k', params: { name: 'x' }, debounce: 1000, delay: 10 }, /debounce/])
  bodies.push(['debounce and throttle', { task: 'greet', key: 'k', params: { name: 'x' }, debounce: 1000, throttle: 1000 }, /debounce|throttle/])
  for (const [what, body, message] of bodies) {
    const res = await app.inject(add(body))
    t.match(assertError(t, res, 400, 'SHADOWS_ERR_VALIDATION', `POST, ${what}`).message, message, `POST, ${what}: names the field`)
    if (!what.includes('without a key')) {
      const { key: _key, ...rest } = body
      const put = await app.inject({ method: 'PUT', url: '/tasks/k', payload: rest })
      assertError(t, put, 400, 'SHADOWS_ERR_VALIDATION', `PUT, ${what}`)
    }
  }
  t.same(await shadowKeysIn(name), [], 'nothing written to Redis')
})
