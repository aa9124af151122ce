/**
 * `Reader` against the run's redis-server: delivery to every subscription, start positions, several
 * readers and streams, topic filters, malformed entries, backpressure and close.
 */
import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError, Stream, type StreamEvent } from '../../../actors/streaming/index.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { waitFor } from '../../helpers/wait.js'
import { Opened, take } from './helpers.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

function stream(label = 's'): Stream {
  return opened.add(new Stream(redisUrl(), opened.name(label)))
}

const fast = { blockMs: 100 } as const

/** The ids of the server's clients blocked in XREAD now (CLIENT LIST: flag `b`, last command `xread`). */
async function blockedReads(): Promise<Set<string>> {
  const list = (await raw.client('LIST')) as string
  const ids = list
    .split('\n')
    .filter((line) => / flags=[^ ]*b/.test(line) && / cmd=xread/.test(line))
    .map((line) => /^id=(\d+)/.exec(line)?.[1] ?? '')
  return new Set(ids)
}
const names = (events: readonly StreamEvent[]) => events.map((e) => e.eventName)

describe('Reader', () => {
  it('from oldest, every existing and new event in id order, to every subscription', async () => {
    opened = new Opened()
    const s = stream()
    await s.addMany([
      { name: 'a', payload: '' },
      { name: 'b', payload: '' },
    ])
    const reader = opened.add(await s.newReader({ ...fast, start: 'oldest' }))
    const one = reader.subscribe()
    const two = reader.subscribe()
    await s.add('c', '')
    expect(names(await take(one, 3))).toEqual(['a', 'b', 'c'])
    expect(names(await take(two, 3))).toEqual(['a', 'b', 'c'])
  })

  it("'newest' is resolved at creation: an event added before the first read is not missed", async () => {
    opened = new Opened()
    const s = stream()
    await s.add('before', '')
    const reader = opened.add(await s.newReader(fast))
    await s.add('after', '') // added before anything iterates: v1.6.5's '$' would miss it
    expect(names(await take(reader.subscribe(), 1))).toEqual(['after'])
  })

  it('{ after } is exclusive; { at } starts at that millisecond, <ms>-0 included', async () => {
    opened = new Opened()
    const s = stream()
    const id1 = await raw.xadd(s.key, '1000-0', 'n', 'first', 'p', '')
    await raw.xadd(s.key, '2000-0', 'n', 'second', 'p', '')
    await raw.xadd(s.key, '2000-1', 'n', 'third', 'p', '')
    const after = opened.add(await s.newReader({ ...fast, start: { after: id1 ?? '' } }))
    expect(names(await take(after.subscribe(), 2))).toEqual(['second', 'third'])
    const at = opened.add(await s.newReader({ ...fast, start: { at: new Date(2000) } }))
    expect(names(await take(at.subscribe(), 2))).toEqual(['second', 'third'])
    const zero = opened.add(await s.newReader({ ...fast, start: { after: '0' } }))
    expect(names(await take(zero.subscribe(), 3))).toEqual(['first', 'second', 'third'])
  })

  it('nothing is read before the first subscription; an event added before it is still delivered', async () => {
    opened = new Opened()
    const s = stream()
    const reader = opened.add(await s.newReader({ ...fast, start: 'oldest' }))
    await s.add('early', '')
    expect(reader.stats().delivered).toBe(0)
    expect(names(await take(reader.subscribe(), 1))).toEqual(['early'])
  })

  it('two readers each receive all events', async () => {
    opened = new Opened()
    const s = stream()
    const r1 = opened.add(await s.newReader(fast))
    const r2 = opened.add(await s.newReader(fast))
    const [i1, i2] = [r1.subscribe(), r2.subscribe()]
    await s.addMany(Array.from({ length: 50 }, (_, i) => ({ name: `e${i}`, payload: '' })))
    const expected = Array.from({ length: 50 }, (_, i) => `e${i}`)
    expect(names(await take(i1, 50))).toEqual(expected)
    expect(names(await take(i2, 50))).toEqual(expected)
  })

  it('topic and topic-pattern filters (search semantics); an invalid pattern fails creation', async () => {
    opened = new Opened()
    const s = stream()
    const exact = opened.add(await s.newReader({ ...fast, topic: 'my-topic' }))
    const pattern = opened.add(await s.newReader({ ...fast, topicPattern: 'y.*-top' }))
    const regexp = opened.add(await s.newReader({ ...fast, topicPattern: /^OTHER$/i }))
    const [ie, ip, ir] = [exact.subscribe(), pattern.subscribe(), regexp.subscribe()]
    await s.add('1', '', { topic: 'my-topic' })
    await s.add('2', '', { topic: 'other' })
    await s.add('3', '')
    await s.add('4', '', { topic: 'your-topic' })
    expect(names(await take(ie, 1))).toEqual(['1'])
    expect(names(await take(ip, 2))).toEqual(['1', '4'])
    expect(names(await take(ir, 1))).toEqual(['2'])
    await s.add('end', '', { topic: 'my-topic' })
    expect(names(await take(ie, 1))).toEqual(['end'])
    expect(exact.stats().filtered).toBe(3)
    await expect(s.newReader({ topicPattern: '(' })).rejects.toThrow(/topic pattern must be a valid regex/)
    await expect(s.newReader({ topicPattern: '(' })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(s.newReader({ start: 'yesterday' as never })).rejects.toThrow(/options\.start/)
  })

  it('addStream reads both (streamName set); removeStream stops one; re-adding { after } resumes', async () => {
    opened = new Opened()
    const s1 = stream('one')
    const s2 = stream('two')
    const reader = opened.add(await s1.newReader({ blockMs: 5_000 }))
    const sub = reader.subscribe()
    await reader.addStream(s2) // interrupts the blocked read: no 5 s wait
    await reader.addStream(s2) // idempotent
    expect(reader.streams).toEqual([s1.name, s2.name])
    await s1.add('a', '')
    await s2.add('b', '')
    const got = await take(sub, 2, 3_000)
    expect(got.map((e) => `${e.streamName}:${e.eventName}`).sort()).toEqual([`${s1.name}:a`, `${s2.name}:b`])
    await reader.removeStream(s2)
    await reader.removeStream(s2) // idempotent
    const skipped = await s2.add('skipped', '')
    await s2.add('resumed', '')
    await s1.add('c', '')
    expect(names(await take(sub, 1, 3_000))).toEqual(['c'])
    await reader.addStream(s2, { start: { after: skipped ?? '' } })
    expect(names(await take(sub, 1, 3_000))).toEqual(['resumed'])
  })

  it('skips and counts entries that are not Pulse events; the loop goes on', async () => {
    opened = new Opened()
    const s = stream()
    const warnings: unknown[] = []
    const logged = opened.add(
      new Stream(redisUrl(), s.name, {
        logger: { debug() {}, info() {}, warn: (...a: unknown[]) => warnings.push(a), error() {} },
      }),
    )
    const reader = opened.add(await logged.newReader(fast))
    const sub = reader.subscribe()
    await raw.xadd(s.key, '*', 'foo', 'bar')
    await raw.xadd(s.key, '*', 'n', 'no-payload')
    await raw.xadd(s.key, '*', 'p', 'no-name')
    await s.add('good', '')
    expect(names(await take(sub, 1))).toEqual(['good'])
    expect(reader.stats().malformed).toBe(3)
    expect(JSON.stringify(warnings)).toContain('PULSE_ERR_STREAM_MALFORMED_ENTRY')
  })

  it('backpressure: a slow subscription holds the reads, nothing is dropped', async () => {
    opened = new Opened()
    const s = stream()
    const reader = opened.add(await s.newReader({ ...fast, bufferSize: 10, maxPolled: 7 }))
    const sub = reader.subscribe()
    await s.addMany(Array.from({ length: 300 }, (_, i) => ({ name: String(i), payload: '' })))
    const first = await take(sub, 5)
    // The reader stopped with a full buffer: it read at most the buffer plus one batch.
    expect(reader.stats().delivered).toBeLessThanOrEqual(10 + 7)
    const rest = await take(sub, 295)
    expect(names([...first, ...rest])).toEqual(Array.from({ length: 300 }, (_, i) => String(i)))
  })

  it('close while blocked in XREAD returns within a bound; close twice is fine; iterators end', async () => {
    opened = new Opened()
    const s = stream()
    const before = await blockedReads()
    const reader = opened.add(await s.newReader({ blockMs: 0 })) // blocks until an event comes
    const sub = reader.subscribe()
    const pending = sub.next()
    await waitFor(async () => [...(await blockedReads())].some((id) => !before.has(id)), {
      what: 'the reader to block in XREAD on the server',
    })
    const t0 = Date.now()
    await Promise.all([reader.close(), reader.close()])
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(reader.closed).toBe(true)
    expect(() => reader.subscribe()).toThrow(/closed|closing/)
  })

  it('a break out of for await leaves the subscription; the reader keeps serving others', async () => {
    opened = new Opened()
    const s = stream()
    const reader = opened.add(await s.newReader({ ...fast, start: 'oldest' }))
    await s.addMany([
      { name: 'a', payload: '' },
      { name: 'b', payload: '' },
    ])
    const other = reader.subscribe()
    for await (const ev of reader) {
      expect(ev.eventName).toBe('a')
      break
    }
    expect(names(await take(other, 2))).toEqual(['a', 'b'])
  })
})
