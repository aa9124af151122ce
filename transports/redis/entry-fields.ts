/**
 * The one-letter fields of a stream entry read as buffers (the `[field, value, …]` of XRANGE / XREAD),
 * shared by the streaming and bus entry decoders: each value by its letter's byte, fields of other
 * names ignored, the last of a repeated letter kept. Undefined for a list of odd length or not a list.
 * `clean` is false when a pair was not two byte strings (it is skipped): the streaming decoder refuses
 * such an entry, the bus decoder reads the rest.
 */
export function letterFields(
  fields: unknown,
): { readonly values: Map<number, Buffer>; readonly clean: boolean } | undefined {
  if (!Array.isArray(fields) || fields.length % 2 !== 0) return undefined
  const values = new Map<number, Buffer>()
  let clean = true
  for (let i = 0; i < fields.length; i += 2) {
    const field: unknown = fields[i]
    const value: unknown = fields[i + 1]
    if (!Buffer.isBuffer(field) || !Buffer.isBuffer(value)) {
      clean = false
      continue
    }
    if (field.length === 1) values.set(field[0] as number, value)
  }
  return { values, clean }
}

/** A field's value as UTF-8 text, undefined when absent. */
export function fieldText(values: ReadonlyMap<number, Buffer>, letter: string): string | undefined {
  return values.get(letter.charCodeAt(0))?.toString('utf8')
}
