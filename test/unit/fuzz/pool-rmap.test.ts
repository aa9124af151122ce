/**
 * Fuzzing what the pool and the replicated maps read from Redis that other processes wrote, where
 * the existing properties do not reach (pool/codec.test.ts covers the pool's binary encoding, random
 * and corrupted; rmap/frames.test.ts covers random frames): rmap update frames mutated from valid ones
 * (flipped bits, cut, lengths rewritten), the map's list values and snapshots, and the pool's text
 * values (keep-alives, worker entries, pending guards, job-key lists, Go durations, ticker entries).
 * Each is read, or comes back as "malformed" (a string or `undefined`), never a throw.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { parseSnapshot } from '../../../actors/rmap/hash-content.js'
import { parseListValue } from '../../../actors/rmap/list-value.js'
import {
  formatGoDuration,
  formatTickerEntry,
  nextTickEntry,
  parseGoDuration,
  parseJobKeyList,
  parseTickerEntry,
  parseUnixNanos,
  parseWorkerEntry,
  pendingGuardState,
} from '../../../transports/redis/pool/values.js'
import { decodeFrame, encodeFrame, type MapFrame } from '../../../transports/redis/rmap/index.js'

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({
    unit: fc.constantFrom('1', '0', '9', '-', '+', '.', '|', ',', '[', ']', '"', 's', 'm', 'h', 'µ', 'μ', 'n', ' '),
  }),
  fc.constantFrom('', '-', '{}', '[]', '[1,"a"]', '9'.repeat(30), '1|1s', '1|0s', '-9223372036854775808|1ns'),
)

const frame: fc.Arbitrary<MapFrame> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    key: fc.string({ unit: 'binary' }),
    value: fc.string({ unit: 'binary' }),
    rev: fc.nat(),
  }),
  fc.record({ op: fc.constant('del' as const), key: fc.string({ unit: 'binary' }), rev: fc.nat() }),
  fc.record({ op: fc.constantFrom('reset' as const, 'destroy' as const), rev: fc.nat() }),
)

describe('rmap frames mutated from valid ones', () => {
  it('decode to a frame that re-encodes to itself, or to a string saying what is wrong', () => {
    fc.assert(
      fc.property(frame, fc.nat(), fc.nat(7), fc.nat(), fc.nat({ max: 0xffffffff }), (valid, at, bit, cut, length) => {
        const bytes = encodeFrame(valid)
        const flipped = Buffer.from(bytes)
        flipped[at % flipped.length] = (flipped[at % flipped.length] as number) ^ (1 << bit)
        const relength = Buffer.from(bytes)
        const colon = relength.indexOf(0x3a)
        if (relength.length >= colon + 5) relength.writeUInt32LE(length, colon + 1)
        for (const input of [flipped, bytes.subarray(0, cut % bytes.length), relength]) {
          const decoded = decodeFrame(input)
          if (typeof decoded === 'string') continue
          expect(decodeFrame(encodeFrame(decoded))).toEqual(decoded)
        }
      }),
      { numRuns: 2_000 },
    )
  })
})

describe('rmap values read from the hash', () => {
  it('a list value of any text is a list of strings; a JSON list of strings round-trips', () => {
    fc.assert(
      fc.property(text, fc.array(fc.string({ unit: 'binary' }), { maxLength: 5 }), (value, items) => {
        expect(parseListValue(value).every((item) => typeof item === 'string')).toBe(true)
        expect(parseListValue(JSON.stringify(items))).toEqual(items)
      }),
      { numRuns: 1_000 },
    )
  })

  it('a snapshot of any fields keeps every entry but the reserved ones; a bad revision reads as 0', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(text, fc.constantFrom('=rev', '=kind', '__proto__')), text), (raw) => {
        const snapshot = parseSnapshot(raw)
        expect(Number.isSafeInteger(snapshot.rev) && snapshot.rev >= 0).toBe(true)
        const entries = Object.entries(raw).filter(([key]) => key !== '=rev' && key !== '=kind')
        expect([...snapshot.content]).toEqual(entries)
      }),
      { numRuns: 1_000 },
    )
  })
})

describe('pool values read from Redis', () => {
  it('any text is read or reported malformed, never a throw; what is read formats back to the same value', () => {
    fc.assert(
      fc.property(text, fc.bigInt({ min: 0n, max: 2n ** 62n }), (value, now) => {
        const nanos = parseUnixNanos(value)
        if (nanos !== undefined) expect(parseUnixNanos(nanos.toString())).toBe(nanos)
        parseWorkerEntry(value)
        expect(['active', 'stale', 'malformed']).toContain(pendingGuardState(value, now))
        expect(parseJobKeyList(value).every((key) => typeof key === 'string')).toBe(true)
        const duration = parseGoDuration(value)
        if (duration !== undefined) expect(parseGoDuration(formatGoDuration(duration))).toBe(duration)
        const ticker = parseTickerEntry(value)
        if (ticker !== undefined) {
          expect(parseTickerEntry(formatTickerEntry(ticker))).toEqual(ticker)
          expect(nextTickEntry(ticker, now).nextAtUs).toBeGreaterThanOrEqual(now)
        }
      }),
      { numRuns: 2_000 },
    )
  })

  it('a ticker entry of any int64 time and any Go duration is read and advanced past now', () => {
    const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
    fc.assert(
      fc.property(
        int64,
        fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }),
        fc.bigInt({ min: 0n, max: 2n ** 52n }),
        (at, period, nowUs) => {
          const entry = parseTickerEntry(`${at}|${formatGoDuration(period)}`)
          expect(entry).toEqual({ nextAtUs: at, periodNs: period })
          if (entry === undefined) return
          const next = nextTickEntry(entry, nowUs)
          expect(next.nextAtUs).toBeGreaterThanOrEqual(nowUs)
        },
      ),
      { numRuns: 1_000 },
    )
  })
})
