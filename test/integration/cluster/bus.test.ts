/**
 * The bus on the run's Redis Cluster (actors/bus/bus.ts, transports/redis/bus): every key of a namespace
 * carries its `{<ns>}` hash tag, so namespaces land on different masters while each one's scripts stay
 * in one slot; puts, tail reads (one tail loop per namespace), dedup, durable consumers, request/reply
 * and confirm work there as on one server.
 */
import { randomUUID } from 'node:crypto'

import { Cluster } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'

import { Bus, DuplicateEventError, NoResponderError, TimeoutError } from '../../../actors/bus/index.js'
import type { BusOptions } from '../../../actors/bus/index.js'
import { parseClusterUrl } from '../../../transports/redis/cluster-url.js'
import { keySlot } from '../../../transports/redis/cluster-slots.js'
import { deleteOnCluster, useRawCluster } from '../../helpers/redis.js'
import { redisClusterUrl } from '../../helpers/servers.js'
import { take, text } from '../bus/helpers.js'

const raw = useRawCluster()
const prefix = `t:${randomUUID().slice(0, 8)}:bus:`
const open: { close(): Promise<void> }[] = []

afterEach(async () => {
  for (const closable of open.splice(0).reverse()) await closable.close()
  await deleteOnCluster(raw, `${prefix}*`)
})

/** Namespaces whose keys live on three different masters (names are tried until each master has one). */
function namespacesOnEveryMaster(): string[] {
  const byMaster = new Map<string, string>()
  for (let i = 0; byMaster.size < 3 && i < 1_000; i++) {
    const ns = `ns${i}`
    const master = raw.slots[keySlot(`{${ns}}`)]?.[0]
    if (master !== undefined && !byMaster.has(master)) byMaster.set(master, ns)
  }
  return [...byMaster.values()]
}

async function connect(options: Partial<BusOptions> = {}, source: string | Cluster = redisClusterUrl()): Promise<Bus> {
  const bus = await Bus.connect(source, {
    namespaces: [...namespacesOnEveryMaster(), 'rpc'],
    keyPrefix: prefix,
    heartbeatMs: 1_000,
    ...options,
  })
  open.push(bus)
  return bus
}

describe('the bus on a Redis Cluster', () => {
  it('puts and gets in namespaces on three masters, each tail read live, dedup per namespace', async () => {
    const namespaces = namespacesOnEveryMaster()
    const bus = await connect()
    const masters = new Set<string>()
    for (const ns of namespaces) {
      const slot = Number(await raw.cluster('KEYSLOT', bus.keys.log(ns)))
      expect(await raw.cluster('KEYSLOT', bus.keys.dedup(ns))).toBe(slot)
      masters.add(raw.slots[slot]?.[0] ?? '')
    }
    expect(masters.size).toBe(3)

    const tails = namespaces.map((ns) => bus.get(`${ns}.>`))
    await Promise.all(tails.map((tail) => tail.ready))
    for (const [i, ns] of namespaces.entries()) {
      const first = await bus.put(`${ns}.orders`, { i }, { key: `k-${ns}` })
      expect(first.index).toBe(0)
      expect((await bus.put(`${ns}.orders`, { i, again: true })).index).toBe(1)
      await expect(bus.put(`${ns}.orders`, 'dup', { key: `k-${ns}` })).rejects.toBeInstanceOf(DuplicateEventError)
    }
    for (const [i, tail] of tails.entries()) {
      const events = await take(tail, 2)
      expect(events.map(text)).toEqual([`{"i":${i}}`, `{"i":${i},"again":true}`])
    }
    const [ns0 = ''] = namespaces
    const oldest = await take(bus.get(`${ns0}.orders`, { start: 'oldest' }), 2)
    expect(oldest.map((event) => event.subject)).toEqual([`${ns0}.orders`, `${ns0}.orders`])
    expect(await raw.xlen(bus.keys.log(ns0))).toBe(2)
  })

  it('request/reply through an inbox, NoResponderError without a subscriber, confirm by two consumers', async () => {
    const bus = await connect()
    const responder = bus.reply('rpc.add', (req) => {
      const { a, b } = JSON.parse(text(req)) as { a: number; b: number }
      return { sum: a + b }
    })
    await responder.ready
    expect((await bus.request('rpc.add', { a: 2, b: 3 })).toString()).toBe('{"sum":5}')
    await expect(bus.request('rpc.nobody', {}, { timeoutMs: 5_000 })).rejects.toBeInstanceOf(NoResponderError)
    await responder.close()

    const [ns = ''] = namespacesOnEveryMaster()
    const c1 = bus.get(`${ns}.>`, { ack: 'manual' })
    const c2 = bus.get(`${ns}.>`, { ack: 'manual' })
    await Promise.all([c1.ready, c2.ready])
    const put = bus.put(`${ns}.confirm`, 'x', { confirm: 2, timeoutMs: 10_000 })
    const [e1] = await take(c1, 1)
    const [e2] = await take(c2, 1)
    await Promise.all([e1?.ack(), e2?.ack()])
    expect((await put).id).toBe(e1?.id)
    const lonely = bus.put(`${ns}.confirm`, 'y', { confirm: 2, timeoutMs: 300 })
    const [e3] = await take(c1, 1)
    await e3?.ack()
    await expect(lonely).rejects.toBeInstanceOf(TimeoutError)
    await expect(lonely).rejects.toMatchObject({ data: { confirmed: 1, wanted: 2 } })
  })

  it("a durable consumer resumes after its last ack across a bus restart, on the caller's Cluster client", async () => {
    const [, ns = ''] = namespacesOnEveryMaster()
    const own = new Cluster([...parseClusterUrl(redisClusterUrl()).nodes])
    open.push({ close: () => own.quit().then(() => undefined) })
    let bus = await connect({}, own)
    for (let i = 1; i <= 4; i++) await bus.put(`${ns}.d`, i)
    let sub = bus.get(`${ns}.d`, { start: 'oldest', ack: 'manual', durable: 'billing' })
    const [first] = await take(sub, 1)
    await first?.ack()
    await take(sub, 1) // the second is delivered, never acked
    await sub.return()
    await bus.close()
    bus = await connect({}, own)
    sub = bus.get(`${ns}.d`, { start: 'newest', ack: 'manual', durable: 'billing' })
    const [resumed] = await take(sub, 1)
    expect(resumed === undefined ? undefined : text(resumed)).toBe('2')
    expect(await own.ping()).toBe('PONG') // the caller's client stays open
  })
})
