import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { crc64xz, jumpConsistentHash, jumpHash, routeKey } from '../../../actors/pool/jump-hash.js'
import { InvalidArgumentError, NoActiveWorkerError } from '../../../runtime/errors.js'

describe('crc64xz', () => {
  it('gives the CRC-64/XZ check value', () => {
    expect(crc64xz('123456789')).toBe(0x995dc9bbdf1939fan)
    expect(crc64xz(Buffer.from('123456789'))).toBe(0x995dc9bbdf1939fan)
  })

  it('is 0 for no bytes (init and xorout cancel)', () => {
    expect(crc64xz('')).toBe(0n)
    expect(crc64xz(new Uint8Array())).toBe(0n)
  })

  it('hashes a string as its UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        expect(crc64xz(text)).toBe(crc64xz(Buffer.from(text, 'utf8')))
      }),
    )
  })

  it('matches a bit-by-bit BigInt reference on random bytes', () => {
    const reference = (bytes: Uint8Array): bigint => {
      let crc = (1n << 64n) - 1n
      for (const byte of bytes) {
        crc ^= BigInt(byte)
        for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ 0xc96c5795d7870f42n : crc >> 1n
      }
      return crc ^ ((1n << 64n) - 1n)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(crc64xz(bytes)).toBe(reference(bytes))
      }),
    )
  })

  it('reads a view at its offset', () => {
    const whole = Buffer.from('xx123456789yy')
    expect(crc64xz(whole.subarray(2, 11))).toBe(0x995dc9bbdf1939fan)
  })
})

// The vectors of docs/redis-layout.md, "Routing", computed with Go's crc64 and jump hash.
describe('jumpHash: the same buckets as goa.design/pulse v1.6.5', () => {
  const vectors: [string, number[]][] = [
    ['a', [0, 0, 0, 0, 9]],
    ['job1', [0, 0, 2, 2, 2]],
    ['job2', [0, 0, 0, 3, 9]],
    ['alpha', [0, 0, 2, 2, 2]],
    ['beta', [0, 1, 1, 1, 1]],
    ['ca/santa-barbara', [0, 0, 2, 4, 6]],
    ['', [0, 0, 0, 0, 0]],
  ]
  it.each(vectors)('%j over 1, 2, 3, 5, 10 buckets', (key, expected) => {
    expect([1, 2, 3, 5, 10].map((n) => jumpHash(key, n))).toEqual(expected)
    expect([1, 2, 3, 5, 10].map((n) => routeKey(key, n))).toEqual(expected)
  })
})

describe('jumpConsistentHash', () => {
  const key64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })

  it('is in range', () => {
    fc.assert(
      fc.property(key64, fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        const b = jumpConsistentHash(key, n)
        expect(Number.isInteger(b) && b >= 0 && b < n).toBe(true)
      }),
    )
  })

  it('is monotone: from n to n + 1 buckets a key stays or moves to bucket n', () => {
    fc.assert(
      fc.property(key64, fc.integer({ min: 1, max: 2_000 }), (key, n) => {
        const before = jumpConsistentHash(key, n)
        const after = jumpConsistentHash(key, n + 1)
        expect(after === before || after === n).toBe(true)
      }),
    )
  })

  it('moves about 1/(n+1) of the keys when a bucket is added, all of them to it', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `user:${i}`)
    for (const n of [1, 4, 9]) {
      let moved = 0
      for (const key of keys) {
        const after = jumpHash(key, n + 1)
        if (after !== jumpHash(key, n)) {
          expect(after).toBe(n)
          moved++
        }
      }
      expect(moved / keys.length).toBeCloseTo(1 / (n + 1), 1)
    }
  })

  it('spreads keys roughly uniformly', () => {
    const n = 8
    const counts = new Array<number>(n).fill(0)
    const total = 40_000
    for (let i = 0; i < total; i++) counts[jumpHash(`job-${i}`, n)]! += 1
    for (const count of counts) expect(Math.abs(count - total / n)).toBeLessThan((total / n) * 0.05)
  })

  it('takes a key modulo 2^64', () => {
    expect(jumpConsistentHash(-1n, 10)).toBe(jumpConsistentHash((1n << 64n) - 1n, 10))
    expect(jumpConsistentHash(1n << 64n, 7)).toBe(jumpConsistentHash(0n, 7))
  })

  it('refuses a bucket count that is not a positive integer', () => {
    for (const n of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => jumpConsistentHash(1n, n)).toThrow(InvalidArgumentError)
    }
    expect(() => jumpHash('a', 0)).toThrow(/buckets must be an integer between 1 and 2147483647 \(got 0\)/)
  })
})

describe('routeKey', () => {
  it('throws NoActiveWorkerError without active workers', () => {
    expect(() => routeKey('a', 0)).toThrow(NoActiveWorkerError)
    expect(() => routeKey('a', -1)).toThrow(InvalidArgumentError)
  })
})
