/**
 * The bus's metrics (published, delivered, redelivered, SSE clients of a `BusServer`) and the
 * runtime's per-actor metrics move as they work — and nothing is registered anywhere without `metrics`.
 */
import { register as defaultRegistry, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'

import { BusServer } from '../../../actors/bus/index.js'
import { Runtime } from '../../../runtime/runtime.js'
import type { CounterMsg } from '../../fixtures/actors/counter.js'
import { Opened, take } from '../bus/helpers.js'
import { openSse } from '../http/helpers.js'
import { metricUntil, metricValue } from './helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

describe('bus metrics', () => {
  it('count published, delivered and redelivered events by namespace', async () => {
    const registry = new Registry()
    const bus = await opened.bus({ metrics: registry })
    const sub = bus.get('a.>', { ack: 'manual', redelivery: { delayMs: 300, count: 3 } })
    await sub.ready
    await bus.put('a.one', 'x')
    await bus.put([
      { subject: 'a.two', payload: 'y' },
      { subject: 'a.three', payload: 'z' },
    ])
    expect(await metricValue(registry, 'pulse_bus_events_published_total', { namespace: 'a' })).toBe(3)

    const [first] = await take(sub, 1)
    // Not acked within its delay: the same event again.
    const [again] = await take(sub, 1)
    expect({ id: again?.id, delivery: again?.delivery }).toEqual({ id: first?.id, delivery: 2 })
    await again?.ack()
    for (let i = 0; i < 2; i++) await (await take(sub, 1))[0]?.ack()
    expect(await metricValue(registry, 'pulse_bus_events_delivered_total', { namespace: 'a' })).toBe(4)
    expect(await metricValue(registry, 'pulse_bus_events_redelivered_total', { namespace: 'a' })).toBe(1)
    await sub.return()
  })

  it('count the SSE clients of a BusServer', async () => {
    const registry = new Registry()
    const bus = await opened.bus({ metrics: registry })
    const server = opened.add(await BusServer.listen({ bus, port: 0 }))
    expect(await metricValue(registry, 'pulse_bus_sse_clients')).toBe(0)
    const one = await openSse(`${server.url}/?subject=a.>`)
    const two = await openSse(`${server.url}/?subject=b.>`)
    expect(await metricValue(registry, 'pulse_bus_sse_clients')).toBe(2)
    await bus.put('a.x', 'hello')
    await one.waitFor('event: msg')
    expect(await metricValue(registry, 'pulse_bus_events_delivered_total', { namespace: 'a' })).toBe(1)
    one.req.destroy()
    await metricUntil(registry, 'pulse_bus_sse_clients', (n) => n === 1)
    two.req.destroy()
    await metricUntil(registry, 'pulse_bus_sse_clients', (n) => n === 0)
  })

  it('register nothing anywhere without metrics', async () => {
    const bus = await opened.bus()
    const sub = bus.get('a.>')
    await sub.ready
    await bus.put('a.one', 'x')
    await take(sub, 1)
    await sub.return()
    expect(defaultRegistry.getMetricsAsArray()).toEqual([])
  })
})

const counter = new URL('../../fixtures/actors/counter.ts', import.meta.url)

describe('runtime metrics', () => {
  it('export each actor’s messages, mailbox depth, restarts and receive time, read at scrape time', async () => {
    const registry = new Registry()
    const rt = await Runtime.start({ metrics: registry, latencySampleEvery: 1, supervision: { backoffMs: 1 } })
    try {
      const ref = await rt.spawn<CounterMsg, number>(counter, { name: 'counter' })
      for (let i = 0; i < 9; i++) ref.tell({ op: 'inc' })
      expect(await ref.ask({ op: 'get' })).toBe(9)
      const labels = { actor: 'counter' }
      expect(await metricValue(registry, 'pulse_actor_messages_total', labels)).toBe(10)
      expect(await metricValue(registry, 'pulse_actor_mailbox_depth', labels)).toBe(0)
      expect(await metricValue(registry, 'pulse_actor_restarts_total', labels)).toBe(0)
      expect(await metricValue(registry, 'pulse_actor_dropped_messages_total', labels)).toBe(0)
      const p50 = await metricValue(registry, 'pulse_actor_receive_seconds', { ...labels, quantile: '0.5' })
      expect(p50).toBeGreaterThan(0)
      expect(p50).toBeLessThan(1)

      const restarted = new Promise((resolve) => rt.once('restart', resolve))
      ref.tell({ op: 'throw' })
      await restarted
      expect(await metricValue(registry, 'pulse_actor_restarts_total', labels)).toBe(1)
    } finally {
      await rt.close()
    }
    // A closed runtime is no longer read.
    expect(await metricValue(registry, 'pulse_actor_messages_total')).toBeUndefined()
  })

  it('register nothing anywhere without metrics', async () => {
    const rt = await Runtime.start()
    try {
      const ref = await rt.spawn<CounterMsg, number>(counter, { name: 'plain' })
      expect(await ref.ask({ op: 'get' })).toBe(0)
      expect(defaultRegistry.getMetricsAsArray()).toEqual([])
    } finally {
      await rt.close()
    }
  })
})
