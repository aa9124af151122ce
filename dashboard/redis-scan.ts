/**
 * Finding the features' objects in Redis for the list pages: SCAN (never KEYS, which blocks the
 * server) for a key pattern, bounded in keys found and in SCAN calls, so a page answers in bounded time
 * on any keyspace; `truncated` says when the bound cut the list short.
 */
import type { Redis } from 'ioredis'

export interface ScanResult {
  /** Sorted, distinct. */
  readonly names: string[]
  readonly truncated: boolean
}

export interface ScanOptions {
  /** A Redis type (`stream`, `hash`) the keys must have. */
  readonly type?: string
  /** Most names returned. @default 500 */
  readonly limit?: number
  /** Most SCAN calls (each looks at ~1,000 keys). @default 200 */
  readonly maxCalls?: number
}

/** The names of the keys matching `pattern`, each through `nameOf` (a key it maps to `undefined` is skipped). */
export async function scanNames(
  client: Redis,
  pattern: string,
  nameOf: (key: string) => string | undefined,
  options: ScanOptions = {},
): Promise<ScanResult> {
  const limit = options.limit ?? 500
  const maxCalls = options.maxCalls ?? 200
  const names = new Set<string>()
  let cursor = '0'
  let calls = 0
  do {
    const [next, keys] =
      options.type === undefined
        ? await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        : await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', options.type)
    cursor = next
    calls++
    for (const key of keys) {
      const name = nameOf(key)
      if (name !== undefined) names.add(name)
    }
  } while (cursor !== '0' && names.size < limit && calls < maxCalls)
  const sorted = [...names].sort()
  return { names: sorted.slice(0, limit), truncated: cursor !== '0' || sorted.length > limit }
}

/** `inner` of a key `<head><inner><tail>`, or `undefined` when the key is not of that shape. */
export function between(key: string, head: string, tail: string): string | undefined {
  if (!key.startsWith(head) || !key.endsWith(tail) || key.length <= head.length + tail.length) return undefined
  return key.slice(head.length, key.length - tail.length)
}
