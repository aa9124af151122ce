/**
 * Fuzzing the mailbox message codec (runtime/ring/codec.ts) and a runtime fed what it cannot decode:
 * every value the codec carries round-trips; arbitrary, truncated and bit-flipped bodies and frames
 * decode or throw `ProtocolError`, never a msgpackr `Error` or a `RangeError`; and a reply, ask or
 * emit that does not decode fails alone while the runtime's pump keeps going.
 */
import { isDeepStrictEqual } from 'node:util'

import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'

import { ERROR_CODES, type ErrorCode, ProtocolError, PulseError, fromWire } from '../../../runtime/errors.js'
import {
  BodyFormat,
  decodeBody,
  encodeBody,
  encodeHeader,
  FrameKind,
  kEnvelopeBytes,
  readEnvelope,
  writeMessage,
} from '../../../runtime/ring/codec.js'
import { kDataOffset } from '../../../runtime/ring/layout.js'
import { createRingBuffer, RingReader, RingWriter } from '../../../runtime/ring/ring-buffer.js'
import { Runtime } from '../../../runtime/runtime.js'
import type { OddMsg } from './fixtures/odd-replies.js'

const odd = new URL('./fixtures/odd-replies.ts', import.meta.url)

/** Decodes, or returns the error thrown; fails the property on anything but a `ProtocolError`. */
function decodeOrRefuse(format: number, body: Uint8Array): unknown {
  try {
    return decodeBody(format, body)
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError)
    expect((error as ProtocolError).code).toBe('PULSE_ERR_PROTOCOL')
    return error
  }
}

// Values the codec carries unchanged. Left out on purpose: -0 (MessagePack has one zero), a key named
// `__proto__` (msgpackr renames it, a prototype-pollution guard) and Maps (they arrive as objects).
const key = fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => k !== '__proto__')
const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.integer(),
  fc.double().filter((x) => !Object.is(x, -0)),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
  fc.boolean(),
  fc.constant(null),
  fc.date({ noInvalidDate: true }),
)
const { value: carried } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
    fc.array(leaf, { maxLength: 5 }).map((items) => new Set(items)),
  ),
}))

const wireError = fc
  .record({
    code: fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])),
    message: fc.string({ unit: 'binary', maxLength: 40 }),
    data: fc.option(fc.dictionary(key, fc.oneof(fc.string(), fc.integer(), fc.boolean()), { maxKeys: 3 }), {
      nil: undefined,
    }),
  })
  .map(({ code, message, data }) => new PulseError(code, message, data === undefined ? {} : { data }))

/** A valid body of every format, as the codec writes it. */
const validBody = fc
  .oneof(carried, wireError, fc.uint8Array({ maxLength: 64 }), fc.string({ maxLength: 64 }), fc.constant(undefined))
  .map((value) => {
    const [format, body] = encodeBody(value)
    return { format, body: Buffer.from(body) }
  })

describe('ring codec: round trip', () => {
  it('decodes every value it carries back to an equal value', () => {
    fc.assert(
      fc.property(carried, (value) => {
        const [format, body] = encodeBody(value)
        expect(isDeepStrictEqual(decodeBody(format, Buffer.from(body)), value)).toBe(true)
      }),
      { numRuns: 1_000 },
    )
  })

  it('carries bytes as a Buffer, text as UTF-8, undefined as nothing and errors as their class and code', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.string({ unit: 'grapheme', maxLength: 32 }),
        wireError,
        (b, s, e) => {
          expect(decodeBody(...encodeBody(b))).toEqual(Buffer.from(b))
          expect(decodeBody(...encodeBody(s))).toBe(s)
          expect(decodeBody(...encodeBody(undefined))).toBeUndefined()
          const back = decodeBody(...encodeBody(e)) as PulseError
          expect(back).toBeInstanceOf(fromWire({ name: 'x', message: 'm', code: e.code }).constructor)
          expect([back.code, back.message, back.data]).toEqual([e.code, e.message, e.data])
        },
      ),
      { numRuns: 300 },
    )
  })

  it('encodes the envelope header so that readEnvelope gives back kind, format, slot and corr', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(FrameKind)),
        fc.constantFrom(...Object.values(BodyFormat)),
        fc.integer({ min: 0, max: 0xffff }),
        fc.nat({ max: 0xffffffff }),
        fc.uint8Array({ maxLength: 16 }),
        (kind, format, slot, corr, body) => {
          const frame = Buffer.concat([encodeHeader(kind, format, slot, corr), body])
          const env = readEnvelope(frame)
          expect([env.kind, env.format, env.slot, env.corr]).toEqual([kind, format, slot, corr])
          expect(Buffer.from(env.body)).toEqual(Buffer.from(body))
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('ring codec: hostile bodies', () => {
  it('arbitrary values: encoded, then decoded or refused with ProtocolError (a Map keyed by objects)', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withSparseArray: true,
          withNullPrototype: true,
          withBoxedValues: true,
          withObjectString: true,
          withUnicodeString: true,
        }),
        (value) => {
          const [format, body] = encodeBody(value)
          decodeOrRefuse(format, Buffer.from(body))
        },
      ),
      { numRuns: 500 },
    )
  })

  it('random bytes in every format: decoded or refused with ProtocolError', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1, max: 8 }), fc.uint8Array({ maxLength: 96 }), (format, bytes) => {
        const out = decodeOrRefuse(format, bytes)
        if (format === BodyFormat.Error && !(out instanceof ProtocolError)) expect(out).toBeInstanceOf(Error)
      }),
      { numRuns: 2_000 },
    )
  })

  it('bit-flipped and truncated valid bodies: decoded or refused with ProtocolError', () => {
    fc.assert(
      fc.property(validBody, fc.nat(), fc.nat(7), fc.nat(), (valid, at, bit, cut) => {
        const flipped = Buffer.from(valid.body)
        if (flipped.length > 0) flipped[at % flipped.length] = (flipped[at % flipped.length] as number) ^ (1 << bit)
        decodeOrRefuse(valid.format, flipped)
        decodeOrRefuse(valid.format, valid.body.subarray(0, cut % (valid.body.length + 1)))
      }),
      { numRuns: 2_000 },
    )
  })

  it('hostile MessagePack: huge announced lengths, unknown extensions, deep nesting', () => {
    const hostile = [
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // array32 of 2^32-1 items, none present
      Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 likewise
      Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 1]), // bin32 of 4 GiB, one byte present
      Buffer.from([0xdb, 0x7f, 0xff, 0xff, 0xff]), // str32
      Buffer.from([0xd4, 0x33, 0x00]), // fixext1 of an unknown type
      Buffer.from([0xc7, 0x05, 0x65, 1]), // ext8 of the structured-clone kind, cut
      Buffer.alloc(200_000, 0x91), // 200,000 nested one-item arrays, no leaf
      Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]),
      Buffer.concat([Buffer.alloc(2_000, 0x81), Buffer.alloc(1, 0xc0)]), // nested maps, null key
    ]
    for (const bytes of hostile) {
      for (const format of [BodyFormat.Pack, BodyFormat.Error]) decodeOrRefuse(format, bytes)
    }
  })

  it('an error record nested past the cause bound, or of the wrong shape, is rebuilt or refused', () => {
    let record: Record<string, unknown> = { name: 'Error', message: 'leaf' }
    for (let i = 0; i < 500; i++) record = { name: 'Error', message: `level ${i}`, cause: record }
    const [, body] = encodeBody(record)
    const rebuilt = decodeOrRefuse(BodyFormat.Error, Buffer.from(body))
    expect(rebuilt).toBeInstanceOf(Error)
    for (const shape of [1, 'text', [1, 2], { name: 1, message: 'm' }, { name: 'E', message: 'm', cause: 5 }, null]) {
      const [, bytes] = encodeBody(shape)
      expect(decodeOrRefuse(BodyFormat.Error, Buffer.from(bytes))).toBeInstanceOf(ProtocolError)
    }
  })
})

describe('ring codec: hostile frames in a ring', () => {
  it('frames whose envelope and body bytes were flipped in the ring: each decoded or refused, the rest intact', () => {
    fc.assert(
      fc.property(
        fc.array(carried, { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(7)), { maxLength: 4 }),
        (values, flips) => {
          const buffer = createRingBuffer(4096)
          const writer = new RingWriter(buffer)
          const reader = new RingReader(buffer)
          const spans: [number, number][] = []
          let offset = 0
          for (const [i, value] of values.entries()) {
            const [, body] = encodeBody(value)
            const length = kEnvelopeBytes + body.length
            if (!writeMessage(writer, FrameKind.Tell, i, i, value)) break
            spans.push([offset + 4, offset + 4 + length])
            offset += 4 + ((length + 3) & ~3)
          }
          // Flip bits inside payloads only: the length words are the ring's own, not a decoder's input.
          const data = new Uint8Array(buffer, kDataOffset)
          const hit = new Set<number>()
          for (const [at, bit] of flips) {
            const [start, end] = spans[at % spans.length] as [number, number]
            if (end === start) continue
            const index = start + (at % (end - start))
            data[index] = (data[index] as number) ^ (1 << bit)
            hit.add(at % spans.length)
          }
          let seen = 0
          reader.drain((payload) => {
            const env = readEnvelope(payload)
            const out = decodeOrRefuse(env.format, env.body)
            if (!hit.has(seen)) {
              expect([env.kind, env.slot, env.corr]).toEqual([FrameKind.Tell, seen, seen])
              expect(isDeepStrictEqual(out, values[seen])).toBe(true)
            }
            seen++
          })
          expect(seen).toBe(spans.length)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('a frame shorter than an envelope is refused with ProtocolError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: kEnvelopeBytes - 1 }), (bytes) => {
        expect(() => readEnvelope(bytes)).toThrow(ProtocolError)
      }),
      { numRuns: 100 },
    )
  })
})

describe('a runtime fed messages that do not decode', () => {
  let rt: Runtime | undefined
  afterEach(async () => {
    await rt?.close()
    rt = undefined
  })

  it('fails that reply, ask or emit with ProtocolError, and keeps answering the next ones', async () => {
    rt = await Runtime.start({ closeTimeoutMs: 5_000 })
    const errors: Error[] = []
    rt.on('error', (error) => errors.push(error))
    const ref = await rt.spawn<OddMsg | { op: 'ok'; value: unknown }, unknown, undefined>(odd, { name: 'odd' })
    const emitted: unknown[] = []
    ref.onMessage((msg) => emitted.push(msg))
    // A reply that encodes but does not decode: before, it stopped the pump and every later ask timed out.
    const reply = await ref.ask({ op: 'odd-reply' }, { timeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(reply).toBeInstanceOf(ProtocolError)
    expect(await ref.ask({ op: 'ok' }, { timeoutMs: 5_000 })).toBe(1)
    // An ask whose message does not decode on the actor's thread: refused, the actor unharmed.
    const ask = await ref.ask({ op: 'ok', value: new Map([[{}, 1]]) }, { timeoutMs: 5_000 }).catch((e: unknown) => e)
    expect(ask).toBeInstanceOf(ProtocolError)
    // An emit that does not decode is reported on 'error'; the emit after it still arrives.
    expect(await ref.ask({ op: 'odd-emit' }, { timeoutMs: 5_000 })).toBe('emitted')
    await expect.poll(() => emitted).toEqual(['after'])
    await expect.poll(() => errors.length).toBe(1)
    expect(errors[0]).toBeInstanceOf(ProtocolError)
    expect(await ref.ask({ op: 'ok' }, { timeoutMs: 5_000 })).toBe(3)
  })
})
