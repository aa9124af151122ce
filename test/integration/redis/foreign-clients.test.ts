/**
 * Clients made by another copy of ioredis — the application's own 5.x or 6.x install, not Pulse's — are
 * accepted by every feature (recognised by what they can do, not by their class), and so are their
 * `Cluster` clients (test/integration/cluster/ runs every feature on a cluster).
 */
import { randomUUID } from 'node:crypto'

import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis5'
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6'
import type { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'

import { Bus } from '../../../actors/bus/index.js'
import { PoolNode } from '../../../actors/pool/index.js'
import { ReplicatedMap } from '../../../actors/rmap/index.js'
import { Runtime } from '../../../actors/runtime/index.js'
import { Stream } from '../../../actors/streaming/index.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { createRedis } from '../../../transports/redis/connection.js'
import { redisClusterUrl, redisUrl } from '../../helpers/servers.js'

const unique = (prefix: string): string => `${prefix}${randomUUID().slice(0, 8)}`

const copies = {
  'ioredis 5 (a separate copy)': (): Redis => new Redis5(redisUrl()) as unknown as Redis,
  'ioredis 6 (a separate install)': (): Redis => new Redis6(redisUrl()),
}

describe.each(Object.entries(copies))('a client of %s', (_label, make) => {
  it('serves a replicated map, a stream, a pool node, the bus and a runtime', async () => {
    const client = make()
    try {
      const map = await ReplicatedMap.join(client, unique('fc-map-'))
      await map.setAndWait('k', 'v')
      expect(map.get('k')).toBe('v')
      await map.destroy()
      await map.close()

      const stream = new Stream(client, unique('fc-stream-'))
      expect(await stream.add('e', 'payload')).toMatch(/^\d+-\d+$/)
      await stream.destroy()

      const node = await PoolNode.join(client, unique('fcpool'))
      await node.shutdown()

      const ns = unique('fcbus')
      const bus = await Bus.connect(client, { namespaces: [ns], keyPrefix: `${ns}:` })
      expect((await bus.put(`${ns}.x`, 'p')).id).toMatch(/^e_/)
      await bus.close()

      const rt = await Runtime.start({ redis: client })
      expect(rt.stream(unique('fc-rt-'))).toBeInstanceOf(Stream)
      await rt.close()
      expect(await client.ping()).toBe('PONG') // the caller's client is left open
    } finally {
      await client.quit()
    }
  })
})

describe.each([
  ['ioredis 5 (a separate copy)', Cluster5],
  ['ioredis 6 (a separate install)', Cluster6],
])('a Cluster client of %s', (_label, Make) => {
  it('is accepted as a connection', async () => {
    const cluster = new Make([...parseClusterUrl(redisClusterUrl()).nodes])
    const redis = createRedis(cluster as unknown as Redis)
    try {
      expect(redis.cluster).toBe(true)
      expect(await redis.client.ping()).toBe('PONG')
    } finally {
      await redis.close()
      await cluster.quit()
    }
  })
})
