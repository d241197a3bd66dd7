/**
 * The client's types follow the routes' schemas. Checked by the compiler (`npm run typecheck`
 * covers test/): each `@ts-expect-error` below must find an error, or typechecking fails; and the
 * input types have exactly the fields of the schemas they come from. Nothing here runs a request.
 */
import t from 'tap'
import type { Static } from '@sinclair/typebox'
import type { AddBody, ListQuery, ReplaceBody, RetryAllBody, TaskRecord } from '../../routes/tasks/schemas.js'
import type { StrikeInputBody } from '../../routes/strikes/schemas.js'
import type { ShadowsClient, AddInput, ListInput, ReplaceInput, RetryAllInput, StrikeInput, TaskRecordBody } from '../../src/http-client/index.js'

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false

/** Takes anything: a value used only to be type-checked. */
function accept(_value: unknown): void {}

// each input has the fields of its route's schema, no more, no fewer
const sameFields: [
  Equal<keyof AddInput, keyof Static<typeof AddBody>>,
  Equal<keyof ReplaceInput, keyof Static<typeof ReplaceBody>>,
  Equal<keyof ListInput, keyof Static<typeof ListQuery>>,
  Equal<keyof RetryAllInput, keyof Static<typeof RetryAllBody>>,
  Equal<StrikeInput, Static<typeof StrikeInputBody>>,
  Equal<TaskRecordBody, Static<typeof TaskRecord>>,
] = [true, true, true, true, true, true]

/** Never called: the compiler checks it. */
async function misuses(client: ShadowsClient): Promise<void> {
  // @ts-expect-error: the body of POST /tasks has no `nam`
  await client.add({ task: 'greet', nam: 'x' })
  // @ts-expect-error: `task` is required
  await client.add({ params: { name: 'x' } })
  // @ts-expect-error: `delay` is a number of ms
  await client.add({ task: 'greet', delay: '10' })
  // @ts-expect-error: a batch item is shaped as the body of POST /tasks
  await client.addBatch([{ task: 'greet', when: 42 }])
  // @ts-expect-error: the key of PUT /tasks/{key} is in the path, not the body
  await client.replace('k', { task: 'greet', key: 'k' })
  // @ts-expect-error: not one of the seven states
  await client.list({ state: 'done' })
  // @ts-expect-error: only failed, cancelled and struck tasks are retried in bulk
  await client.retryAll({ state: 'completed' })
  // @ts-expect-error: not a strike operator
  await client.strike({ task: 'greet', operator: '~=' })
  // @ts-expect-error: not an event type
  client.events({ type: ['added', 'exploded'] })
  // @ts-expect-error: wait is a number of ms
  await client.get('k', { wait: '1000' })

  const added = await client.add({ task: 'greet', when: new Date() })
  if (added.duplicate) accept(added.params satisfies { [name: string]: unknown } | undefined)
  else if (added.debounced) accept(added.state satisfies 'scheduled')
  // @ts-expect-error: a new task's answer has no params
  else accept(added.params)
  const record = await client.get('k')
  accept(record.state satisfies 'scheduled' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'struck')
  // @ts-expect-error: a record has no `status`
  accept(record.status)
  for await (const event of client.events()) {
    if (event.type === 'strike' || event.type === 'restore') accept(event.strike.operator)
    else accept(event.key satisfies string)
  }
}

t.test('the types follow the schemas (checked by npm run typecheck)', async (t) => {
  t.same(sameFields, [true, true, true, true, true, true])
  t.type(misuses, 'function')
})
