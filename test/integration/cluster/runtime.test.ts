/**
 * The composed runtime on the run's Redis Cluster (actors/runtime/runtime.ts, options.ts): from a
 * `redis-cluster://` URL or a Cluster client, `rt.map` gives replicas whose actors reach the cluster
 * from their threads, `rt.bus` works, the cluster key layout is the default, and `keyLayout: 'compat'`
 * is refused before anything connects.
 */
import { randomUUID } from 'node:crypto'

import { Cluster } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

import type { AttachedReplicatedMap } from '../../../actors/rmap/replica.js'
import { Runtime } from '../../../actors/runtime/index.js'
import { withTimeout } from '../../../runtime/lifecycle.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { contentKey } from '../../../transports/redis/rmap/keys.js'
import { deleteOnCluster, useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'
import { take, text } from '../bus/helpers.js'

const raw = useRawCluster()
const run = `t:${randomUUID().slice(0, 8)}`
const runtimes: Runtime[] = []

afterEach(async () => {
  for (const rt of runtimes.splice(0).reverse()) await rt.close()
  await deleteOnCluster(raw, `map:{${run}:*`)
  await deleteOnCluster(raw, `${run}:bus:*`)
})

async function start(options: Parameters<typeof Runtime.start>[0]): Promise<Runtime> {
  const rt = await Runtime.start(options)
  runtimes.push(rt)
  return rt
}

/** Resolves once `predicate()` holds, re-checked on each notification of `map`; bounded. */
async function until(map: AttachedReplicatedMap, predicate: () => boolean, ms = 10_000): Promise<void> {
  const feed = map.subscribe()
  try {
    if (predicate()) return
    const reached = (async () => {
      for await (const _ of feed) if (predicate()) return
    })()
    await withTimeout(reached, ms, () => new Error(`the condition did not hold within ${ms} ms`))
  } finally {
    await feed.return()
  }
}

describe('Runtime on a Redis Cluster', () => {
  it('rt.map from a redis-cluster:// URL: the replica actors of two runtimes share the map, in its slot', async () => {
    const name = `${run}:rt-map`
    const rt1 = await start({ redis: redisClusterUrl() })
    const rt2 = await start({ redis: redisClusterUrl() })
    const a = await rt1.map(name)
    const b = await rt2.map(name)
    await a.setAndWait('k', 'v')
    await a.inc('n', 2)
    await until(b, () => b.get('k') === 'v' && b.get('n') === '2')
    expect(await raw.hgetall(contentKey(name, 'cluster'))).toMatchObject({ k: 'v', n: '2' })
    await b.delete('k')
    await until(a, () => !a.has('k'))
    expect((await rt1.stats()).features.maps[name]?.size).toBe(1)
  })

  it("rt.map and rt.bus on the caller's Cluster client, left open at close", async () => {
    const own = new Cluster([...parseClusterUrl(redisClusterUrl()).nodes])
    try {
      const rt = await start({ redis: own })
      const map = await rt.map(`${run}:own`)
      await map.setAndWait('k', 'v')
      expect(map.get('k')).toBe('v')
      const bus = await rt.bus({ namespaces: ['orders', 'billing'], keyPrefix: `${run}:bus:` })
      const tail = bus.get('billing.>')
      await tail.ready
      await bus.put('orders.created', { id: 1 })
      await bus.put('billing.charged', { id: 2 })
      expect((await take(tail, 1)).map(text)).toEqual(['{"id":2}'])
      expect((await take(bus.get('orders.>', { start: 'oldest' }), 1)).map(text)).toEqual(['{"id":1}'])
      await rt.close()
      expect(await own.ping()).toBe('PONG')
    } finally {
      await own.quit()
    }
  })

  it("refuses keyLayout 'compat' with a cluster before connecting, and an unknown layout", async () => {
    // Nothing listens on port 1: a connection attempt would fail otherwise.
    await expect(Runtime.start({ redis: 'redis-cluster://127.0.0.1:1', keyLayout: 'compat' })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      message: expect.stringMatching(/options.keyLayout 'compat' cannot run on a Redis Cluster/) as unknown,
    })
    await expect(
      Runtime.start({ redis: 'redis://127.0.0.1:1', keyLayout: 'sharded' as unknown as 'compat' }),
    ).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    const rt = await start({ redis: redisClusterUrl() })
    await expect(rt.map(`${run}:compat`, { keyLayout: 'compat' })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
  })
})
