/**
 * Redis URLs read in one place: the Sentinel form with its credentials, TLS, database and defaults;
 * every malformed one refused with SHADOWS_ERR_VALIDATION and words that say what is wrong, never
 * its passwords; and the connection a Sentinel URL opens, with what its duplicates inherit.
 */
import t from 'tap'
import { Redis } from 'ioredis'
import { closeNow, connect, duplicate } from '../../src/redis/connection.js'
import { parseRedisUrl } from '../../src/redis/url.js'
import { isShadowsError } from '../../src/core/errors.js'
import { freePort } from '../../src/cli/private-redis.js'

const SECRET = 's3cr@t-pw'

t.test('the Sentinel form: sentinels, master name, credentials, database and TLS', async (t) => {
  t.same(parseRedisUrl('redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster'), {
    kind: 'sentinel',
    sentinels: [
      { host: '127.0.0.1', port: 26379 },
      { host: '127.0.0.1', port: 26380 },
    ],
    masterName: 'mymaster',
    db: 0,
    tls: false,
  })
  t.same(parseRedisUrl(`rediss+sentinel://jane:${encodeURIComponent(SECRET)}@h1:1,[::1]:2/my%20master?sentinelPassword=sp%26x&db=3&sentinelUsername=su`), {
    kind: 'sentinel',
    sentinels: [
      { host: 'h1', port: 1 },
      { host: '::1', port: 2 },
    ],
    masterName: 'my master',
    db: 3,
    tls: true,
    username: 'jane',
    password: SECRET,
    sentinelUsername: 'su',
    sentinelPassword: 'sp&x',
  })
  t.match(parseRedisUrl('redis+sentinel://h/m'), { sentinels: [{ host: 'h', port: 26379 }] }, 'a sentinel without a port is on 26379')
  t.match(parseRedisUrl(`redis+sentinel://:${SECRET}@h:1/m`), { password: SECRET }, 'the password alone, after a colon')
  t.match(parseRedisUrl(`redis+sentinel://${SECRET}@h:1/m`), { password: SECRET }, 'or without one, as redis:// takes it')
  t.match(parseRedisUrl('redis+sentinel://h:1/m?db=2'), { db: 2 })
  t.match(parseRedisUrl('redis+sentinel://h:1/m?sentinelPassword=a+b%2Bc'), { sentinelPassword: 'a+b+c' }, 'a + in a password stays a +')
  t.match(parseRedisUrl('redis+sentinel://[::1]/m'), { sentinels: [{ host: '::1', port: 26379 }] }, 'an IPv6 sentinel in brackets')
})

t.test('the other forms are read as before', async (t) => {
  t.same(parseRedisUrl('redis://127.0.0.1:6379/0'), { kind: 'node', url: 'redis://127.0.0.1:6379/0' })
  t.same(parseRedisUrl('rediss+cluster://u:p@h1:1,h2'), {
    kind: 'cluster',
    nodes: [
      { host: 'h1', port: 1 },
      { host: 'h2', port: 6379 },
    ],
    tls: true,
    username: 'u',
    password: 'p',
  })
})

t.test('malformed URLs: SHADOWS_ERR_VALIDATION saying what is wrong, without the passwords', async (t) => {
  const cases: [string, RegExp][] = [
    ['redis+sentinel:///m', /no sentinel host/],
    [`redis+sentinel://u:${SECRET}@/m`, /no sentinel host/],
    ['redis+sentinel://h:0/m', /invalid sentinel "h:0".*port 1-65535/],
    ['redis+sentinel://h:70000/m', /invalid sentinel "h:70000"/],
    ['redis+sentinel://h:abc/m', /invalid sentinel "h:abc"/],
    ['redis+sentinel://h:/m', /invalid sentinel "h:"/],
    ['redis+sentinel://h1:1,,h2:2/m', /invalid sentinel ""/],
    [`redis+sentinel://u:${SECRET}@h:1`, /no master name/],
    [`redis+sentinel://h:1/?sentinelPassword=${SECRET}`, /no master name/],
    ['redis+sentinel://h:1/m/2', /give the database as \?db=/],
    ['redis+sentinel://h:1/m?db=x', /db must be a non-negative integer/],
    ['redis+sentinel://h:1/m?db=-1', /db must be a non-negative integer/],
    [`redis+sentinel://h:1/m?sentinelpassword=${SECRET}`, /unknown parameter "sentinelpassword"/],
    ['redis+sentinel://h:1/m?db=1&db=2', /db given twice/],
    [`redis+sentinel://h:1/m?sentinelPassword=${SECRET}#x`, /fragment/],
    ['redis+sentinel://h:1/%E0%A4%A', /master name is not valid percent-encoding/],
    ['redis+sentinel://h:1/m?sentinelPassword=%E0%A4%A', /sentinelPassword is not valid percent-encoding/],
    [`sentinel://u:${SECRET}@h:1/m`, /invalid Redis URL .*redis\+sentinel:\/\//],
  ]
  for (const [url, message] of cases) {
    let thrown: unknown
    try {
      parseRedisUrl(url)
    } catch (err) {
      thrown = err
    }
    t.ok(isShadowsError(thrown) && thrown.code === 'SHADOWS_ERR_VALIDATION', `${url.replace(SECRET, '…')}: SHADOWS_ERR_VALIDATION`)
    const text = thrown instanceof Error ? thrown.message : ''
    t.match(text, message, text)
    t.notOk(text.includes(SECRET) || text.includes(encodeURIComponent(SECRET)), 'the message holds no password')
  }
})

t.test('a Sentinel connection asks for the master, and its duplicates follow a failover too', async (t) => {
  // nothing listens there: the connection only keeps asking, and is closed at once
  const ports = [await freePort(), await freePort()]
  const client = connect(`redis+sentinel://:${SECRET}@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/m?sentinelPassword=sp&db=1`)
  client.on('error', () => undefined)
  const copy = duplicate(client)
  copy.on('error', () => undefined)
  t.teardown(() => {
    closeNow(copy)
    closeNow(client)
  })
  for (const [what, connection] of [
    ['the connection', client],
    ['a duplicate', copy],
  ] as const) {
    t.ok(connection instanceof Redis, `${what} is a single-node client`)
    const { options } = connection as Redis
    t.match(
      options,
      {
        sentinels: [
          { host: '127.0.0.1', port: ports[0] },
          { host: '127.0.0.1', port: ports[1] },
        ],
        name: 'm',
        role: 'master',
        db: 1,
        password: SECRET,
        sentinelPassword: 'sp',
        failoverDetector: true,
      },
      `${what}: ioredis' Sentinel settings`,
    )
    const reconnect = options.reconnectOnError
    t.equal(reconnect?.(new Error("READONLY You can't write against a read only replica.")), 2, `${what}: reconnects and resends on READONLY`)
    t.equal(
      reconnect?.(new Error("ERR user_script:292: READONLY You can't write against a read only replica. script: 77a5, on @user_script:292.")),
      2,
      `${what}: also when one of shadows' scripts raised it again`,
    )
    t.equal(
      reconnect?.(new Error('UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)')),
      2,
      `${what}: and when a demoted master ends a blocking read`,
    )
    t.equal(reconnect?.(new Error('ERR unknown command')), false, `${what}: not on other errors`)
  }
  const tls = connect(`rediss+sentinel://127.0.0.1:${ports[0]}/m`)
  tls.on('error', () => undefined)
  t.teardown(() => closeNow(tls))
  t.match((tls as Redis).options, { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} }, 'rediss+sentinel: TLS to the master and the sentinels')
})
