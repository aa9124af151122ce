/** The Redis a benchmark runs against: `REDIS_URL` when set, else a `LocalRedis` started for the run. */
import { Redis } from 'ioredis'

import { LocalRedis } from '../../cli/local-servers/redis-server.js'

export interface BenchRedis {
  readonly url: string
  /** The server's `redis_version`. */
  version(): Promise<string>
  /** Stops the server when the bench started it. */
  close(): Promise<void>
}

export async function openRedis(): Promise<BenchRedis> {
  const given = process.env.REDIS_URL
  const local = given === undefined || given === '' ? await LocalRedis.start() : undefined
  const url = local?.url ?? given ?? ''
  return {
    url,
    async version() {
      const client = new Redis(url)
      try {
        return /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown'
      } finally {
        await client.quit()
      }
    },
    close: async () => {
      await local?.close()
    },
  }
}
