/**
 * Stream entries as Redis returns them, their fields as an object, and what a task's message names.
 */

/** One stream entry: its id and its flat field/value list (null when the entry was deleted). */
export type StreamEntry = [id: string, fields: string[] | null]

/** A stream entry's `[field, value, field, value, …]` list as an object without a prototype. */
export function entryFields(fields: readonly string[] | null | undefined): Record<string, string> {
  const out = Object.create(null) as Record<string, string>
  if (!fields) return out
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i] as string] = fields[i + 1] as string
  return out
}

/** What a task's message names: its record's key (stored form), its generation and its task. */
export interface MessageHead {
  readonly key: string
  readonly gen: string
  /** Undefined when the message names none (one written by hand). */
  readonly task: string | undefined
}

/**
 * What a task's message names, in either layout: the one `run` field that lua/shared.lua's
 * queueMessage writes (key, generation, task, when, attempt, trace, params, separated by \x1f), or
 * the `key`, `gen` and `task` fields of the earlier one. Undefined when it names no key or
 * generation (an entry deleted after delivery, or one written by hand).
 */
export function messageHead(fields: readonly string[] | null | undefined): MessageHead | undefined {
  if (!fields) return undefined
  if (fields.length === 2 && fields[0] === 'run') {
    const [key, gen, task] = (fields[1] as string).split('\x1f', 3)
    return key && gen ? { key, gen, task } : undefined
  }
  const f = entryFields(fields)
  return f.key !== undefined && f.gen !== undefined ? { key: f.key, gen: f.gen, task: f.task } : undefined
}
