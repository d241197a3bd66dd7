/**
 * Stream entries as Redis returns them, and their fields as an object.
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
