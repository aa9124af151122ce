/** Redis isolation: a unique key prefix per test, cleaned by prefix; never FLUSHALL. */
import { randomUUID } from 'node:crypto'

import { Redis as IORedis, type Redis } from 'ioredis'
import { afterAll, beforeAll } from 'vitest'

import { redisUrl } from './servers.js'

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

/** A plain ioredis client to the run's server for a test file: connected before its tests, quit after. */
export function useRawRedis(): Redis {
  const raw = new IORedis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 })
  beforeAll(async () => {
    await raw.connect()
  })
  afterAll(async () => {
    await raw.quit()
  })
  return raw
}
