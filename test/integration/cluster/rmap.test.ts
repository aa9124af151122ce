/**
 * Replicated maps on the run's Redis Cluster (actors/rmap/replicated-map.ts, transports/redis/rmap,
 * transports/redis/key-layout.ts): the cluster layout puts a map's hash and channel in one slot, maps
 * spread over the masters, every kind of write reaches a second replica with its notification, TTLs and
 * the writes after close() work, and the compat layout (or an unknown one) is refused before anything
 * connects.
 */
import { randomUUID } from 'node:crypto'

import { Cluster } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

import { PulseError, ReplicatedMap } from '../../../actors/rmap/index.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { createRedis } from '../../../transports/redis/connection.js'
import { contentKey, updatesChannel } from '../../../transports/redis/rmap/keys.js'
import { keySlot } from '../../../transports/redis/cluster-slots.js'
import { deleteOnCluster, useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'
import { until } from '../rmap/helpers.js'

const raw = useRawCluster()
const run = `t:${randomUUID().slice(0, 8)}`
const open: ReplicatedMap[] = []

async function join(name: string, options?: Parameters<typeof ReplicatedMap.join>[2]): Promise<ReplicatedMap> {
  const map = await ReplicatedMap.join(redisClusterUrl(), name, options)
  open.push(map)
  return map
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((map) => map.close()))
  await deleteOnCluster(raw, `map:{${run}:*`)
})

/** The port of the master serving `key`, as the cluster itself hashes it (CLUSTER KEYSLOT). */
async function masterOf(key: string): Promise<string> {
  const slot = Number(await raw.cluster('KEYSLOT', key))
  const master = raw.slots[slot]?.[0]
  if (master === undefined) throw new Error(`no master known for slot ${slot}`)
  return master
}

/** One map name per master of the cluster (names are tried until each master has one). */
function namesOnEveryMaster(): string[] {
  const masters = new Set(raw.nodes('master').map((node) => `${node.options.host}:${node.options.port}`))
  const byMaster = new Map<string, string>()
  for (let i = 0; byMaster.size < masters.size && i < 1_000; i++) {
    const name = `${run}:spread-${i}`
    const master = raw.slots[keySlot(`{${name}}`)]?.[0]
    if (master !== undefined && !byMaster.has(master)) byMaster.set(master, name)
  }
  return [...byMaster.values()]
}

describe('replicated maps on a Redis Cluster', () => {
  it('a second replica sees every kind of write, with its notification', async () => {
    const name = `${run}:writes`
    const a = await join(name)
    const b = await join(name)
    expect(a.keyLayout).toBe('cluster')
    const feed = b.subscribe()
    const next = async (): Promise<string | undefined> => (await feed.next()).value ?? undefined

    await a.set('k', 'v1')
    expect(await next()).toBe('change')
    expect(await a.setIfNotExists('n', 'first')).toBe(true)
    expect(await next()).toBe('change')
    expect(await a.testAndSet('k', 'v1', 'v2')).toBe('v1')
    expect(await next()).toBe('change')
    expect(await a.inc('count', 5)).toBe(5)
    expect(await next()).toBe('change')
    expect(await a.appendValues('list', 'x', 'y')).toEqual(['x', 'y'])
    expect(await next()).toBe('change')
    expect(await a.appendUniqueValues('list', 'y', 'z')).toEqual(['x', 'y', 'z'])
    expect(await next()).toBe('change')
    expect(await a.removeValues('list', 'x')).toEqual({ remaining: ['y', 'z'], removed: true })
    expect(await next()).toBe('change')
    expect(b.toObject()).toEqual({ k: 'v2', n: 'first', count: '5', list: '["y","z"]' })

    expect(await a.delete('n')).toBe('first')
    expect(await next()).toBe('delete')
    expect(await a.testAndDelete('k', 'v2')).toBe('v2')
    expect(await next()).toBe('delete')
    expect(b.toObject()).toEqual({ count: '5', list: '["y","z"]' })

    expect(await a.testAndReset(['count'], ['5'])).toBe(true)
    expect(await next()).toBe('reset')
    expect(b.size).toBe(0)
    await a.set('again', '1')
    expect(await next()).toBe('change')
    await a.destroy()
    expect(await next()).toBe('reset')
    expect(b.size).toBe(0)
    await feed.return()
  })

  it("keeps each map's hash and channel in one slot, and spreads maps over the masters", async () => {
    const names = namesOnEveryMaster()
    expect(names).toHaveLength(3)
    const redis = createRedis(redisClusterUrl(), { name: 'rmap-spread' })
    try {
      const maps = await Promise.all(names.map((name) => ReplicatedMap.join(redis, name)))
      await Promise.all(maps.map((map, i) => map.setAndWait('i', String(i))))
      const masters = new Set<string>()
      for (const [i, name] of names.entries()) {
        const content = contentKey(name, 'cluster')
        expect(content).toBe(`map:{${name}}:content`)
        expect(await raw.cluster('KEYSLOT', content)).toBe(
          await raw.cluster('KEYSLOT', updatesChannel(name, 'cluster')),
        )
        expect(await raw.hget(content, 'i')).toBe(String(i))
        masters.add(await masterOf(content))
      }
      expect(masters.size).toBe(3)
      await Promise.all(maps.map((map) => map.close()))
    } finally {
      await redis.close()
    }
  })

  it('applies a sliding TTL to the hash, in its slot', async () => {
    const name = `${run}:ttl`
    const map = await join(name, { slidingTtlMs: 60_000 })
    await map.set('k', 'v')
    const pttl = await raw.pttl(contentKey(name, 'cluster'))
    expect(pttl).toBeGreaterThan(50_000)
    expect(pttl).toBeLessThanOrEqual(60_000)
  })

  it("reset and destroy after close() go through a short-lived cluster connection (or the caller's Cluster)", async () => {
    const name = `${run}:after-close`
    const map = await ReplicatedMap.join(redisClusterUrl(), name)
    await map.set('k', 'v')
    await map.close()
    await map.reset()
    expect(await raw.hgetall(contentKey(name, 'cluster'))).toMatchObject({ '=kind': 'reset' })

    const own = new Cluster([...parseClusterUrl(redisClusterUrl()).nodes])
    try {
      const viaClient = await ReplicatedMap.join(own, name)
      expect(viaClient.keyLayout).toBe('cluster')
      await viaClient.set('k', 'v')
      await viaClient.close()
      await viaClient.destroy()
      expect(await raw.hgetall(contentKey(name, 'cluster'))).toMatchObject({ '=kind': 'destroy' })
      expect(await own.ping()).toBe('PONG') // still the caller's
    } finally {
      await own.quit()
    }
  })

  it('a replica that joins late loads what was written, then follows', async () => {
    const name = `${run}:late`
    const a = await join(name)
    await Promise.all(Array.from({ length: 20 }, (_, i) => a.set(`k${i}`, String(i))))
    const b = await join(name)
    expect(b.size).toBe(20)
    await a.inc('k0', 10)
    await until(b, () => b.get('k0') === '10')
    await until(a, () => a.get('k0') === '10')
    expect(b.toObject()).toEqual(a.toObject())
  })
})

describe('key layouts on a Redis Cluster', () => {
  it("refuses keyLayout 'compat' with PULSE_ERR_INVALID_ARG before connecting", async () => {
    // Nothing listens on port 1: a connection attempt would fail otherwise.
    const refused = ReplicatedMap.join('redis-cluster://127.0.0.1:1', `${run}:compat`, { keyLayout: 'compat' })
    await expect(refused).rejects.toThrow(PulseError)
    await expect(refused).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      message: expect.stringMatching(/keyLayout 'compat' cannot run on a Redis Cluster/) as unknown,
    })
    const lazy = new Cluster([...parseClusterUrl(redisClusterUrl()).nodes], { lazyConnect: true })
    await expect(ReplicatedMap.join(lazy, `${run}:compat`, { keyLayout: 'compat' })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    expect(lazy.status).toBe('wait') // never connected
    lazy.disconnect()
  })

  it.each([redisClusterUrl, () => 'redis://127.0.0.1:1'])('refuses an unknown layout (%#)', async (url) => {
    await expect(
      ReplicatedMap.join(url(), `${run}:unknown`, { keyLayout: 'sharded' as unknown as 'cluster' }),
    ).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      message: expect.stringMatching(/'compat' or 'cluster'/) as unknown,
    })
  })
})
