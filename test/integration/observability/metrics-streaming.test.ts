/**
 * The streams' metrics move as they work: events added, a sink's deliveries, redeliveries, confirmed
 * acks and pending events — and nothing is registered anywhere without `metrics`.
 */
import { register as defaultRegistry, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'

import { type SinkEvent, Stream, type StreamOptions } from '../../../actors/streaming/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened, take } from '../streaming/helpers.js'
import { metricValue } from './helpers.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

const fast = { blockMs: 100, ackGracePeriodMs: 200, idleCheckMs: 50, start: 'oldest' } as const

function stream(options: StreamOptions = {}): Stream {
  return opened.add(new Stream(redisUrl(), opened.name('s'), options))
}

describe('stream metrics', () => {
  it('count events added, delivered, redelivered and acked, and the events pending', async () => {
    opened = new Opened()
    const registry = new Registry()
    const s = stream({ metrics: registry })
    await s.add('one', 'a')
    await s.addMany(Array.from({ length: 4 }, (_, i) => ({ name: `e${i}`, payload: 'x' })))
    expect(await metricValue(registry, 'pulse_stream_events_added_total', { stream: s.name })).toBe(5)

    const sink = opened.add(await s.newSink(opened.name('k'), fast))
    const labels = { stream: s.name, sink: sink.name }
    const sub = sink.subscribe()
    const events = await take(sub, 5)
    expect(await metricValue(registry, 'pulse_stream_sink_events_delivered_total', labels)).toBe(5)
    expect(await metricValue(registry, 'pulse_stream_sink_pending_events', labels)).toBe(5)

    const [forgotten, ...rest] = events as [SinkEvent, ...SinkEvent[]]
    await sink.ackMany(rest)
    await sink.flush()
    expect(await metricValue(registry, 'pulse_stream_sink_events_acked_total', labels)).toBe(4)
    expect(await metricValue(registry, 'pulse_stream_sink_pending_events', labels)).toBe(1)

    // Not acked within the grace period: delivered again, and still pending once.
    const [again] = await take(sub, 1, 5_000)
    expect(again).toMatchObject({ id: forgotten.id, deliveryCount: 2 })
    expect(await metricValue(registry, 'pulse_stream_sink_events_redelivered_total', labels)).toBe(1)
    expect(await metricValue(registry, 'pulse_stream_sink_events_delivered_total', labels)).toBe(6)
    expect(await metricValue(registry, 'pulse_stream_sink_pending_events', labels)).toBe(1)
    await sink.ack(again as SinkEvent)
    await sink.flush()
    expect(await metricValue(registry, 'pulse_stream_sink_events_acked_total', labels)).toBe(5)
    expect(await metricValue(registry, 'pulse_stream_sink_pending_events', labels)).toBe(0)

    // Closed with an event in hand: it is handed over, no longer pending here.
    await s.add('held', 'x')
    await take(sub, 1)
    expect(await metricValue(registry, 'pulse_stream_sink_pending_events', labels)).toBe(1)
    await sink.close()
    expect(await metricValue(registry, 'pulse_stream_sink_pending_events', labels)).toBe(0)
  })

  it('register nothing anywhere without metrics', async () => {
    opened = new Opened()
    const s = stream()
    await s.add('one', 'a')
    const sink = opened.add(await s.newSink(opened.name('k'), fast))
    const [event] = await take(sink.subscribe(), 1)
    await sink.ack(event as SinkEvent)
    await sink.flush()
    expect(defaultRegistry.getMetricsAsArray()).toEqual([])
  })
})
