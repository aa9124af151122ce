/** Removing what a round left in Redis: every key under a prefix (SCAN + UNLINK). */
import { Redis } from 'ioredis'

export async function deleteByPrefix(url: string, prefixes: readonly string[]): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    for (const prefix of prefixes) {
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
        cursor = next
        if (keys.length > 0) await client.unlink(...keys)
      } while (cursor !== '0')
    }
  } finally {
    client.disconnect()
  }
}
