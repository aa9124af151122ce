/**
 * A sink across a failover, on a Redis Cluster of its own (cli/local-servers/redis-cluster.ts): the
 * master serving the stream's slot is stopped and its replica promoted. The sink's read and ack
 * connections (actors/streaming/sink-reader.ts) find the new master: events added after the failover
 * are delivered, no acked event comes back, and the unacked ones are redelivered.
 */
import { Cluster } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { type SinkEvent, Stream } from '../../../actors/streaming/index.js'
import { LocalRedisCluster } from '../../../cli/local-servers/redis-cluster.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { eventually, take } from '../streaming/helpers.js'

let cluster: LocalRedisCluster

beforeAll(async () => {
  cluster = await LocalRedisCluster.start()
}, 60_000)

afterAll(async () => {
  await cluster.close()
})

/** Retries `fn` while the cluster settles after the failover (a retryable error), for up to `ms`. */
async function retrying<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

describe('a sink across a Redis Cluster failover', () => {
  it('resumes on the promoted replica: later events delivered, acked events not redelivered, unacked ones redelivered', async () => {
    const raw = new Cluster([...parseClusterUrl(cluster.url).nodes])
    const s = new Stream(cluster.url, 'failover-orders')
    const sink = await s.newSink('billing', { blockMs: 200, ackGracePeriodMs: 1_000, idleCheckMs: 100 })
    try {
      const sub = sink.subscribe()
      const before = Array.from({ length: 10 }, (_, i) => ({ name: `before-${i}`, payload: String(i) }))
      await s.addMany(before)
      const taken = await take(sub, 10)
      expect(taken.map((e) => e.eventName)).toEqual(before.map((e) => e.name))
      await sink.ackMany(taken.slice(0, 5))
      await sink.flush()

      const slot = Number(await raw.cluster('KEYSLOT', s.key))
      const masterKey = raw.slots[slot]?.[0] ?? ''
      const port = Number(masterKey.slice(masterKey.lastIndexOf(':') + 1))
      const master = cluster.nodes.find((node) => node.port === port)
      expect(master).toBeDefined()
      // Replication is asynchronous: the test stops the master once its replica has every write so far.
      const node = raw.nodes('master').find((n) => n.options.port === port)
      expect(await node?.call('WAIT', 1, 5_000)).toBe(1)
      await master?.stop()
      await cluster.waitHealthy()
      expect(await cluster.masterPorts()).not.toContain(port)

      const after = Array.from({ length: 10 }, (_, i) => ({ name: `after-${i}`, payload: String(i) }))
      await retrying(() => s.addMany(after))
      const unacked = new Set(taken.slice(5).map((e) => e.id))
      const got: SinkEvent[] = []
      const expected = new Set([...after.map((e) => e.name), ...taken.slice(5).map((e) => e.eventName)])
      const seen = new Set<string>()
      const deadline = Date.now() + 30_000
      while (![...expected].every((name) => seen.has(name))) {
        const events = await take(sub, 1, Math.max(1, deadline - Date.now()), 'the later events and the redeliveries')
        got.push(...events)
        for (const event of events) seen.add(event.eventName)
        await sink.ackMany(events)
      }
      for (const event of got.filter((e) => e.eventName.startsWith('before-'))) {
        expect(unacked.has(event.id), `${event.eventName} was acked before the failover`).toBe(true)
        expect(event.deliveryCount).toBeGreaterThanOrEqual(2)
      }
      await sink.flush()
      await eventually(
        async () => ((await raw.xpending(s.key, 'billing')) as [number])[0] === 0,
        10_000,
        'nothing pending',
      )
      expect(await raw.xlen(s.key)).toBe(20)
    } finally {
      await sink.close()
      await s.close()
      await raw.quit()
    }
  }, 60_000)
})
