/**
 * The puts of one tick go to Redis together (actors/bus/append-queue.ts): one script call per namespace
 * and tick, in the order they were made, each put keeping its own outcome (a duplicate key refuses its
 * put only, a batch stays all or nothing), split into more calls past a call's bounds. The calls are
 * counted with Redis's MONITOR.
 */
import { afterEach, describe, expect, it } from 'vitest'

import { DuplicateEventError } from '../../../actors/bus/index.js'
import { kMaxBytes, kMaxEvents } from '../../../actors/bus/append-queue.js'
import { scriptCallsOn } from '../../helpers/redis.js'
import { Opened, take, text } from './helpers.js'

let opened = new Opened()
afterEach(async () => {
  await opened.close()
  opened = new Opened()
})

describe('puts of one tick', () => {
  it('go in one script call, in order, each refused alone on a duplicate key', async () => {
    const bus = await opened.bus({ dedupTtlMs: 60_000 })
    const first = await bus.put('a.k', 'w', { key: 'k1' }) // loads the script, records k1
    let settled: PromiseSettledResult<unknown>[] = []
    const calls = await scriptCallsOn(bus.keys.log('a'), async () => {
      settled = await Promise.allSettled([
        bus.put('a.x', 1),
        bus.put('a.k', 2, { key: 'k1' }),
        bus.put([
          { subject: 'a.b', payload: 3 },
          { subject: 'a.b', payload: 4, key: 'k2' },
        ]),
        bus.put([
          { subject: 'a.k', payload: 5, key: 'fresh' },
          { subject: 'a.k', payload: 6, key: 'k1' },
        ]),
        bus.put('a.x', 7, { key: 'k3' }),
        bus.put('a.x', 8, { key: 'k3' }),
      ])
    })
    expect(calls).toBe(1)
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
    ])
    const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []))
    for (const reason of reasons) expect(reason).toBeInstanceOf(DuplicateEventError)
    expect(reasons.map((r) => (r as { data: unknown }).data)).toEqual([
      { subject: 'a.k', key: 'k1', item: 0 },
      { subject: 'a.k', key: 'k1', item: 1 },
      { subject: 'a.x', key: 'k3', item: 0 },
    ])
    const values = settled.flatMap<unknown>((s) => (s.status === 'fulfilled' ? [s.value] : []))
    const indexes = values.flatMap((v) => (Array.isArray(v) ? v : [v]) as { index: number }[]).map((r) => r.index)
    expect(indexes).toEqual([1, 2, 3, 4].map((i) => first.index + i))
    const events = await take(bus.get('a.>', { start: 'oldest' }), 5)
    expect(events.map(text)).toEqual(['"w"', '1', '3', '4', '7'])
    // Nothing of the refused puts was recorded: their fresh key is still free.
    await bus.put('a.k', 9, { key: 'fresh' })
  })

  it('past a call’s bounds go in several calls, still in order', async () => {
    const bus = await opened.bus()
    await bus.put('a.w', 0)
    const n = 2 * kMaxEvents + 10
    const calls = await scriptCallsOn(bus.keys.log('a'), async () => {
      const results = await Promise.all(Array.from({ length: n }, (_, i) => bus.put('a.n', i)))
      expect(results.map((r) => r.index)).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    })
    expect(calls).toBe(3)
    const events = await take(bus.get('a.n', { start: 'oldest' }), n)
    expect(events.map(text)).toEqual(Array.from({ length: n }, (_, i) => String(i)))
    const big = `"${'x'.repeat(kMaxBytes / 2 + 1)}"`
    const bigCalls = await scriptCallsOn(bus.keys.log('a'), async () => {
      await Promise.all([bus.put('a.big', big), bus.put('a.big', big), bus.put('a.big', 1)])
    })
    expect(bigCalls).toBe(2)
  })

  it('made just before close are sent before the connection goes', async () => {
    const bus = await opened.bus()
    const put = bus.put('a.c', 1)
    await bus.close()
    const result = await put
    const again = await opened.bus()
    const [event] = await take(again.get('a.c', { start: 'oldest' }), 1)
    expect(event?.id).toBe(result.id)
  })
})
