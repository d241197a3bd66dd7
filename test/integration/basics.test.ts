import t from 'tap'
import { Type } from '@sinclair/typebox'
import { defineTask } from '../../src/index.js'
import { closeAdmin, makeShadow, makeWorker } from '../helpers/shadow.js'

t.teardown(closeAdmin)

t.test('an added task runs once and completes with its result', async (t) => {
  const seen: string[] = []
  const greet = defineTask({
    name: 'greet',
    params: Type.Object({ name: Type.String() }),
    async run({ name }) {
      seen.push(name)
      return { greeted: name }
    },
  })
  const shadow = makeShadow(t)
  const execution = await shadow.add(greet)({ name: 'Jane' })
  t.equal(execution.state, 'queued')
  t.equal(execution.duplicate, false)
  const worker = makeWorker(t, shadow, [greet])
  await worker.runUntilFinished()
  t.same(seen, ['Jane'])
  const info = await shadow.get(execution.key)
  t.equal(info?.state, 'completed')
  t.same(info?.result, { greeted: 'Jane' })
  t.equal(info?.attempt, 1)
})
