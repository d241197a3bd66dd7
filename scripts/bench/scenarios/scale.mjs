// scale: the cost of adding and of moving due tasks as the schedule grows to 1 k, 100 k and 1 M
// tasks (at random times over a day), on a private redis-server, against a bare ZADD into a sorted
// set of the same sizes (the fall the data structure itself brings). At each size: rounds of M
// scheduled adds (addBatch, 1,000 per call), each timed and then taken out again so the size holds,
// the median round counting. The adds come at random times over the same day (the target's figure,
// the worst case for the sorted set: each lands far from the one before) and, in rounds of their
// own, in due order, one ms apart (as adds with one delay arrive). Then K tasks that come due
// together are moved onto the stream by the move-due script called back to back (as the scheduler
// does), timed. The bare ZADD runs the same rounds: one ZADD per add, 1,000 pipelined per round
// trip, members as long as shadows' stored keys; it has no due-moves.
import { randomBytes, randomUUID } from 'node:crypto'
import { benchLogger, deleteShadowKeys, lib, noopTask, now, plainRedis, privateRedis, round, shadowsFill, sleep } from '../lib/common.mjs'
import { median } from '../lib/report.mjs'

const DAY = 86_400_000
/** Timed rounds of adds at each size (3 in --quick): one round of a fraction of a second is at the mercy of a GC pause or a noisy neighbour. */
const ROUNDS = 5
const QUICK_ROUNDS = 3
/** Adds per call (shadows' addBatch) or per pipeline (bare ZADD). */
const CHUNK = 1000
const FALL = 'adds/s at largest ÷ at smallest'
const ORDERED_FALL = 'adds/s in due order at largest ÷ at smallest'

export const scenario = {
  name: 'scale',
  title: 'add and due-move cost at 1 k, 100 k and 1 M scheduled tasks, vs a bare ZADD at the same sizes',
  notes: [
    `scale: private redis-server per run; the schedule holds S tasks due at random times over a day; adds/s is the median of ${ROUNDS} rounds (${QUICK_ROUNDS} in --quick), each taken out again after it, at random times over that day or (in due order) one ms apart from its middle; due-moves call move-due with batches of 1,000 back to back.`,
    `scale: the bare ZADD reference fills a sorted set to the same sizes the same way and times the same rounds, one single-member ZADD per add, ${CHUNK.toLocaleString('en-US')} pipelined per round trip (shadows: one addBatch of ${CHUNK.toLocaleString('en-US')}); the fall is adds/s at the largest size ÷ at the smallest, and shadows' fall ÷ the ZADD's fall ≥ 1 means shadows falls no more.`,
  ],
  cases({ quick, n }) {
    let sizes = quick ? [1_000, 10_000, 100_000] : [1_000, 100_000, 1_000_000]
    if (n !== undefined) sizes = [...new Set([Math.min(1_000, n), Math.max(Math.min(1_000, n), Math.round(n / 10)), n])]
    const probe = quick ? 5_000 : 20_000
    return [
      {
        id: 'sizes',
        systems: ['shadows', 'zadd'],
        params: { sizes, adds: probe, moves: probe, rounds: quick ? QUICK_ROUNDS : ROUNDS, settle: quick ? 500 : 2_000 },
      },
    ]
  },
  targets: {
    [FALL]: [{ ref: 'zadd', kind: 'ratio>=', value: 1, text: 'falls ≤ bare ZADD' }],
    [ORDERED_FALL]: [{ ref: 'zadd', kind: null, text: 'report' }],
  },
  async measure({ system, params, url, name }) {
    const redis = await privateRedis(url)
    try {
      return await (system === 'shadows' ? scaleShadows : scaleZadd)({ params, url: redis.url, name, isPrivate: redis.private })
    } finally {
      await redis.stop()
    }
  },
}

/** The figures of one system at one size: adds/s (random and in due order) and, when measured, due-moves/s. */
function sizeFigures(size, { addRate, orderedRate, moveRate }, params) {
  const figures = [
    { figure: `adds/s at ${label(size)}`, value: round(addRate), unit: 'tasks/s', size, adds: params.adds },
    { figure: `adds/s in due order at ${label(size)}`, value: round(orderedRate), unit: 'tasks/s', size, adds: params.adds },
  ]
  if (moveRate !== undefined) figures.push({ figure: `due-moves/s at ${label(size)}`, value: round(moveRate), unit: 'tasks/s', size, moved: params.moves })
  return figures
}

/** The falls: adds/s at the largest size ÷ at the smallest, random and in due order. */
function fallFigures(rates, params) {
  const first = rates[0]
  const last = rates[rates.length - 1]
  return [
    { figure: FALL, value: round(last.addRate / first.addRate, 3), unit: 'ratio', sizes: params.sizes },
    { figure: ORDERED_FALL, value: round(last.orderedRate / first.orderedRate, 3), unit: 'ratio', sizes: params.sizes },
  ]
}

async function scaleShadows({ params, url, name, isPrivate }) {
  const { Shadow } = await lib()
  const noop = await noopTask()
  const shadow = new Shadow({ name, url, logger: benchLogger() })
  const figures = []
  const rates = []
  try {
    // one probe on another shadow first, so that the smallest size is not measured cold
    const warmup = new Shadow({ name: `${name}-warmup`, url, logger: benchLogger() })
    await probe(warmup, noop, params)
    await deleteShadowKeys(warmup.redis, warmup.name)
    await warmup.close()

    for (const size of params.sizes) {
      const have = await shadow.redis.zcard(shadow.keys.schedule)
      if (size > have) {
        await shadowsFill(shadow, size - have, () => ({ task: noop, params: {}, when: farFuture() }), { parallel: 4 })
        // let Redis finish growing its tables in the background (it rehashes a little every 100 ms)
        await sleep(params.settle)
      }
      const measured = await probe(shadow, noop, params)
      rates.push(measured)
      figures.push(...sizeFigures(size, measured, params))
    }
    figures.push(...fallFigures(rates, params))
    return figures
  } finally {
    if (!isPrivate) await deleteShadowKeys(shadow.redis, name)
    await shadow.close()
  }
}

/** The bare reference: the same sizes and rounds with single-member ZADDs into one sorted set. */
async function scaleZadd({ params, url, name, isPrivate }) {
  const redis = plainRedis(url)
  const set = `${name}:zset`
  const figures = []
  const rates = []
  try {
    // one probe on another set first, as for shadows
    const warmup = `${name}-warmup:zset`
    await zaddProbe(redis, warmup, params)
    await redis.unlink(warmup)

    for (const size of params.sizes) {
      const have = await redis.zcard(set)
      if (size > have) {
        await zaddFill(redis, set, size - have)
        await sleep(params.settle)
      }
      const measured = await zaddProbe(redis, set, params)
      rates.push(measured)
      figures.push(...sizeFigures(size, measured, params))
    }
    figures.push(...fallFigures(rates, params))
    return figures
  } finally {
    if (!isPrivate) await redis.unlink(set)
    redis.disconnect()
  }
}

/** A member as long as shadows' stored form of a UUID key (`~` and 22 base64url characters). */
function member() {
  return `~${randomBytes(16).toString('base64url')}`
}

/** Fills the set with `count` members due at random times over the day, 4 pipelines in flight. */
async function zaddFill(redis, set, count) {
  let next = 0
  const lane = async () => {
    while (next < count) {
      const end = Math.min(count, next + CHUNK)
      const pipeline = redis.pipeline()
      for (; next < end; next++) pipeline.zadd(set, farFuture().getTime(), member())
      await pipeline.exec()
    }
  }
  await Promise.all(Array.from({ length: 4 }, lane))
}

/** Rounds of `adds` ZADDs (each round taken out again), alternately at random far-future times and in due order. */
async function zaddProbe(redis, set, { adds, rounds }) {
  const rates = []
  const orderedRates = []
  for (let round = 0; round < rounds; round++) {
    rates.push(await timedZadds(redis, set, adds, () => farFuture().getTime()))
    const first = Date.now() + DAY + DAY / 2
    orderedRates.push(await timedZadds(redis, set, adds, (i) => first + i))
  }
  return { addRate: median(rates), orderedRate: median(orderedRates) }
}

/** Sends `count` single-member ZADDs, 1,000 pipelined per round trip, and answers how many a second; then takes them out again. */
async function timedZadds(redis, set, count, score) {
  const members = Array.from({ length: count }, member)
  const started = now()
  for (let i = 0; i < count; i += CHUNK) {
    const pipeline = redis.pipeline()
    for (let j = i; j < Math.min(count, i + CHUNK); j++) pipeline.zadd(set, score(j), members[j])
    const replies = await pipeline.exec()
    const failed = replies.find(([err]) => err)
    if (failed) throw failed[0]
  }
  const rate = count / ((now() - started) / 1000)
  for (let i = 0; i < count; i += CHUNK) await redis.zrem(set, ...members.slice(i, i + CHUNK))
  return rate
}

function farFuture() {
  return new Date(Date.now() + DAY + Math.floor(Math.random() * DAY))
}

/**
 * Times rounds of `adds` scheduled adds (each taken out again), alternately at random far-future
 * times and in due order, then `moves` tasks that come due together ahead of the rest, moved onto
 * the stream by the move-due script called back to back.
 */
async function probe(shadow, noop, { adds, moves, rounds }) {
  const { runScript } = await lib('redis/scripts.js')
  const rates = []
  const orderedRates = []
  for (let round = 0; round < rounds; round++) {
    rates.push(await timedAdds(shadow, adds, () => ({ task: noop, params: {}, when: farFuture() })))
    // in the middle of the day the schedule spans, one ms apart
    const first = Date.now() + DAY + DAY / 2
    orderedRates.push(await timedAdds(shadow, adds, (i) => ({ task: noop, params: {}, when: new Date(first + i) })))
  }
  const addRate = median(rates)
  const { schedule, stream, taskPrefix } = shadow.keys

  const due = Date.now() + Math.max(300, Math.ceil((2 * moves * 1000) / addRate))
  const dueKeys = []
  await shadowsFill(shadow, moves, () => {
    const key = randomUUID()
    dueKeys.push(key)
    return { task: noop, key, params: {}, when: new Date(due) }
  })
  await sleep(Math.max(0, due - Date.now() + 2))
  const started = now()
  let moved = 0
  for (;;) {
    const [count, next] = await runScript(shadow.redis, 'move-due', [schedule, stream], [Date.now(), 1000, taskPrefix])
    moved += count
    if (next === -1 || next > Date.now()) break
  }
  const moveRate = moved / ((now() - started) / 1000)
  if (moved !== moves) throw new Error(`moved ${moved} tasks, expected ${moves}`)
  // leave only the scheduled tasks behind: the next size counts them alone
  await shadow.redis.del(stream)
  await takeOut(shadow, dueKeys)
  return { addRate, orderedRate: median(orderedRates), moveRate }
}

/** Adds `count` tasks, 1,000 per addBatch call, and answers how many a second; then takes them out again. */
async function timedAdds(shadow, count, makeItem) {
  const batches = []
  const started = now()
  for (let i = 0; i < count; i += CHUNK) {
    batches.push(await shadow.addBatch(Array.from({ length: Math.min(CHUNK, count - i) }, (_, j) => makeItem(i + j))))
  }
  const rate = count / ((now() - started) / 1000)
  const added = batches.flat().map((result) => {
    if (!result.ok) throw result.error
    return result.execution.key
  })
  await takeOut(shadow, added)
  return rate
}

/** Removes tasks (by their keys) from the schedule and their records, 1,000 at a time. */
async function takeOut(shadow, keys) {
  // the key module moved into redis/ in newer builds; --dist may point at either
  const { storedKey } = await lib('redis/keys.js').catch(() => lib('keys.js'))
  for (let i = 0; i < keys.length; i += 1000) {
    const stored = keys.slice(i, i + 1000).map(storedKey)
    await shadow.redis.zrem(shadow.keys.schedule, ...stored)
    await shadow.redis.unlink(...stored.map((key) => shadow.keys.task(key)))
  }
}

function label(size) {
  if (size >= 1_000_000 && size % 1_000_000 === 0) return `${size / 1_000_000} M`
  if (size >= 1_000 && size % 1_000 === 0) return `${size / 1_000} k`
  return String(size)
}
