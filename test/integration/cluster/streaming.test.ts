/**
 * Streams, readers and sinks on the run's Redis Cluster (the `cluster` key layout,
 * transports/redis/streaming/keys.ts): each stream's keys in its own slot, streams spread over the
 * masters, sinks sharing and redelivering events, and the limits — `compat` refused, one reader or
 * sink reading the streams of one slot (actors/streaming/stream-slot.ts). Failover:
 * streaming-failover.test.ts.
 */
import { randomUUID } from 'node:crypto'

import { Cluster } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError, type SinkEvent, Stream } from '../../../actors/streaming/index.js'
import { Runtime } from '../../../runtime/runtime.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { keySlot } from '../../../transports/redis/cluster-slots.js'
import { deleteOnCluster, useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'
import { eventually, take } from '../streaming/helpers.js'

const raw = useRawCluster()
let tag = ''
const closables: { close(): Promise<void> }[] = []

function opened<T extends { close(): Promise<void> }>(closable: T): T {
  closables.push(closable)
  return closable
}

function name(label: string): string {
  tag ||= `t${randomUUID().slice(0, 8)}`
  return `${tag}-${label}`
}

function stream(label: string): Stream {
  return opened(new Stream(redisClusterUrl(), name(label)))
}

afterEach(async () => {
  for (const closable of closables.splice(0).reverse()) await closable.close().catch(() => undefined)
  if (tag !== '') await deleteOnCluster(raw, `*${tag}*`)
  tag = ''
})

const fast = { blockMs: 100, ackGracePeriodMs: 300, idleCheckMs: 50 } as const
const names = (events: readonly { eventName: string }[]) => events.map((e) => e.eventName)
const slotOf = async (key: string) => Number(await raw.cluster('KEYSLOT', key))
const masterOf = async (key: string) => raw.slots[await slotOf(key)]?.[0]
const pendingCount = async (key: string, group: string) => ((await raw.xpending(key, group)) as [number])[0]

/** A stream name whose key is NOT in `slot`. */
function nameOutsideSlot(label: string, slot: number): string {
  for (let i = 0; ; i++) {
    const candidate = name(`${label}${i}`)
    if (keySlot(`pulse:stream:{${candidate}}`) !== slot) return candidate
  }
}

describe('streams on a Redis Cluster', () => {
  it('keySlot agrees with CLUSTER KEYSLOT, hash tags included', async () => {
    const keys = ['a', 'pulse:stream:{orders}', '{orders}:eu', 'x{}y', '{}{z}', 'é{ü}', `k:${randomUUID()}`]
    for (const key of keys) expect(keySlot(key), key).toBe(await slotOf(key))
  })

  it("the cluster layout: the stream's and its sinks' keys in hash tags, in one slot per name; compat is refused", async () => {
    const s = stream('s')
    expect(s.keyLayout).toBe('cluster')
    expect(s.key).toBe(`pulse:stream:{${s.name}}`)
    expect(() => new Stream(redisClusterUrl(), name('c'), { keyLayout: 'compat' })).toThrow(InvalidArgumentError)
    expect(() => new Stream(redisClusterUrl(), name('c'), { keyLayout: 'compat' })).toThrow(
      /'compat' cannot run on a Redis Cluster/,
    )
    expect(() => new Stream(raw, name('c'), { keyLayout: 'compat' })).toThrow(/Redis Cluster/)
    expect(opened(new Stream(raw, name('via-client'))).keyLayout).toBe('cluster') // a Cluster client is taken
    const tagged = stream('{orders}:eu')
    expect(tagged.key).toBe(`pulse:stream:${tagged.name}`) // a name with a hash tag is used as it is

    const sink = opened(await s.newSink(name('k'), fast))
    await s.add('one', 'x')
    const [ev] = await take(sink.subscribe(), 1)
    expect(ev).toMatchObject({ streamName: s.name, eventName: 'one', sinkName: sink.name })
    await sink.ack(ev as SinkEvent)
    await sink.flush()
    const sinksMap = `map:stream:{${s.name}}:sinks:content`
    expect(JSON.parse((await raw.hget(sinksMap, sink.name)) ?? '[]')).toEqual([sink.consumer])
    expect(await slotOf(sinksMap)).toBe(await slotOf(s.key))
    expect(await raw.hexists(`map:sink:{${sink.name}}:keepalive:content`, sink.consumer)).toBe(1)
    await eventually(async () => (await raw.exists(`sink:{${sink.name}}:stalelease`)) === 1, 5_000, 'the idle lease')
    expect(await pendingCount(s.key, sink.name)).toBe(0)

    await sink.close()
    await s.destroy()
    expect(await raw.exists(s.key)).toBe(0)
    expect(await raw.hget(sinksMap, '=kind')).toBe('destroy')
  })

  it("a reader reads what is added, with the user's stream names; addStream of a stream with the same hash tag interrupts its blocked read", async () => {
    const eu = stream('{r}:eu')
    const us = stream('{r}:us')
    await eu.addMany([
      { name: 'a', payload: '1' },
      { name: 'b', payload: '2' },
    ])
    const reader = opened(await eu.newReader({ start: 'oldest', blockMs: 20_000 }))
    const sub = reader.subscribe()
    const first = await take(sub, 2)
    expect(first.map((e) => [e.streamName, e.eventName, e.payload.toString()])).toEqual([
      [eu.name, 'a', '1'],
      [eu.name, 'b', '2'],
    ])
    await reader.addStream(us, { start: 'oldest' }) // the XREAD is blocked for 20 s: it is unblocked
    await us.add('c', '3')
    const [ev] = await take(sub, 1, 5_000)
    expect({ stream: ev?.streamName, name: ev?.eventName }).toEqual({ stream: us.name, name: 'c' })
    expect(reader.streams).toEqual([eu.name, us.name])
    expect(await eu.info()).toMatchObject({ name: eu.name, length: 2 })
  })

  it("a sink's two instances share the events: each once, union = all; every ack lands", async () => {
    const s = stream('s')
    const sinkName = name('split')
    const runtime = opened(await Runtime.start())
    const a = opened(await s.newSink(sinkName, { ...fast, runtime }))
    const b = opened(await s.newSink(sinkName, { ...fast, runtime }))
    const got = { a: [] as string[], b: [] as string[] }
    const collect = async (sink: typeof a, into: string[]) => {
      for await (const ev of sink) {
        into.push(ev.eventName)
        await sink.ack(ev)
      }
    }
    const loops = [collect(a, got.a), collect(b, got.b)]
    const n = 100
    for (let i = 0; i < n; i += 10)
      await s.addMany(Array.from({ length: 10 }, (_, j) => ({ name: String(i + j), payload: '' })))
    await eventually(() => got.a.length + got.b.length >= n, 10_000, 'the instances to get every event')
    const union = [...got.a, ...got.b]
    expect(union).toHaveLength(n)
    expect(new Set(union).size).toBe(n)
    await a.flush()
    await b.flush()
    expect(await pendingCount(s.key, sinkName)).toBe(0)
    await a.close()
    await b.close()
    await Promise.all(loops)
  })

  it('an unacked event is redelivered to the other instance after the ack grace period (deliveryCount 2)', async () => {
    const s = stream('s')
    const sinkName = name('redeliver')
    const runtime = opened(await Runtime.start())
    // `holder` never runs the idle check in this test (its first is a minute away): `other` claims.
    const holder = opened(await s.newSink(sinkName, { ...fast, idleCheckMs: 60_000, runtime }))
    const other = opened(await s.newSink(sinkName, { ...fast, runtime }))
    const holderSub = holder.subscribe() // `other` has no subscription yet, so it reads nothing
    await s.add('forgotten', 'x')
    const [held] = await take(holderSub, 1)
    expect(held?.deliveryCount).toBe(1)
    const t0 = Date.now()
    const [again] = await take(other.subscribe(), 1, 5_000)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(fast.ackGracePeriodMs - 50)
    expect(again).toMatchObject({ id: held?.id, eventName: 'forgotten', deliveryCount: 2, streamName: s.name })
    await other.ack(again as SinkEvent)
    await other.flush()
    expect(await pendingCount(s.key, sinkName)).toBe(0)
  })

  it('streams spread over the masters: each on the master of its slot, each read by a sink', async () => {
    const masters = new Map<string, Stream>()
    for (let i = 0; masters.size < 3 && i < 200; i++) {
      const candidate = new Stream(redisClusterUrl(), name(`spread${i}`))
      const master = await masterOf(candidate.key)
      if (master !== undefined && !masters.has(master)) masters.set(master, opened(candidate))
    }
    expect(masters.size).toBe(3)
    const streams = [...masters.values()]
    const slots = await Promise.all(streams.map((s) => slotOf(s.key)))
    expect(new Set(slots.map((slot) => raw.slots[slot]?.[0])).size).toBe(3)
    const runtime = opened(await Runtime.start())
    const sinkName = name('spread')
    const sinks = await Promise.all(streams.map(async (s) => opened(await s.newSink(sinkName, { ...fast, runtime }))))
    const subs = sinks.map((sink) => sink.subscribe())
    await Promise.all(streams.map((s, i) => s.add(`e${i}`, s.name)))
    for (const [i, sub] of subs.entries()) {
      const [ev] = await take(sub, 1)
      expect({ stream: ev?.streamName, name: ev?.eventName }).toEqual({ stream: streams[i]?.name, name: `e${i}` })
      await sinks[i]?.ack(ev as SinkEvent)
      await sinks[i]?.flush()
    }
    for (const s of streams) expect(await pendingCount(s.key, sinkName)).toBe(0)
  })

  it('one sink reads streams sharing a hash tag; a stream of another slot is refused (PULSE_ERR_INVALID_ARG naming hash tags)', async () => {
    const eu = stream('{m}:eu')
    const us = stream('{m}:us')
    const sink = opened(await eu.newSink(name('multi'), fast))
    await sink.addStream(us)
    const sub = sink.subscribe()
    await eu.add('from-eu', '')
    await us.add('from-us', '')
    const events = await take(sub, 2)
    expect(events.map((e) => `${e.streamName}/${e.eventName}`).sort()).toEqual(
      [`${eu.name}/from-eu`, `${us.name}/from-us`].sort(),
    )
    await sink.ackMany(events)
    await sink.flush()
    expect(await pendingCount(eu.key, sink.name)).toBe(0)
    expect(await pendingCount(us.key, sink.name)).toBe(0)

    const elsewhere = opened(new Stream(redisClusterUrl(), nameOutsideSlot('other', await slotOf(eu.key))))
    const refusal = /one slot.*common hash tag \(e\.g\. "\{orders\}:eu" and "\{orders\}:us" share a slot\)/s
    const bySink = await sink.addStream(elsewhere).catch((error: unknown) => error)
    expect(bySink).toBeInstanceOf(InvalidArgumentError)
    expect(bySink).toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    expect((bySink as Error).message).toMatch(refusal)
    expect(sink.streams).toEqual([eu.name, us.name])
    const reader = opened(await eu.newReader())
    await expect(reader.addStream(elsewhere)).rejects.toThrow(InvalidArgumentError)
    await expect(reader.addStream(elsewhere)).rejects.toThrow(refusal)
    expect(reader.streams).toEqual([eu.name])
  })

  it('takes an ioredis Cluster client as its connection', async () => {
    const client = new Cluster([...parseClusterUrl(redisClusterUrl()).nodes])
    opened({ close: async () => void (await client.quit()) })
    const s = opened(new Stream(client, name('client')))
    const reader = opened(await s.newReader({ blockMs: 100 }))
    await s.add('via-client', '')
    expect(names(await take(reader.subscribe(), 1))).toEqual(['via-client'])
  })
})
