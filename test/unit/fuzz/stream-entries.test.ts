/**
 * Fuzzing the decoders of stream entries and read replies, without a server: the streaming entry
 * decoder (transports/redis/streaming/entry.ts) and the ioredis-reply parser (actors/streaming/
 * cursor.ts) against the RESP scanner of the sink reader (transports/redis/streaming/read-reply.ts) —
 * two decoders, one reading — and the bus's entry decoder (transports/redis/bus/entry.ts). Replies
 * of any shape never throw from the entry decoders; cut or bit-flipped RESP bytes make the scanner ask
 * for more, decode, or throw an `Error` that its connection turns into `RedisConnectionError`.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { columnsOf, parseEntries, parseReadReply } from '../../../actors/streaming/cursor.js'
import { decodeBusEntries, decodeBusEntry } from '../../../transports/redis/bus/entry.js'
import { decodeEntry } from '../../../transports/redis/streaming/entry.js'
import { decodeReadReply, type ReadColumns } from '../../../transports/redis/streaming/read-reply.js'

type Resp = Buffer | null | number | Resp[]

/** RESP2 bytes of a reply: bulk strings, nil arrays, integers and arrays. */
function resp(value: Resp): Buffer {
  if (value === null) return Buffer.from('*-1\r\n')
  if (typeof value === 'number') return Buffer.from(`:${value}\r\n`)
  if (Array.isArray(value)) return Buffer.concat([Buffer.from(`*${value.length}\r\n`), ...value.map(resp)])
  return Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')])
}

const bytes = fc.oneof(
  fc.uint8Array({ maxLength: 10 }).map((b) => Buffer.from(b)),
  fc.constantFrom('n', 'p', 't', 'x', 'i', 's', '', '\r\n', '$3', '*-1', 'é').map((s) => Buffer.from(s)),
)
/** An entry's fields as XREAD returns them: pairs of bulk strings, now and then an odd count or a stray type. */
const fields: fc.Arbitrary<Resp[] | null> = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.tuple(bytes, bytes), { maxLength: 5 }).map((pairs) => pairs.flat()) },
  { weight: 1, arbitrary: fc.array(bytes, { minLength: 1, maxLength: 5 }).filter((list) => list.length % 2 === 1) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.oneof(bytes, fc.integer({ min: -5, max: 5 }), fc.constant([] as Resp[])), { maxLength: 4 })
      .map((list) => (list.length % 2 === 0 ? list : [...list, Buffer.from('x')])),
  },
  { weight: 1, arbitrary: fc.constant(null) },
)
const entryId = fc.tuple(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 99 })).map(([ms, seq]) => Buffer.from(`${ms}-${seq}`))
const reply: fc.Arbitrary<Resp[]> = fc.array(
  fc.tuple(
    fc.string({ minLength: 1, maxLength: 6 }).map((k) => Buffer.from(k)),
    fc.array(fc.tuple(entryId, fields), { maxLength: 6 }),
  ),
  { minLength: 1, maxLength: 3 },
)

/** What ioredis makes of a reply read as buffers: integers as numbers, nils as null. */
function ioredis(streams: Resp[]): unknown {
  return streams.map((stream) => {
    const [key, entries] = stream as [Buffer, [Buffer, Resp[] | null][]]
    return [key, entries.map(([id, f]) => [id, f])]
  })
}

/** The columns' entries as plain records, payloads as hex. */
function rows(columns: ReadColumns): unknown[] {
  return columns.ids.map((id, i) => ({
    id,
    name: columns.names[i],
    topic: columns.topics?.[i],
    trace: columns.traces?.[i],
    payload: columns.src.toString('hex', columns.starts[i], columns.ends[i]),
  }))
}

describe('stream read replies', () => {
  it('the RESP scanner and the ioredis-reply parser read every reply alike: entries, malformed ids, last id', () => {
    fc.assert(
      fc.property(reply, (streams) => {
        const bytes = resp(streams)
        const scanned = decodeReadReply(bytes, 0)
        expect(scanned?.end).toBe(bytes.length)
        const parsed = parseReadReply(ioredis(streams)).map(columnsOf)
        expect(scanned?.value?.map(rows)).toEqual(parsed.map(rows))
        expect(scanned?.value?.map((c) => [c.key, c.malformed, c.lastId])).toEqual(
          parsed.map((c) => [c.key, c.malformed, c.lastId]),
        )
      }),
      { numRuns: 1_000 },
    )
  })

  it('cut or bit-flipped reply bytes: more bytes wanted, a decoded reply, or an Error — never anything else', () => {
    fc.assert(
      fc.property(reply, fc.nat(), fc.nat(7), fc.nat(), (streams, at, bit, cut) => {
        const whole = resp(streams)
        const flipped = Buffer.from(whole)
        flipped[at % flipped.length] = (flipped[at % flipped.length] as number) ^ (1 << bit)
        for (const input of [flipped, whole.subarray(0, cut % whole.length)]) {
          try {
            const decoded = decodeReadReply(input, 0)
            if (decoded !== undefined) expect(decoded.end).toBeLessThanOrEqual(input.length)
          } catch (error) {
            expect(error).toBeInstanceOf(Error)
          }
        }
      }),
      { numRuns: 1_000 },
    )
  })

  it('a reply nested past any stack, or announcing more than it holds, is refused or waited for', () => {
    const deep = Buffer.from(
      '*1\r\n*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nn\r\n' + '*1\r\n'.repeat(100_000),
    )
    expect(() => decodeReadReply(deep, 0)).toThrow(Error)
    expect(decodeReadReply(Buffer.from('*1\r\n*2\r\n$999999999999\r\n'), 0)).toBeUndefined()
    expect(decodeReadReply(Buffer.from(`*${'9'.repeat(400)}\r\n`), 0)).toBeUndefined()
  })
})

describe('entries of any shape', () => {
  const junk = fc.oneof(
    fc.anything({ maxDepth: 2 }),
    fc.array(fc.oneof(bytes, fc.string(), fc.constant(null), fc.integer()), { maxLength: 6 }),
  )

  it('the streaming and bus entry decoders never throw: an entry, or undefined (skipped and counted)', () => {
    fc.assert(
      fc.property(fc.string(), junk, (id, value) => {
        const entry = decodeEntry(id, value)
        if (entry !== undefined) expect(Buffer.isBuffer(entry.payload)).toBe(true)
        const bus = decodeBusEntry(id, value)
        if (bus !== undefined) expect(typeof bus.id === 'string' && typeof bus.subject === 'string').toBe(true)
        const batch = parseEntries('k', [[id, value], value])
        expect(batch.entries.length + batch.malformed.length).toBeLessThanOrEqual(2)
        const decoded = decodeBusEntries([[Buffer.from(id), value], value, [id]])
        expect(decoded.entries.length + decoded.malformed).toBeLessThanOrEqual(3)
      }),
      { numRuns: 1_000 },
    )
  })

  it('a bus entry with an id and a subject is read whatever bytes the other fields hold', () => {
    fc.assert(
      fc.property(bytes, bytes, fc.array(fc.tuple(bytes, bytes), { maxLength: 4 }), (id, subject, rest) => {
        const entry = decodeBusEntry('1-0', [...rest.flat(), Buffer.from('i'), id, Buffer.from('s'), subject])
        expect([entry?.id, entry?.subject]).toEqual([id.toString('utf8'), subject.toString('utf8')])
      }),
      { numRuns: 500 },
    )
  })
})
