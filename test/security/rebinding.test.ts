/**
 * Without tokens the gateway trusts whoever reaches its loopback port, so it must be sure that the
 * request was meant for it: a web page whose name was rebound to 127.0.0.1 (DNS rebinding) sends
 * its own name as Host, and a page of another site sends its Origin. Both are refused, in the one
 * error shape, and nothing is stored. With tokens, the token decides.
 */
import t from 'tap'
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { FUZZ_TOKENS } from '../helpers/arbitraries.js'
import { assertError, json, makeApp } from '../helpers/gateway.js'
import { adminRedis, closeAdmin } from '../helpers/shadow.js'
import { shadowKeys } from '../../src/redis/keys.js'

t.teardown(closeAdmin)

const ADD = { task: 'greet', params: { name: 'Jane' } }
const JSON_TYPE = { 'content-type': 'application/json' }

t.test('without tokens, a Host that is not a loopback name is refused and nothing is stored', async (t) => {
  const { app, name } = await makeApp(t)
  for (const host of ['attacker.example:8080', 'attacker.example', 'localhost.attacker.example:8080', '127.0.0.1.nip.io:8080', '10.0.0.1:8080']) {
    const answer = await app.inject({ method: 'POST', url: '/tasks', headers: { ...JSON_TYPE, host }, payload: ADD })
    const body = assertError(t, answer, 403, 'SHADOWS_ERR_FORBIDDEN', `Host: ${host}`)
    t.match(body.message, /Host/, 'the message names the Host header')
    const read = await app.inject({ method: 'GET', url: '/snapshot', headers: { host } })
    assertError(t, read, 403, 'SHADOWS_ERR_FORBIDDEN', `GET with Host: ${host}`)
  }
  t.equal(await adminRedis().exists(shadowKeys(name).stream, shadowKeys(name).schedule), 0, 'nothing was stored')
  for (const host of ['127.0.0.1:8080', '127.0.0.1', 'localhost:8080', 'LOCALHOST', '[::1]:8080', '[::1]', '127.1.2.3:80']) {
    const answer = await app.inject({ method: 'POST', url: '/tasks', headers: { ...JSON_TYPE, host }, payload: ADD })
    t.equal(answer.statusCode, 202, `Host: ${host} is accepted`)
  }
})

t.test('without tokens, a browser Origin other than the gateway itself is refused', async (t) => {
  const { app, name } = await makeApp(t)
  const host = '127.0.0.1:8080'
  for (const origin of [
    'http://attacker.example',
    'http://attacker.example:8080',
    'null',
    'http://127.0.0.1:9999',
    'https://127.0.0.1:8080',
    'http://localhost:8080',
  ]) {
    const answer = await app.inject({ method: 'POST', url: '/tasks', headers: { ...JSON_TYPE, host, origin }, payload: ADD })
    const body = assertError(t, answer, 403, 'SHADOWS_ERR_FORBIDDEN', `Origin: ${origin}`)
    t.match(body.message, /Origin/, 'the message names the Origin header')
    const strike = await app.inject({ method: 'POST', url: '/strikes', headers: { ...JSON_TYPE, host, origin }, payload: { task: 'boom' } })
    assertError(t, strike, 403, 'SHADOWS_ERR_FORBIDDEN', `POST /strikes from Origin: ${origin}`)
  }
  t.equal(await adminRedis().exists(shadowKeys(name).stream, shadowKeys(name).strikes), 0, 'nothing was stored')
  const own = await app.inject({ method: 'POST', url: '/tasks', headers: { ...JSON_TYPE, host, origin: 'http://127.0.0.1:8080' }, payload: ADD })
  t.equal(own.statusCode, 202, "the gateway's own origin is accepted (its pages may call it)")
})

t.test('with tokens, the token decides whatever the Host and Origin', async (t) => {
  const { app } = await makeApp(t, { tokens: FUZZ_TOKENS })
  const headers = { ...JSON_TYPE, host: 'shadows.internal.example:443', origin: 'https://dashboard.example', authorization: 'Bearer fuzz-enqueue-token' }
  const answer = await app.inject({ method: 'POST', url: '/tasks', headers, payload: ADD })
  t.equal(answer.statusCode, 202, 'accepted with a valid token')
  const { authorization: _, ...anonymous } = headers
  assertError(t, await app.inject({ method: 'POST', url: '/tasks', headers: anonymous, payload: ADD }), 401, 'SHADOWS_ERR_UNAUTHORIZED')
})

t.test("over a real socket, a rebound Host gets a 403 and the gateway's own address a 202", async (t) => {
  const { app } = await makeApp(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const post = (host: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/tasks', headers: { ...JSON_TYPE, host } }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      })
      req.on('error', reject)
      req.end(JSON.stringify(ADD))
    })
  const rebound = await post(`attacker.example:${port}`)
  t.equal(rebound.status, 403, 'rebound name: 403')
  t.equal(json({ statusCode: rebound.status, headers: {}, body: rebound.body }).code, 'SHADOWS_ERR_FORBIDDEN', 'in the one error shape')
  t.equal((await post(`127.0.0.1:${port}`)).status, 202, 'own address: 202')
})
