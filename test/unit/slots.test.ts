/**
 * The worker's slots: a counting semaphore whose waiters each get their own promise.
 */
import t from 'tap'
import { Slots } from '../../src/worker/slots.js'

/** Whether `promise` has settled once the microtasks queued so far have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  void promise.then(
    () => (done = true),
    () => (done = true),
  )
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

t.test('slots are taken up to the capacity and given back', async (t) => {
  const slots = new Slots(3)
  t.equal(slots.free, 3)
  t.equal(slots.tryAcquire(2), 2, 'two taken')
  t.equal(slots.tryAcquire(5), 1, 'only what is free is taken')
  t.equal(slots.tryAcquire(1), 0, 'none left')
  t.equal(slots.inUse, 3)
  slots.release(2)
  t.equal(slots.free, 2)
  t.throws(() => slots.release(4), RangeError, 'more than are held cannot be given back')
  t.throws(() => new Slots(0), RangeError)
})

t.test('every waiter wakes: one waiting for a free slot and one waiting for none held, on the same release', async (t) => {
  const slots = new Slots(1)
  slots.tryAcquire(1)
  const reader = slots.whenFree()
  const drain = slots.whenIdle()
  const another = slots.whenFree()
  t.notOk(await settled(reader), 'nothing free yet')
  t.notOk(await settled(drain), 'a slot is still held')
  slots.release(1)
  t.ok(await settled(reader), 'the first waiter for a free slot woke')
  t.ok(await settled(another), 'so did the second: no waiter replaces another')
  t.ok(await settled(drain), 'and the waiter for no slot held')
})

t.test('acquire() waits in turn, and a later caller never overtakes an earlier one', async (t) => {
  const slots = new Slots(3)
  t.equal(slots.tryAcquire(3), 3)
  const order: string[] = []
  const big = slots.acquire(2).then((taken) => order.push(`big ${taken}`))
  const small = slots.acquire(1).then((taken) => order.push(`small ${taken}`))
  t.equal(slots.tryAcquire(1), 0, 'nothing is free for an untimely taker while others wait')
  slots.release(1)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(order, [], 'one slot is not enough for the first in line, and the second waits behind it')
  t.equal(slots.free, 0, 'the freed slot is kept for the line')
  slots.release(1)
  await big
  t.same(order, ['big true'])
  slots.release(1)
  await small
  t.same(order, ['big true', 'small true'])
  t.equal(slots.inUse, 3)
  t.throws(() => slots.acquire(4), RangeError, 'never more than the capacity')
})

t.test('close() admits nothing more and wakes every waiter; slots held stay held until released', async (t) => {
  const slots = new Slots(2)
  slots.tryAcquire(2)
  const waiting = slots.acquire(1)
  const reader = slots.whenFree()
  const drain = slots.whenIdle()
  slots.close()
  t.equal(await waiting, false, 'a waiting acquire() takes nothing')
  t.ok(await settled(reader), 'a waiter for a free slot wakes')
  t.notOk(await settled(drain), 'the wait for none held goes on')
  t.equal(await slots.acquire(1), false, 'acquire() after close() takes nothing')
  t.equal(slots.tryAcquire(1), 0)
  slots.release(2)
  t.ok(await settled(drain), 'it ends once the held slots are released')
  t.equal(slots.free, 0, 'nothing is free once closed')
  slots.close()
})

t.test('release listeners hear every release, after the waiters woke', async (t) => {
  const slots = new Slots(2)
  const heard: string[] = []
  slots.onRelease(() => heard.push(`release, ${slots.inUse} held`))
  slots.tryAcquire(2)
  const waiting = slots.acquire(1).then(() => heard.push('acquired'))
  slots.release(1)
  t.same(heard, ['release, 2 held'], 'the released slot went to the waiting acquire() first')
  await waiting
  slots.release(0)
  t.same(heard, ['release, 2 held', 'acquired'], 'giving back nothing is no release')
})
