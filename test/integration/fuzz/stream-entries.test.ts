/**
 * Fuzzing stream entries not written by Pulse, on the run's Redis: entries XADDed raw with arbitrary
 * binary fields and values, missing or repeated fields, beside Pulse's own.
 *
 * - A `Reader` (ioredis replies, cursor.ts) and a `Sink` (its actor's RESP decoder, read-reply.ts)
 *   deliver exactly the entries with an `n` and a `p` field, in order, with the last value of a
 *   repeated field; they skip and count the others (`stats().malformed`), as reader.ts and
 *   sink-reader.ts promise, and the sink acks them so nothing stays pending.
 * - A bus subscription and an SSE subscriber of the bus's HTTP API deliver exactly the entries with an
 *   `i` and an `s` field whose subject matches, whatever bytes their id and other fields hold.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'

import { Bus, BusServer } from '../../../actors/bus/index.js'
import { matchSubject } from '../../../actors/bus/subject.js'
import { Stream, type StreamEvent } from '../../../actors/streaming/index.js'
import { deleteByPrefix, testPrefix, useRawRedis } from '../../helpers/redis.js'
import { redisUrl } from '../../helpers/servers.js'
import { openSse } from '../http/helpers.js'
import { eventually, Opened, take } from '../streaming/helpers.js'
import { sseFrames } from './raw-http.js'

const raw = useRawRedis()
let opened: Opened
afterEach(async () => {
  await opened.close(raw)
})

const fast = { blockMs: 100 } as const
const fastSink = { blockMs: 100, ackGracePeriodMs: 200, idleCheckMs: 50 } as const

type Pair = readonly [Buffer, Buffer]

/** Bytes of every kind; the one-letter names of the fields the decoders look for come often. */
const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => Buffer.from(s)),
  fc.constantFrom('', 'n', 'p', 't', 'x', 'i', 's', 'c', '\r\n', '$-1', '*1').map((s) => Buffer.from(s)),
)
const fieldName = (letters: readonly string[]) =>
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...letters).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: bytes },
  )
/** An entry's field list: random pairs over the given letters (XADD needs at least one pair). */
const entryOf = (letters: readonly string[]) =>
  fc.array(fc.tuple(fieldName(letters), bytes), { minLength: 1, maxLength: 6 }) as fc.Arbitrary<Pair[]>

/** The last value of a one-letter field, as the decoders keep it. */
function field(pairs: readonly Pair[], letter: string): Buffer | undefined {
  let value: Buffer | undefined
  for (const [name, v] of pairs) if (name.length === 1 && name.toString('latin1') === letter) value = v
  return value
}

/** What a reader or sink yields for an entry, or undefined for an entry it must skip. */
function expectedEvent(
  pairs: readonly Pair[],
): { name: string; payload: string; topic: string | undefined } | undefined {
  const name = field(pairs, 'n')
  const payload = field(pairs, 'p')
  if (name === undefined || payload === undefined) return undefined
  return { name: name.toString('utf8'), payload: payload.toString('hex'), topic: field(pairs, 't')?.toString('utf8') }
}

const seen = (e: StreamEvent) => ({ name: e.eventName, payload: e.payload.toString('hex'), topic: e.topic })

describe('stream entries not written by Pulse', () => {
  it('a reader and a sink deliver every Pulse-shaped entry in order, and skip and count the others', async () => {
    opened = new Opened()
    const s = opened.add(new Stream(redisUrl(), opened.name('s')))
    const reader = opened.add(await s.newReader({ ...fast, start: 'oldest' }))
    const sink = opened.add(await s.newSink(opened.name('k'), { ...fastSink, start: 'oldest' }))
    const fromReader = reader.subscribe()
    const fromSink = sink.subscribe()
    let malformed = 0
    await fc.assert(
      fc.asyncProperty(fc.array(entryOf(['n', 'p', 't', 'x']), { minLength: 1, maxLength: 12 }), async (entries) => {
        for (const pairs of entries) await raw.xaddBuffer(s.key, '*', ...pairs.flat())
        await s.add('sentinel', 'end')
        const valid = entries.map(expectedEvent).filter((e) => e !== undefined)
        const expected = [...valid, { name: 'sentinel', payload: Buffer.from('end').toString('hex'), topic: undefined }]
        malformed += entries.length - valid.length
        expect((await take(fromReader, expected.length, 10_000)).map(seen)).toEqual(expected)
        expect(reader.stats().malformed).toBe(malformed)
        const delivered = await take(fromSink, expected.length, 10_000)
        expect(delivered.map(seen)).toEqual(expected)
        await sink.ackMany(delivered)
        await sink.flush()
        await eventually(async () => ((await raw.xpending(s.key, sink.name)) as [number])[0] === 0, 5_000, 'acks')
        expect((await sink.stats()).malformed).toBe(malformed)
      }),
      { numRuns: 40 },
    )
  })
})

describe('bus entries not written by Pulse', () => {
  it('a subscription and an SSE subscriber deliver every entry with an id and a subject that matches', async () => {
    const prefix = `${testPrefix()}bus:`
    const bus = await Bus.connect(redisUrl(), { namespaces: ['a'], keyPrefix: prefix, heartbeatMs: 1_000 })
    const server = await BusServer.listen({ bus, port: 0 })
    opened = new Opened()
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              entryOf(['i', 's', 'c', 'p', 'k', 't', 'r', 'x']),
              // Well-formed but hostile: ids with line breaks and NUL, subjects of every kind, payloads not JSON.
              fc.tuple(bytes, bytes, bytes, fc.boolean()).map(
                ([id, tail, payload, ns]) =>
                  [
                    [Buffer.from('i'), id],
                    [Buffer.from('s'), Buffer.concat([Buffer.from(ns ? 'a.' : ''), tail])],
                    [Buffer.from('p'), payload],
                  ] as Pair[],
              ),
            ),
            { minLength: 1, maxLength: 10 },
          ),
          async (entries) => {
            const sub = bus.get('a.>', { start: 'newest' })
            await sub.ready
            const sse = await openSse(`${server.url}/?subject=a.%3E`)
            try {
              for (const pairs of entries) await raw.xaddBuffer(bus.keys.log('a'), '*', ...pairs.flat())
              const last = await bus.put('a.sentinel', { end: true })
              const expected = entries
                .map((pairs) => ({ id: field(pairs, 'i'), subject: field(pairs, 's')?.toString('utf8') }))
                .filter((e) => e.id !== undefined && e.subject !== undefined && matchSubject(e.subject, 'a.>'))
                .map((e) => e.subject)
              const got = await take(sub, expected.length + 1, 10_000)
              expect(got.map((e) => e.subject)).toEqual([...expected, 'a.sentinel'])
              await sse.waitFor(last.id)
              const frames = sseFrames(sse.text()).filter((f) => f.event === 'msg')
              expect(frames).toHaveLength(expected.length + 1)
              expect(frames.at(-1)?.id).toBe(last.id)
            } finally {
              sse.req.destroy()
              await sub.return()
            }
          },
        ),
        { numRuns: 40 },
      )
    } finally {
      await server.close()
      await bus.close()
      await deleteByPrefix(raw, prefix)
    }
  })

  it('regression: an entry whose id holds a line break no longer ends every SSE subscriber', async () => {
    const prefix = `${testPrefix()}bus:`
    const bus = await Bus.connect(redisUrl(), { namespaces: ['a'], keyPrefix: prefix, heartbeatMs: 1_000 })
    const server = await BusServer.listen({ bus, port: 0 })
    opened = new Opened()
    const sse = await openSse(`${server.url}/?subject=a.%3E`)
    try {
      // The counterexample: before, the stream ended with `event: error` (SSE id must not contain line breaks).
      await raw.xadd(bus.keys.log('a'), '*', 'i', '\r\n', 's', 'a.', 'p', '')
      const next = await bus.put('a.next', 1)
      await sse.waitFor(next.id)
      const frames = sseFrames(sse.text()).filter((f) => f.event === 'msg')
      expect(frames.map((f) => [f.id, (JSON.parse(f.data) as { id: string }).id])).toEqual([
        [undefined, '\r\n'],
        [next.id, next.id],
      ])
    } finally {
      sse.req.destroy()
      await server.close()
      await bus.close()
      await deleteByPrefix(raw, prefix)
    }
  })
})
