/**
 * Strike changes: how a process keeps its copy of a shadow's strike rules in step with Redis,
 * paying for what changed rather than for every rule.
 *
 * Each change (the strike and restore scripts) replaces the version token and is written as one
 * line of text, kept in Redis as the shadow's last change and published on its events channel as
 * `strikes <change>`:
 *
 * ```text
 * <previous version> <version> +<strike JSON>    a rule was added
 * <previous version> <version> -<strike id>      a rule was removed
 * ```
 *
 * Version tokens hold no space, and "" means no rules (so a line may start with a space). The
 * scripts write the two versions; the rest comes from {@link strikeChangeBody}. This module is the
 * only reader of that text. A copy at exactly the previous version applies the change by itself;
 * any other copy (it missed a change, was never read, or its connection dropped) asks the
 * read-strikes script, which answers with the last change when that is enough and with every rule
 * otherwise (see strike-copy.ts). A copy is thus always a version together with exactly the rules
 * stored at it.
 */
import { StrikeSet, oldestFirst, type Strike } from '../core/strikes.js'

/** What one change did: the rule it added, or the id of the rule it removed. */
export type StrikeEdit = { readonly added: Strike } | { readonly removed: string }

/** One change of a shadow's strike rules, from one version to the next. */
export type StrikeChange = StrikeEdit & {
  /** The version before the change ("" = no rules). */
  readonly previous: string
  /** The version after it ("" = no rules left). */
  readonly version: string
}

/** A change's text without its two versions, as the strike and restore scripts take it. */
export function strikeChangeBody(edit: StrikeEdit): string {
  return 'added' in edit ? `+${JSON.stringify(edit.added)}` : `-${edit.removed}`
}

/** A change's whole text, as stored and pushed (the scripts write the same from their parts). */
export function encodeStrikeChange(change: StrikeChange): string {
  return `${change.previous} ${change.version} ${strikeChangeBody(change)}`
}

/**
 * The change a text describes, or undefined when it describes none (a push of another build, say):
 * then the copy is read again rather than guessed at.
 */
export function decodeStrikeChange(text: string): StrikeChange | undefined {
  const first = text.indexOf(' ')
  const second = first < 0 ? -1 : text.indexOf(' ', first + 1)
  if (second < 0) return undefined
  const previous = text.slice(0, first)
  const version = text.slice(first + 1, second)
  const body = text.slice(second + 1)
  if (body.length > 1 && body.startsWith('-')) return { previous, version, removed: body.slice(1) }
  if (!body.startsWith('+')) return undefined
  let added: unknown
  try {
    added = JSON.parse(body.slice(1))
  } catch {
    return undefined
  }
  return isStrike(added) ? { previous, version, added } : undefined
}

function isStrike(value: unknown): value is Strike {
  if (value === null || typeof value !== 'object') return false
  const { id, operator, createdAt } = value as Record<string, unknown>
  return typeof id === 'string' && typeof operator === 'string' && typeof createdAt === 'string'
}

/** `copy` with `change` applied; `copy` must be at the change's previous version. */
export function applyStrikeChange(copy: StrikeSet, change: StrikeChange): StrikeSet {
  const id = 'added' in change ? change.added.id : change.removed
  const rules = copy.rules.filter((rule) => rule.id !== id)
  if ('added' in change) rules.push(change.added)
  return new StrikeSet(change.version, oldestFirst(rules))
}
