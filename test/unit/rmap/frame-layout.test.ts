/**
 * The frame codec of transports/redis/rmap: decode(encode(f)) = f for any key, value and revision, the
 * byte layout of each operation, and malformed input never throws (its edges: frames.test.ts).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { decodeFrame, encodeFrame, parseRevision } from '../../../transports/redis/rmap/index.js'
import type { MapFrame } from '../../../transports/redis/rmap/index.js'

const rev = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const frame: fc.Arbitrary<MapFrame> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    key: fc.string({ unit: 'grapheme' }),
    value: fc.string({ unit: 'grapheme' }),
    rev,
  }),
  fc.record({ op: fc.constant('del' as const), key: fc.string({ unit: 'grapheme' }), rev }),
  fc.record({ op: fc.constant('reset' as const), rev }),
  fc.record({ op: fc.constant('destroy' as const), rev }),
)

describe('update frames', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(frame, (f) => {
        expect(decodeFrame(encodeFrame(f))).toEqual(f)
      }),
    )
  })

  it('lay out set as set:<u32le len><key><u32le len><value><u32le len><rev>', () => {
    expect(encodeFrame({ op: 'set', key: 'key', value: 'v', rev: 1 }).toString('hex')).toBe(
      '7365743a030000006b6579010000007601000000' + '31',
    )
    expect(encodeFrame({ op: 'del', key: 'é', rev: 12 }).toString('hex')).toBe('64656c3a02000000c3a9020000003132')
    expect(encodeFrame({ op: 'destroy', rev: 9 }).toString()).toBe('destroy:9')
  })

  it('never throw on malformed input, saying what is wrong', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const decoded = decodeFrame(Buffer.from(bytes))
        expect(typeof decoded === 'string' || typeof decoded === 'object').toBe(true)
      }),
    )
    expect(decodeFrame(Buffer.from('set:\x05\x00\x00\x00ab'))).toMatch(/set: field 1/)
    expect(decodeFrame(Buffer.from('reset:*'))).toMatch(/bad revision/)
    expect(decodeFrame(Buffer.concat([encodeFrame({ op: 'del', key: 'k', rev: 1 }), Buffer.from('x')]))).toMatch(
      /trailing/,
    )
    expect(parseRevision('-1')).toBeUndefined()
    expect(parseRevision('99999999999999999')).toBeUndefined()
    expect(parseRevision('42')).toBe(42)
  })
})
