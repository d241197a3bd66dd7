/**
 * Which errors mean that Redis could not be used at all (the gateway answers them with 503), told
 * by class, code and ioredis' fixed texts; and which failures shadows names in words.
 */
import t from 'tap'
import { ReplyError } from 'ioredis'
import { describeRedisFailure, isRedisUnavailable } from '../../src/redis/failure.js'

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code })
const named = (name: string, message = 'x') => Object.assign(new Error(message), { name })

t.test('errors that mean Redis is away', async (t) => {
  const away: [string, unknown][] = [
    [
      'ioredis gave up retrying',
      named('MaxRetriesPerRequestError', 'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.'),
    ],
    ['no cluster node answered', named('ClusterAllFailedError', 'Failed to refresh slots cache.')],
    ['refused', withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED')],
    ['reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['connect timeout', withCode('connect ETIMEDOUT', 'ETIMEDOUT')],
    ['a closed connection', new Error('Connection is closed.')],
    ['the offline queue is off', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['Redis is loading its data', new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['a replica without its master', new ReplyError('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no')],
    ['refused credentials', new ReplyError('WRONGPASS invalid username-password pair or user is disabled.')],
    ['a master demoted by a failover', new ReplyError("READONLY You can't write against a read only replica. script: 8fc3, on @user_script:1.")],
    ['a master with too few replicas in step', new ReplyError('NOREPLICAS Not enough good replicas to write.')],
    [
      'the same, met inside a script that raised it again',
      new ReplyError('ERR user_script:292: NOREPLICAS Not enough good replicas to write. script: 77a5, on @user_script:292.'),
    ],
    [
      'the same on Redis 6',
      new ReplyError("ERR Error running script (call to f_77a5): @user_script:292: -READONLY You can't write against a read only replica."),
    ],
    [
      'sentinels refusing the credentials',
      new Error('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: WRONGPASS invalid username-password pair or user is disabled.'),
    ],
  ]
  for (const [what, err] of away) t.equal(isRedisUnavailable(err), true, what)
})

t.test('errors that do not', async (t) => {
  const notAway: [string, unknown][] = [
    ['a message that merely mentions connecting', new Error('could not connect the dots in the task')],
    ['a validation error', withCode('task must be a task name', 'SHADOWS_ERR_VALIDATION')],
    ['a script error', new ReplyError('ERR Error running script (call to f_123): @user_script:1: oops')],
    ['a wrong type', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['not an error', 'Connection is closed.'],
    ['nothing', undefined],
  ]
  for (const [what, err] of notAway) t.equal(isRedisUnavailable(err), false, what)
})

t.test('failures named in words', async (t) => {
  t.equal(describeRedisFailure(new ReplyError('NOAUTH Authentication required.')), 'Redis refused the credentials')
  t.equal(
    describeRedisFailure(withCode('ssl3_get_record:wrong version number', 'ERR_SSL_WRONG_VERSION_NUMBER')),
    'TLS handshake failed: is this port serving TLS?',
  )
  t.equal(describeRedisFailure(new Error('Connection is closed.')), undefined, 'a lost connection has no special words')
  t.equal(
    describeRedisFailure(new Error('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: NOAUTH Authentication required.')),
    'Redis refused the credentials',
    'sentinels refusing the credentials',
  )
  t.equal(
    describeRedisFailure(new Error('All sentinels are unreachable. Retrying from scratch after 10ms. Last error: connect ECONNREFUSED 127.0.0.1:26379')),
    undefined,
    'unreachable sentinels have no special words',
  )
})
