/**
 * The events channel's messages, as the Lua scripts publish them, decoded in one place.
 */
import t from 'tap'
import { decodeEvent } from '../../src/redis/events.js'
import { encodeStrikeChange, type StrikeChange } from '../../src/redis/strike-changes.js'
import { normalizeStrike, strikeId, type Strike } from '../../src/core/strikes.js'

t.test('a wake-up names the due time, to the millisecond', async (t) => {
  t.same(decodeEvent('due 1767225600000'), { kind: 'due', at: 1767225600000 })
  // the last millisecond RFC 3339 can write: more digits than Lua writes a number with
  t.same(decodeEvent('due 253402300799999'), { kind: 'due', at: 253402300799999 })
})

t.test('a cancellation names the generation and the stored key, which may hold any key character', async (t) => {
  t.same(decodeEvent('cancel 1234 report:2026-01-01@eu.west'), { kind: 'cancel', gen: '1234', key: 'report:2026-01-01@eu.west' })
  t.same(decodeEvent('cancel 7 ~D4-tW9nLRp-hZXCGdyiVDg'), { kind: 'cancel', gen: '7', key: '~D4-tW9nLRp-hZXCGdyiVDg' })
})

t.test('a strike change is decoded by the strike-change codec, and unreadable text reads as an unknown change', async (t) => {
  const rule = normalizeStrike({ parameter: 'customer', value: 'a b' })
  const strike: Strike = { id: strikeId(rule), ...rule, createdAt: '2026-01-01T00:00:00.000Z' }
  const change: StrikeChange = { previous: '', version: 'v1', added: strike }
  t.same(decodeEvent(`strikes ${encodeStrikeChange(change)}`), { kind: 'strikes', change })
  t.same(decodeEvent('strikes v1  -'), { kind: 'strikes', change: undefined }, 'then the copy is read again rather than guessed at')
})

t.test('a message of no known kind, or missing its fields, is no event', async (t) => {
  for (const message of ['', 'due', 'due ', 'due soon', 'cancel 12', 'cancel  key', 'hello world', 'DUE 12']) {
    t.equal(decodeEvent(message), undefined, JSON.stringify(message))
  }
})
