/** Redis isolation: a unique key prefix per test, cleaned by prefix; never FLUSHALL. */
import { randomUUID } from 'node:crypto'

import type { Redis } from 'ioredis'

export function testPrefix(): string {
  return `t:${randomUUID().slice(0, 8)}:`
}

/** Deletes every key under `prefix` (SCAN + UNLINK). */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    cursor = next
    if (keys.length > 0) deleted += await client.unlink(...keys)
  } while (cursor !== '0')
  return deleted
}
