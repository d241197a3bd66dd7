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
  /**
   * "" for a message that names none (the `run` layout): its stream id says whether it is its
   * record's current message, which the scripts check.
   */
  readonly gen: string
  /** Undefined when the message names none (one written by hand). */
  readonly task: string | undefined
}

/**
 * What a task's message names, in either layout: the one `run` field that lua/shared.lua's
 * queueMessage writes (key, task, attempt, trace, params, separated by \x1f; key and task alone for
 * a first attempt without params or trace context), or the `key`, `gen`
 * and `task` fields of the earlier one. Undefined when it names no key (an entry deleted after
 * delivery, or one written by hand), or in the earlier layout no generation.
 */
export function messageHead(fields: readonly string[] | null | undefined): MessageHead | undefined {
  if (!fields) return undefined
  if (fields.length === 2 && fields[0] === 'run') {
    const [key, task] = (fields[1] as string).split('\x1f', 2)
    return key ? { key, gen: '', task } : undefined
  }
  const f = entryFields(fields)
  return f.key !== undefined && f.gen !== undefined ? { key: f.key, gen: f.gen, task: f.task } : undefined
}
