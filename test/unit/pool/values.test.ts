import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import {
  formatGoDuration,
  formatTickerEntry,
  formatUnixNanos,
  isWithinHorizon,
  msToUnixNanos,
  nextTickEntry,
  parseGoDuration,
  parseJobKeyList,
  parseTickerEntry,
  parseUnixNanos,
  parseWorkerEntry,
  pendingGuardState,
  unixNanosToMs,
} from '../../../transports/redis/pool/values.js'

const int64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })

describe('unix nanos', () => {
  it('are decimal int64 text, as strconv writes and parses it', () => {
    expect(formatUnixNanos(1_700_000_000_000_000_001n)).toBe('1700000000000000001')
    expect(parseUnixNanos('1700000000000000001')).toBe(1_700_000_000_000_000_001n)
    expect(parseUnixNanos('+5')).toBe(5n)
    expect(parseUnixNanos('-5')).toBe(-5n)
    expect(parseUnixNanos('9223372036854775807')).toBe((1n << 63n) - 1n)
    for (const bad of ['', ' 1', '1 ', '1e9', '0x10', '9223372036854775808', '1_000', '-', '1.5'])
      expect(parseUnixNanos(bad)).toBeUndefined()
    fc.assert(
      fc.property(int64, (ns) => {
        expect(parseUnixNanos(formatUnixNanos(ns))).toBe(ns)
      }),
    )
  })

  it('convert from and to milliseconds', () => {
    expect(msToUnixNanos(1_700_000_000_123)).toBe(1_700_000_000_123_000_000n)
    expect(msToUnixNanos(1.5)).toBe(1_500_000n)
    expect(unixNanosToMs(1_700_000_000_123_500_000n)).toBe(1_700_000_000_123.5)
  })

  it('are within a horizon or stale; malformed is stale', () => {
    const now = 10_000_000_000n
    expect(isWithinHorizon(String(now - 30_000_000_000n + 1n), now + 0n, 30_000)).toBe(true)
    expect(isWithinHorizon(String(now), now, 0)).toBe(true)
    expect(isWithinHorizon(String(now - 1_000_001n), now, 1)).toBe(false)
    expect(isWithinHorizon('garbage', now, 30_000)).toBe(false)
    expect(isWithinHorizon(undefined, now, 30_000)).toBe(false)
  })
})

describe('P:workers values', () => {
  it('are a creation time or "-"', () => {
    expect(parseWorkerEntry('-')).toEqual({ removing: true })
    expect(parseWorkerEntry('1700000000000000000')).toEqual({
      removing: false,
      createdAtNs: 1_700_000_000_000_000_000n,
    })
    expect(parseWorkerEntry('soon')).toBeUndefined()
  })
})

describe('pending guards', () => {
  it('compare as the claim script does', () => {
    const now = 1_700_000_000_000_000_000n
    expect(pendingGuardState('1700000000000000000', now)).toBe('active')
    expect(pendingGuardState('1700000000000000001', now)).toBe('active')
    expect(pendingGuardState('1699999999999999999', now)).toBe('stale')
    expect(pendingGuardState('99999999999999999', now)).toBe('stale')
    expect(pendingGuardState('10000000000000000000', now)).toBe('active')
    for (const bad of ['', '-1', '1.5', 'x', ' 1']) expect(pendingGuardState(bad, now)).toBe('malformed')
  })

  it('agree with numeric comparison for canonical digits', () => {
    const positive = fc.bigInt({ min: 0n, max: (1n << 63n) - 1n })
    fc.assert(
      fc.property(positive, positive, (guard, now) => {
        expect(pendingGuardState(guard.toString(), now)).toBe(guard >= now ? 'active' : 'stale')
      }),
    )
  })
})

describe('P:jobs values', () => {
  it('are JSON arrays as cjson writes them, or legacy comma lists', () => {
    expect(parseJobKeyList('["a","ca\\/santa-barbara"]')).toEqual(['a', 'ca/santa-barbara'])
    expect(parseJobKeyList('{}')).toEqual([])
    expect(parseJobKeyList('a,b,,c')).toEqual(['a', 'b', 'c'])
    expect(parseJobKeyList('[not json')).toEqual(['[not json'])
    expect(parseJobKeyList('')).toEqual([])
  })
})

describe('Go durations', () => {
  it('format as time.Duration.String', () => {
    const cases: [bigint, string][] = [
      [0n, '0s'],
      [1n, '1ns'],
      [999n, '999ns'],
      [1_500n, '1.5µs'],
      [10_000_000n, '10ms'],
      [1_500_000n, '1.5ms'],
      [1_000_000_000n, '1s'],
      [1_500_000_000n, '1.5s'],
      [60_000_000_000n, '1m0s'],
      [90_000_000_000n, '1m30s'],
      [3_600_000_000_000n, '1h0m0s'],
      [7_384_005_000_000n, '2h3m4.005s'],
      [-1_500_000_000n, '-1.5s'],
      [(1n << 63n) - 1n, '2562047h47m16.854775807s'],
      [-(1n << 63n), '-2562047h47m16.854775808s'],
    ]
    for (const [ns, text] of cases) {
      expect(formatGoDuration(ns)).toBe(text)
      expect(parseGoDuration(text)).toBe(ns)
    }
  })

  it('parse as time.ParseDuration', () => {
    expect(parseGoDuration('0')).toBe(0n)
    expect(parseGoDuration('+1s')).toBe(1_000_000_000n)
    expect(parseGoDuration('1h30m')).toBe(5_400_000_000_000n)
    expect(parseGoDuration('1.5h')).toBe(5_400_000_000_000n)
    expect(parseGoDuration('.5s')).toBe(500_000_000n)
    expect(parseGoDuration('1.s')).toBe(1_000_000_000n)
    expect(parseGoDuration('300us')).toBe(300_000n)
    expect(parseGoDuration('300μs')).toBe(300_000n)
    expect(parseGoDuration('1.0000000001s')).toBe(1_000_000_000n)
    for (const bad of ['', '1', 's', '.s', '1x', '-', '1s2', '9223372036854775808ns', '2562048h', '1 s']) {
      expect(parseGoDuration(bad)).toBeUndefined()
    }
    expect(parseGoDuration('-9223372036854775808ns')).toBe(-(1n << 63n))
  })

  it('round-trip', () => {
    fc.assert(
      fc.property(int64, (ns) => {
        expect(parseGoDuration(formatGoDuration(ns))).toBe(ns)
      }),
    )
  })
})

describe('ticker entries', () => {
  it('are "<unix µs>|<Go duration>"', () => {
    expect(formatTickerEntry({ nextAtUs: 1_700_000_000_000_000n, periodNs: 60_000_000_000n })).toBe(
      '1700000000000000|1m0s',
    )
    expect(parseTickerEntry('1700000000000000|10ms')).toEqual({
      nextAtUs: 1_700_000_000_000_000n,
      periodNs: 10_000_000n,
    })
    for (const bad of ['', '1700000000000000', '|1s', 'x|1s', '1|0s', '1|-1s', '1|1s|2'])
      expect(parseTickerEntry(bad)).toBeUndefined()
  })

  it('advance one period, skipping the periods already past', () => {
    const entry = { nextAtUs: 1_000_000n, periodNs: 1_000_000_000n }
    expect(nextTickEntry(entry, 1_000_000n)).toEqual({ nextAtUs: 2_000_000n, periodNs: 1_000_000_000n })
    expect(nextTickEntry(entry, 2_000_000n)).toEqual({ nextAtUs: 2_000_000n, periodNs: 1_000_000_000n })
    expect(nextTickEntry(entry, 2_000_001n)).toEqual({ nextAtUs: 3_000_000n, periodNs: 1_000_000_000n })
    expect(nextTickEntry(entry, 10_500_000n)).toEqual({ nextAtUs: 11_000_000n, periodNs: 1_000_000_000n })
  })

  it('agree with the reference loop', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 1n << 52n }),
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 0n, max: 1_000n }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (nextAtUs, periodNs, periods, part) => {
          // now lies `periods` and a part of a period past the due time: the loop runs ≤ periods + 2 times.
          const aheadNs = periods * periodNs + BigInt(Math.floor(part * Number(periodNs)))
          const nowUs = nextAtUs + aheadNs / 1_000n
          let ts = nextAtUs * 1_000n + periodNs
          while (ts < nowUs * 1_000n) ts += periodNs
          expect(nextTickEntry({ nextAtUs, periodNs }, nowUs).nextAtUs).toBe(ts / 1_000n)
        },
      ),
      { numRuns: 200 },
    )
  })
})
