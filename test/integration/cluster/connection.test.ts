/**
 * A Redis Cluster as a connection (transports/redis/connection.ts, cluster-url.ts): from a
 * `redis-cluster://` URL or an ioredis Cluster, commands reach every slot's master, blocking reads have
 * their own cluster connection, and the URL form crosses to other threads.
 */
import { randomUUID } from 'node:crypto'

import { Cluster } from 'ioredis'
import { describe, expect, it } from 'vitest'

import { PulseError } from '../../../runtime/errors.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { createRedis, redisUrlOf } from '../../../transports/redis/connection.js'
import { useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'

const raw = useRawCluster()

describe('a Redis Cluster connection', () => {
  it('from a redis-cluster:// URL, writes keys of every master and reads them back', async () => {
    const redis = createRedis(redisClusterUrl(), { name: 'cluster-test' })
    try {
      expect(redis.cluster).toBe(true)
      const keys = Array.from({ length: 30 }, (_, i) => `t:${randomUUID()}:${i}`)
      await Promise.all(keys.map((key, i) => redis.client.set(key, String(i), 'PX', 60_000)))
      const slots = await Promise.all(keys.map((key) => raw.cluster('KEYSLOT', key)))
      const masters = new Set(slots.map((slot) => raw.slots[Number(slot)]?.[0]))
      expect(masters.size).toBe(3)
      expect(await Promise.all(keys.map((key) => raw.get(key)))).toEqual(keys.map((_, i) => String(i)))
    } finally {
      await redis.close()
    }
  })

  it("wraps an application's Cluster client without owning it; blocking reads get a connection of their own", async () => {
    const { nodes } = parseClusterUrl(redisClusterUrl())
    const own = new Cluster([...nodes])
    const redis = createRedis(own, { name: 'cluster-own' })
    const list = `t:{${randomUUID()}}:list`
    try {
      const popped = redis.blocking().blpop(list, 5)
      await redis.client.rpush(list, 'one')
      expect(await popped).toEqual([list, 'one'])
      expect(redisUrlOf(own)).toBe(`redis-cluster://${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`)
    } finally {
      await redis.close()
    }
    expect(await own.ping()).toBe('PONG') // still the application's
    await own.quit()
  })

  it('a command error comes back typed, and a closed connection refuses commands', async () => {
    const redis = createRedis(redisClusterUrl())
    const key = `t:${randomUUID()}`
    await redis.client.set(key, 'text', 'PX', 60_000)
    await expect(redis.client.incr(key)).rejects.toMatchObject({ code: 'PULSE_ERR_REDIS_COMMAND' })
    await redis.close()
    await expect(redis.client.get(key)).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
  })

  it.each(['redis-cluster://', 'redis-cluster://127.0.0.1', 'redis-cluster://127.0.0.1:0', 'redis-cluster://a:1,,b:2'])(
    'refuses the malformed cluster URL %s with PULSE_ERR_INVALID_ARG',
    (url) => {
      expect(() => createRedis(url)).toThrow(PulseError)
      expect(() => createRedis(url)).toThrow(/source must list host:port/)
    },
  )
})
