/**
 * `Stream` against the run's redis-server: `add` and its options (topic, `onlyIfExists`, `maxLen`, TTLs),
 * `destroy`, `addMany`, `remove`, validation, and the entry format shared with Go peers (raw XADD /
 * XRANGE; docs/redis-layout.md, "Entries").
 */
import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError, Stream } from '../../../actors/streaming/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { Opened, take } from './helpers.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

function stream(label = 's', options?: ConstructorParameters<typeof Stream>[2]): Stream {
  opened ??= new Opened()
  return opened.add(new Stream(redisUrl(), opened.name(label), options))
}

describe('Stream', () => {
  it('validates synchronously without touching Redis (bad name, payload, options)', () => {
    opened = new Opened()
    for (const bad of ['', 'a b', 'a*', 'a?', 'a[', 'a]', 'a\0', 'x'.repeat(513)]) {
      expect(() => new Stream('redis://127.0.0.1:1', bad)).toThrow(InvalidArgumentError)
    }
    expect(() => new Stream('redis://127.0.0.1:1', 'ok', { maxLen: -1 })).toThrow(/options\.maxLen/)
    expect(() => new Stream('redis://127.0.0.1:1', 'ok', { ttlMs: 10, slidingTtlMs: 10 })).toThrow(/exclusive/)
    expect(() => new Stream('redis://127.0.0.1:1', 'ok', { bogus: 1 } as never)).toThrow(/bogus/)
    expect(() => new Stream(42 as never, 'ok')).toThrow(/redis/)
    const s = new Stream('redis://127.0.0.1:1', 'x'.repeat(512))
    expect(s.key).toBe(`pulse:stream:${'x'.repeat(512)}`)
    expect(s.options.maxLen).toBe(1000)
  })

  it('add writes n, p (and t) and returns the id; the payload bytes round-trip', async () => {
    opened = new Opened()
    const s = stream()
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    const id = await s.add('user.created', bytes, { topic: 'eu' })
    const plain = await s.add('user.deleted', 'plain text')
    const entries = await raw.xrangeBuffer(s.key, '-', '+')
    expect(entries.map(([eid]) => eid.toString())).toEqual([id, plain])
    const [[, fields1], [, fields2]] = entries as [[Buffer, Buffer[]], [Buffer, Buffer[]]]
    expect(fields1.map((f) => f.toString('latin1'))).toEqual([
      'n',
      'user.created',
      'p',
      Buffer.from(bytes).toString('latin1'),
      't',
      'eu',
    ])
    expect(fields2.map(String)).toEqual(['n', 'user.deleted', 'p', 'plain text'])
    const reader = opened.add(await s.newReader({ start: 'oldest', blockMs: 100 }))
    const [first, second] = await take(reader.subscribe(), 2)
    expect(first?.payload).toEqual(Buffer.from(bytes))
    expect(first?.topic).toBe('eu')
    expect(second?.topic).toBeUndefined()
    expect(second?.payload.toString()).toBe('plain text')
  })

  it('onlyIfExists on a missing stream adds nothing and creates no key', async () => {
    opened = new Opened()
    const s = stream()
    expect(await s.add('e', 'x', { onlyIfExists: true })).toBeUndefined()
    expect(await raw.exists(s.key)).toBe(0)
    await s.add('e', 'x')
    expect(await s.add('e', 'y', { onlyIfExists: true })).toMatch(/^\d+-\d+$/)
    expect(await raw.xlen(s.key)).toBe(2)
  })

  it('maxLen trims approximately; maxLen 0 never trims', async () => {
    opened = new Opened()
    const trimmed = stream('trim', { maxLen: 100 })
    const untrimmed = stream('all', { maxLen: 0 })
    const events = Array.from({ length: 2_000 }, (_, i) => ({ name: 'e', payload: String(i) }))
    await trimmed.addMany(events)
    await untrimmed.addMany(events)
    const len = await raw.xlen(trimmed.key)
    expect(len).toBeGreaterThanOrEqual(100)
    expect(len).toBeLessThan(400)
    expect(await raw.xlen(untrimmed.key)).toBe(2_000)
  })

  it('an absolute TTL is set once; a sliding TTL is refreshed by every add', async () => {
    opened = new Opened()
    const absolute = stream('abs', { ttlMs: 60_000 })
    const sliding = stream('sld', { slidingTtlMs: 60_000 })
    await absolute.add('e', '1')
    await sliding.add('e', '1')
    await raw.pexpire(absolute.key, 30_000)
    await raw.pexpire(sliding.key, 30_000)
    await absolute.add('e', '2')
    await sliding.add('e', '2')
    expect(await raw.pttl(absolute.key)).toBeLessThanOrEqual(30_000)
    expect(await raw.pttl(sliding.key)).toBeGreaterThan(50_000)
  })

  it('addMany adds in one pipeline, in order; remove deletes by id', async () => {
    opened = new Opened()
    const s = stream()
    const ids = await s.addMany([
      { name: 'a', payload: '1' },
      { name: 'b', payload: Buffer.from('2'), topic: 't' },
      { name: 'c', payload: '3' },
    ])
    expect(ids).toHaveLength(3)
    expect((await raw.xrange(s.key, '-', '+')).map(([id]) => id)).toEqual(ids)
    expect(await s.remove(ids[1] ?? '')).toBe(1)
    expect((await raw.xrange(s.key, '-', '+')).map(([id]) => id)).toEqual([ids[0], ids[2]])
    expect(await s.addMany([])).toEqual([])
    await expect(s.addMany([{ name: '', payload: 'x' }])).rejects.toThrow(/events\[0\]\.name/)
    await expect(s.addMany([{ name: 'x', payload: 5 as never }])).rejects.toThrow(/events\[0\]\.payload/)
    await expect(s.add('x', {} as never)).rejects.toThrow(InvalidArgumentError)
  })

  it('reads entries written with raw XADD exactly as a Go peer writes them', async () => {
    opened = new Opened()
    const s = stream()
    const reader = opened.add(await s.newReader({ blockMs: 100 }))
    const sub = reader.subscribe()
    const goId = await raw.xadd(
      s.key,
      'MAXLEN',
      '~',
      '1000',
      '*',
      'n',
      'order.placed',
      'p',
      Buffer.from([0, 1, 2, 255]),
      't',
      'fr',
    )
    const [ev] = await take(sub, 1)
    expect(ev).toMatchObject({ id: goId, streamName: s.name, eventName: 'order.placed', topic: 'fr' })
    expect([...(ev?.payload ?? [])]).toEqual([0, 1, 2, 255])
    expect(ev?.createdAt.getTime()).toBe(Number(goId?.split('-')[0]))
  })

  it('destroy deletes the stream and leaves the sinks map as a destroy tombstone', async () => {
    opened = new Opened()
    const s = stream()
    await s.destroy() // never written: fine
    await s.add('e', 'x')
    const sink = opened.add(await s.newSink(opened.name('k'), { blockMs: 100 }))
    await sink.close()
    await s.destroy()
    expect(await raw.exists(s.key)).toBe(0)
    const tombstone = await raw.hgetall(`map:stream:${s.name}:sinks:content`)
    expect(tombstone['=kind']).toBe('destroy')
    expect(Number(tombstone['=rev'])).toBeGreaterThan(0)
    expect(Object.keys(tombstone).sort()).toEqual(['=kind', '=rev'])
  })

  it('after close, calls reject with ClosedError', async () => {
    opened = new Opened()
    const s = stream()
    await s.add('e', 'x')
    await s.close()
    await s.close()
    await expect(s.add('e', 'y')).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
  })
})
