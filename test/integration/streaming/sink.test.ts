/**
 * `Sink` against the run's redis-server: start positions, same-name instances splitting the events,
 * redelivery with deliveryCount, acks, `noAck`, topic filters, several streams, malformed entries and
 * close. (Processes: sink-processes.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError, type SinkEvent, Stream } from '../../../actors/streaming/index.js'
import { Runtime } from '../../../runtime/runtime.js'
import { useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { eventually, Opened, rawClient, take } from './helpers.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

function stream(label = 's'): Stream {
  return opened.add(new Stream(redisUrl(), opened.name(label)))
}

const fast = { blockMs: 100, ackGracePeriodMs: 200, idleCheckMs: 50 } as const
const names = (events: readonly SinkEvent[]) => events.map((e) => e.eventName)
const pendingCount = async (key: string, group: string) => ((await raw.xpending(key, group)) as [number])[0]

describe('Sink', () => {
  it('receives, acks (nothing left pending) and reports deliveryCount 1 on a first delivery', async () => {
    opened = new Opened()
    const s = stream()
    const sink = opened.add(await s.newSink(opened.name('k'), { ...fast, start: 'oldest' }))
    await s.add('hello', 'world', { topic: 't' })
    const [ev] = await take(sink.subscribe(), 1)
    expect(ev).toMatchObject({
      streamName: s.name,
      sinkName: sink.name,
      eventName: 'hello',
      topic: 't',
      deliveryCount: 1,
    })
    expect(ev?.payload.toString()).toBe('world')
    await sink.ack(ev as SinkEvent)
    await sink.ack(ev as SinkEvent) // twice: harmless
    await sink.flush() // ack resolves once queued; flush once Redis has every ack
    expect(await pendingCount(s.key, sink.name)).toBe(0)
    await expect(sink.ack({ ...(ev as SinkEvent), sinkName: 'other' })).rejects.toThrow(InvalidArgumentError)
    await expect(sink.ackMany('x' as never)).rejects.toThrow(/events must be an array/)
  })

  it('a sink started { after } gets only later events; the start applies when the group is created', async () => {
    opened = new Opened()
    const s = stream()
    const [id1] = await s.addMany([
      { name: 'one', payload: '' },
      { name: 'two', payload: '' },
    ])
    const after = opened.add(await s.newSink(opened.name('a'), { ...fast, start: { after: id1 ?? '' } }))
    const afterSub = after.subscribe()
    const [two] = await take(afterSub, 1)
    expect(two?.eventName).toBe('two')
    await after.ack(two as SinkEvent)
    // Another instance of the same sink with another start joins the existing group: its cursor wins.
    const same = opened.add(await s.newSink(after.name, { ...fast, start: 'oldest' }))
    const sub = same.subscribe()
    await s.add('three', '')
    const first = await Promise.race([take(sub, 1), take(afterSub, 1)])
    expect(names(first)).toEqual(['three'])
  })

  it('same-name sinks split the events (disjoint, union = all); another name gets all', async () => {
    opened = new Opened()
    const s = stream()
    const name = opened.name('split')
    const a = opened.add(await s.newSink(name, fast))
    const b = opened.add(await s.newSink(name, fast))
    const other = opened.add(await s.newSink(opened.name('all'), fast))
    const got = new Map<string, string[]>([
      ['a', []],
      ['b', []],
    ])
    const collect = async (label: string, sink: typeof a) => {
      for await (const ev of sink) {
        got.get(label)?.push(ev.eventName)
        await sink.ack(ev)
      }
    }
    const loops = [collect('a', a), collect('b', b)]
    const n = 200
    for (let i = 0; i < n; i += 20)
      await s.addMany(Array.from({ length: 20 }, (_, j) => ({ name: String(i + j), payload: '' })))
    const all = await take(other.subscribe(), n)
    expect(names(all)).toEqual(Array.from({ length: n }, (_, i) => String(i)))
    await eventually(
      () => (got.get('a')?.length ?? 0) + (got.get('b')?.length ?? 0) >= n,
      10_000,
      'both sinks to get every event',
    )
    const union = [...(got.get('a') ?? []), ...(got.get('b') ?? [])]
    expect(union).toHaveLength(n)
    expect(new Set(union).size).toBe(n)
    await a.close()
    await b.close()
    await Promise.all(loops)
  })

  it('an unacked event is redelivered (deliveryCount 2) after the grace period; never after an ack', async () => {
    opened = new Opened()
    const s = stream()
    const sink = opened.add(await s.newSink(opened.name('k'), fast))
    const sub = sink.subscribe()
    await s.add('forgotten', '')
    await s.add('acked', '')
    const [forgotten, acked] = await take(sub, 2)
    expect(forgotten?.deliveryCount).toBe(1)
    await sink.ack(acked as SinkEvent)
    const t0 = Date.now()
    const [again] = await take(sub, 1, 5_000)
    expect(again).toMatchObject({ id: forgotten?.id, eventName: 'forgotten', deliveryCount: 2 })
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100)
    await sink.ack(again as SinkEvent)
    await s.add('sentinel', '')
    // After its ack it does not come back: the next event is the sentinel, even past another grace period.
    const [next] = await take(sub, 1, 5_000)
    expect(next?.eventName).toBe('sentinel')
    await sink.ack(next as SinkEvent)
    await sink.flush()
    expect(await pendingCount(s.key, sink.name)).toBe(0)
    expect((await sink.stats()).claimed).toBeGreaterThanOrEqual(1)
  })

  it('a closed instance’s unacked event goes to another; its consumer is removed once stale', async () => {
    opened = new Opened()
    const s = stream()
    const name = opened.name('k')
    // A grace period long enough that the event is not redelivered before the close hands it over.
    const slow = { ...fast, ackGracePeriodMs: 2_000 }
    const closing = await s.newSink(name, slow)
    // Not subscribed yet, so it reads nothing: the event goes to `closing`.
    const survivor = opened.add(await s.newSink(name, slow))
    const closingSub = closing.subscribe()
    await s.add('held', '')
    const [held] = await take(closingSub, 1)
    const sub = survivor.subscribe()
    expect(await raw.xinfo('CONSUMERS', s.key, name)).toHaveLength(2)
    await closing.close()
    const t0 = Date.now()
    const [redelivered] = await take(sub, 1, 5_000)
    expect(Date.now() - t0).toBeLessThan(slow.ackGracePeriodMs) // handed over at close: no wait for the grace period
    expect({ id: redelivered?.id, deliveryCount: redelivered?.deliveryCount }).toEqual({
      id: held?.id,
      deliveryCount: 2,
    })
    await survivor.ack(redelivered as SinkEvent)
    await eventually(
      async () => ((await raw.xinfo('CONSUMERS', s.key, name)) as unknown[]).length === 1,
      10_000,
      'the stale consumer to be removed',
    )
    const sinks = await raw.hget(`map:stream:${s.name}:sinks:content`, name)
    expect(JSON.parse(sinks ?? '[]')).toEqual([survivor.consumer])
  })

  it('a noAck sink leaves nothing pending', async () => {
    opened = new Opened()
    const s = stream()
    const sink = opened.add(await s.newSink(opened.name('k'), { ...fast, noAck: true }))
    const sub = sink.subscribe()
    await s.addMany(Array.from({ length: 10 }, (_, i) => ({ name: String(i), payload: '' })))
    await take(sub, 10)
    expect(await pendingCount(s.key, sink.name)).toBe(0)
    await sink.ack(
      await (async () => {
        await s.add('x', '')
        return (await take(sub, 1))[0] as SinkEvent
      })(),
    )
  })

  it('topic filters in a sink; filtered-out events are acked (not this sink’s work)', async () => {
    opened = new Opened()
    const s = stream()
    const sink = opened.add(await s.newSink(opened.name('k'), { ...fast, topicPattern: /^eu-/ }))
    const sub = sink.subscribe()
    await s.add('1', '', { topic: 'us-east' })
    await s.add('2', '', { topic: 'eu-west' })
    await s.add('3', '')
    const [ev] = await take(sub, 1)
    expect(ev?.eventName).toBe('2')
    await sink.ack(ev as SinkEvent)
    await eventually(async () => (await pendingCount(s.key, sink.name)) === 0, 5_000, 'the filtered events to be acked')
    expect((await sink.stats()).filtered).toBe(2)
    await expect(s.newSink(opened.name('bad'), { topicPattern: '(' })).rejects.toThrow(
      /topic pattern must be a valid regex/,
    )
  })

  it('addStream reads both; removeStream stops one (the last instance destroys its group); re-adding { after } resumes', async () => {
    opened = new Opened()
    const s1 = stream('one')
    const s2 = stream('two')
    const sink = opened.add(await s1.newSink(opened.name('k'), { ...fast, blockMs: 5_000 }))
    const sub = sink.subscribe()
    await sink.addStream(s2)
    await sink.addStream(s2)
    expect(sink.streams).toEqual([s1.name, s2.name])
    await s1.add('a', '')
    await s2.add('b', '')
    const got = await take(sub, 2, 3_000)
    expect(got.map((e) => `${e.streamName}:${e.eventName}`).sort()).toEqual([`${s1.name}:a`, `${s2.name}:b`])
    await sink.ackMany(got)
    await sink.removeStream(s2)
    expect(await raw.xinfo('GROUPS', s2.key)).toEqual([])
    const skipped = await s2.add('skipped', '')
    await s2.add('resumed', '')
    await s1.add('c', '')
    const [c] = await take(sub, 1, 3_000)
    expect(c?.eventName).toBe('c')
    await sink.ack(c as SinkEvent)
    await sink.addStream(s2, { start: { after: skipped ?? '' } })
    await sink.removeStream(s1)
    const [resumed] = await take(sub, 1, 3_000)
    expect(resumed).toMatchObject({ streamName: s2.name, eventName: 'resumed' })
  })

  it('acks malformed entries written by someone else, counts them, and goes on', async () => {
    opened = new Opened()
    const s = stream()
    const sink = opened.add(await s.newSink(opened.name('k'), { ...fast }))
    const sub = sink.subscribe()
    await raw.xadd(s.key, '*', 'foo', 'bar')
    await s.add('good', '')
    const [ev] = await take(sub, 1)
    expect(ev?.eventName).toBe('good')
    await sink.ack(ev as SinkEvent)
    await eventually(async () => (await pendingCount(s.key, sink.name)) === 0, 5_000, 'the malformed entry to be acked')
    expect((await sink.stats()).malformed).toBe(1)
  })

  it('splits batches to fit a small mailbox, and skips (acks, counts, logs) an event too large for it', async () => {
    opened = new Opened()
    const s = stream()
    const errors: unknown[] = []
    const logger = { debug() {}, info() {}, warn() {}, error: (...a: unknown[]) => errors.push(a) }
    const runtime = await Runtime.start({ mailboxBytes: 64 * 1024 })
    try {
      const logged = opened.add(new Stream(redisUrl(), s.name, { logger }))
      const sink = opened.add(await logged.newSink(opened.name('k'), { ...fast, start: 'oldest', runtime }))
      const sub = sink.subscribe()
      // 20 events of 10 KB cannot go in one 64 KiB message; one of 100 KB cannot go in any.
      await s.addMany(Array.from({ length: 10 }, (_, i) => ({ name: `small-${i}`, payload: Buffer.alloc(10_000, i) })))
      await s.add('huge', Buffer.alloc(100_000, 1))
      await s.addMany(
        Array.from({ length: 10 }, (_, i) => ({ name: `small-${10 + i}`, payload: Buffer.alloc(10_000, 10 + i) })),
      )
      const events = await take(sub, 20)
      expect(names(events)).toEqual(Array.from({ length: 20 }, (_, i) => `small-${i}`))
      expect(events.every((e, i) => e.payload.equals(Buffer.alloc(10_000, i)))).toBe(true)
      await sink.ackMany(events)
      await sink.flush()
      expect(await pendingCount(s.key, sink.name)).toBe(0)
      expect(await raw.xlen(s.key)).toBe(21) // the skipped event stays in the stream
      expect((await sink.stats()).oversized).toBe(1)
      expect(JSON.stringify(errors)).toContain('PULSE_ERR_STREAM_EVENT_TOO_LARGE')
      await sink.close()
    } finally {
      await runtime.close()
    }
  })

  it('backpressure: a full buffer stops the reads; nothing is dropped or redelivered while it waits', async () => {
    opened = new Opened()
    const s = stream()
    const sink = opened.add(
      await s.newSink(opened.name('k'), { ...fast, ackGracePeriodMs: 400, bufferSize: 8, maxPolled: 5 }),
    )
    const sub = sink.subscribe()
    await s.addMany(Array.from({ length: 100 }, (_, i) => ({ name: String(i), payload: '' })))
    const first = await take(sub, 2)
    await sink.ackMany(first)
    // Waiting well past the grace period with a full buffer: the buffered events are kept, not redelivered
    // (a negative check over three grace periods: time is its subject).
    await new Promise((resolve) => setTimeout(resolve, 1_200))
    const stats = await sink.stats()
    expect(stats.delivered).toBeLessThanOrEqual(8 + 2)
    expect(stats.claimed).toBe(0)
    const rest = await take(sub, 98)
    await sink.ackMany(rest)
    expect(names([...first, ...rest])).toEqual(Array.from({ length: 100 }, (_, i) => String(i)))
  })

  it('close flushes the acks made before it: nothing acked is redelivered to the next instance', async () => {
    opened = new Opened()
    const s = stream()
    const name = opened.name('k')
    const first = await s.newSink(name, fast)
    const sub = first.subscribe()
    await s.addMany(Array.from({ length: 50 }, (_, i) => ({ name: String(i), payload: '' })))
    const got = await take(sub, 50)
    for (const ev of got) await first.ack(ev)
    await first.close()
    expect(await pendingCount(s.key, name)).toBe(0)
  })

  it('close while blocked in XREADGROUP returns within a bound; close twice does not deadlock; acks after close reject', async () => {
    opened = new Opened()
    const s = stream()
    const sink = await s.newSink(opened.name('k'), { blockMs: 0 })
    const sub = sink.subscribe()
    await s.add('e', '')
    const [ev] = await take(sub, 1)
    const pending = sub.next()
    const t0 = Date.now()
    await Promise.all([sink.close(), sink.close()])
    expect(Date.now() - t0).toBeLessThan(3_000)
    expect(await pending).toEqual({ done: true, value: undefined })
    await expect(sink.ack(ev as SinkEvent)).rejects.toThrow(/closed|closing/)
    await expect(sink.flush()).rejects.toThrow(/closed/)
  })

  it('runs on a runtime it is given (one actor per instance, stopped at close) and takes an ioredis client', async () => {
    opened = new Opened()
    const redisClient = rawClient()
    opened.add({ close: async () => void (await redisClient.quit()) })
    const s = opened.add(new Stream(redisClient, opened.name('s')))
    const rt = opened.add(await Runtime.start())
    const a = await s.newSink(opened.name('a'), { ...fast, runtime: rt, thread: 'sinks' })
    const b = opened.add(await s.newSink(opened.name('b'), { ...fast, runtime: rt, thread: 'sinks' }))
    expect((await rt.stats()).map((x) => x.thread)).toEqual(['sinks', 'sinks'])
    await a.close()
    expect((await rt.stats()).map((x) => x.name)).toEqual([`sink:${s.name}:${b.name}:${b.consumer}`])
    const sub = b.subscribe()
    await s.add('e', 'x')
    const [ev] = await take(sub, 1)
    await b.ack(ev as SinkEvent)
  })

  it("the cluster key layout on one Redis: the stream's and sink's keys in hash tags; a sink's streams share one layout", async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s'), { keyLayout: 'cluster' }))
    expect(s.key).toBe(`pulse:stream:{${s.name}}`)
    const sink = opened.add(await s.newSink(opened.name('k'), fast))
    await s.add('e', 'x')
    const [ev] = await take(sink.subscribe(), 1)
    expect(ev).toMatchObject({ streamName: s.name, eventName: 'e' })
    await sink.ack(ev as SinkEvent)
    await sink.flush()
    expect(await pendingCount(s.key, sink.name)).toBe(0)
    expect(JSON.parse((await raw.hget(`map:stream:{${s.name}}:sinks:content`, sink.name)) ?? '[]')).toEqual([
      sink.consumer,
    ])
    expect(await raw.hexists(`map:sink:{${sink.name}}:keepalive:content`, sink.consumer)).toBe(1)
    // Two streams of different slots are read together on one Redis (slots matter on a cluster only).
    const other = opened.add(new Stream(redisUrl(), opened.name('o'), { keyLayout: 'cluster' }))
    await sink.addStream(other)
    const compat = stream('compat')
    await expect(sink.addStream(compat)).rejects.toThrow(InvalidArgumentError)
    await expect(sink.addStream(compat)).rejects.toThrow(/the streams of a sink share one layout/)
    expect(() => new Stream(redisUrl(), 'x', { keyLayout: 'flat' as never })).toThrow(/options\.keyLayout/)
  })

  it('validates its options, naming the bad one', async () => {
    opened = new Opened()
    const s = stream()
    await expect(s.newSink('', {})).rejects.toThrow(/name/)
    await expect(s.newSink('k', { ackGracePeriodMs: 0 })).rejects.toThrow(/options\.ackGracePeriodMs/)
    await expect(s.newSink('k', { bufferSize: 0 })).rejects.toThrow(/options\.bufferSize/)
    await expect(s.newSink('k', { noAck: 'yes' as never })).rejects.toThrow(/options\.noAck/)
    await expect(s.newSink('k', { start: { after: 'x' } })).rejects.toThrow(/options\.start/)
    await expect(s.newSink('k', { wat: 1 } as never)).rejects.toThrow(/wat/)
  })
})
