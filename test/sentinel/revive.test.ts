/**
 * A Sentinel connection that ioredis gives up comes back. When a failover is announced while a
 * connection is reconnecting, ioredis' failover detector closes the connector under the
 * reconnection, which then fails with "Connection is closed." and leaves the client ended for
 * good (every command after it failing the same way). It was seen after `kill -9` of a master under
 * load (async-replication.test.ts); here the announcement is made to land in a reconnection on
 * purpose. The connection must connect again by itself, and one closed on purpose must not.
 */
import t from 'tap'
import { connect } from '../../src/redis/connection.js'
import { startSentinels } from '../helpers/sentinel.js'
import { waitFor } from '../helpers/shadow.js'

interface ConnectorInternals {
  readonly connector: { disconnect(): void }
}

t.test('a connection ended under its reconnection connects again; one closed on purpose stays closed', async (t) => {
  const sentinels = await startSentinels()
  t.teardown(() => sentinels.stop())
  const client = connect(sentinels.url)
  t.teardown(() => client.disconnect())
  client.on('error', () => undefined)
  t.equal(await client.ping(), 'PONG', 'connected through the sentinels')

  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()))
  // what the failover detector does when +switch-master comes: close the connector, here while
  // the reconnection below asks the sentinels for the master
  client.once('connecting', () => setImmediate(() => (client as unknown as ConnectorInternals).connector.disconnect()))
  client.disconnect(true)
  await ended
  t.pass('ioredis ended the connection under its reconnection')

  await waitFor(async () => (await client.ping().catch(() => undefined)) === 'PONG', 10_000, 'the connection to answer again')
  t.equal(client.status, 'ready', 'it connected again by itself')

  client.disconnect()
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(client.status, 'end', 'closed on purpose, it stays closed')
})
