/**
 * List values: the list helpers store JSON arrays (written by Redis' cjson, so `/` arrives as `\/`,
 * which JSON.parse reads back). Values written by older peers are comma-separated; they are read too.
 */

/** The items of a list value: a JSON array of strings, or else a legacy comma-separated list. */
export function parseListValue(value: string): string[] {
  const trimmed = value.trim()
  if (trimmed.startsWith('[')) {
    try {
      const decoded: unknown = JSON.parse(trimmed)
      if (Array.isArray(decoded))
        return decoded.map((item: unknown) => (typeof item === 'string' ? item : JSON.stringify(item)))
    } catch {
      // not JSON: a legacy value that happens to start with '['
    }
  }
  // The scripts' legacy reading (Lua gmatch '[^,]+'): empty items are skipped.
  return value.split(',').filter((item) => item !== '')
}
