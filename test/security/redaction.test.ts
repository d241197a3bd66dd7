/**
 * The redaction helpers on their own: every command that carries a credential, URLs anywhere in an
 * error's text, errors nested in others, and a logger's own serializer kept.
 */
import t from 'tap'
import { pino } from 'pino'
import { redactError, redactingSerializers, redactUrl } from '../../src/redis/redact.js'
import { redisFailure } from '../../src/redis/failure.js'

const SECRET = 's3cr@t-pw'

/** An error as ioredis makes it for a reply to `name args…`. */
function replyError(message: string, name: string, args: unknown[]): Error {
  return Object.assign(new Error(message), { name: 'ReplyError', command: { name, args } })
}

t.test('URLs: the password masked, the rest kept as written', async (t) => {
  t.equal(redactUrl(`redis://:${SECRET}@127.0.0.1:6379/0`), 'redis://:***@127.0.0.1:6379/0')
  t.equal(redactUrl(`rediss://default:${SECRET}@host:6380`), 'rediss://default:***@host:6380')
  t.equal(redactUrl(`redis+cluster://u:${SECRET}@h1:1,h2:2`), 'redis+cluster://u:***@h1:1,h2:2')
  t.equal(redactUrl(`redis://${SECRET}@host`), 'redis://***@host', 'a user info without a colon is masked whole')
  t.equal(redactUrl(`invalid Redis URL "http://x:${SECRET}@h/0": use redis://`), 'invalid Redis URL "http://x:***@h/0": use redis://')
  t.equal(redactUrl('redis://127.0.0.1:6379/0 and jane@example.com'), 'redis://127.0.0.1:6379/0 and jane@example.com', 'nothing else touched')
  t.equal(redactUrl('at file:///work/main/src/x.ts:1:2'), 'at file:///work/main/src/x.ts:1:2')
})

t.test('Sentinel URLs: the password of the master and of the sentinels masked', async (t) => {
  t.equal(redactUrl(`redis+sentinel://u:${SECRET}@h1:26379,h2:26379/m`), 'redis+sentinel://u:***@h1:26379,h2:26379/m')
  t.equal(
    redactUrl(`"rediss+sentinel://:${SECRET}@h:1/m?db=2&sentinelPassword=${SECRET}&sentinelUsername=s"`),
    '"rediss+sentinel://:***@h:1/m?db=2&sentinelPassword=***&sentinelUsername=s"',
  )
  t.equal(redactUrl(`redis+sentinel://h:1/m?SENTINELPASSWORD=${SECRET}#x`), 'redis+sentinel://h:1/m?SENTINELPASSWORD=***#x', 'whatever its case')
  t.equal(redactUrl(`redis://h:1/0?password=${SECRET}`), 'redis://h:1/0?password=***', "a redis:// URL's query password, which ioredis reads")
  const err = redactError(new Error(`All sentinels of redis+sentinel://h:1/m?sentinelPassword=${SECRET} are unreachable`))
  t.notOk(String(err.message).includes(SECRET) || String(err.stack).includes(SECRET), 'an error naming such a URL holds neither password')
})

t.test('errors: the arguments of every command that carries a credential', async (t) => {
  const cases: [string, unknown[], unknown[]][] = [
    ['auth', [SECRET], ['***']],
    ['AUTH', ['default', SECRET], ['default', '***']],
    ['hello', ['3', 'AUTH', 'default', SECRET, 'SETNAME', 'x'], ['3', 'AUTH', '***', '***', 'SETNAME', 'x']],
    ['migrate', ['h', '6379', 'k', '0', '100', 'AUTH', SECRET], ['h', '6379', 'k', '0', '100', 'AUTH', '***']],
    ['migrate', ['h', '6379', 'k', '0', '100', 'AUTH2', 'u', SECRET], ['h', '6379', 'k', '0', '100', 'AUTH2', '***', '***']],
    ['config', ['SET', 'requirepass', SECRET, 'maxmemory', '1mb'], ['SET', 'requirepass', '***', 'maxmemory', '1mb']],
    ['acl', ['SETUSER', 'jane', 'on', `>${SECRET}`], ['SETUSER', 'jane', 'on', '***']],
    ['get', ['key'], ['key']],
  ]
  for (const [name, args, expected] of cases) {
    const err = redactError(replyError('WRONGPASS invalid username-password pair', name, args))
    t.same((err as unknown as { command: { args: unknown[] } }).command.args, expected, `${name} ${args.join(' ')}`)
  }
})

t.test('errors: URLs in any text property, and errors held by others', async (t) => {
  const inner = replyError('WRONGPASS invalid', 'auth', [SECRET])
  const outer = new Error(`cannot use redis://:${SECRET}@h:1`, { cause: inner })
  Object.assign(outer, { input: `redis://:${SECRET}@h:1`, lastNodeError: replyError('NOAUTH', 'auth', ['u', SECRET]) })
  redactError(outer)
  const shown = JSON.stringify({ outer, stack: outer.stack, cause: outer.cause, inner }) + String(outer.stack)
  t.notOk(shown.includes(SECRET), `nothing holds the password: ${shown.slice(0, 200)}`)
  t.equal(redisFailure(outer), 'credentials', 'the refused credentials are found through cause')
  t.equal(redactError('plain text'), 'plain text', 'anything but an object is left as it is')
})

t.test("serializers: a logger's own err serializer runs after the redaction", async (t) => {
  const lines: string[] = []
  const base = pino(
    { serializers: { err: (err: Error & { command?: { args: unknown[] } }) => ({ custom: true, args: err.command?.args }) } },
    { write: (line: string) => lines.push(line) },
  )
  const logger = base.child({}, { serializers: redactingSerializers(base) })
  logger.warn({ err: replyError('WRONGPASS', 'auth', [SECRET]) }, 'refused')
  const entry = JSON.parse(lines[0] ?? '{}') as { err?: { custom?: boolean; args?: unknown[] } }
  t.same(entry.err, { custom: true, args: ['***'] })
})
