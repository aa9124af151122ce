/** `ReplicatedMap.join`'s argument checks: map names, keys, values and options, refused with PULSE_ERR_INVALID_ARG. */
import { describe, expect, it } from 'vitest'

import {
  checkMapKey,
  checkMapName,
  checkMapValue,
  DEFAULT_REPLICATED_MAP_OPTIONS,
  resolveReplicatedMapOptions,
} from '../../../actors/rmap/options.js'

const invalid = (option: string) => ({ code: 'PULSE_ERR_INVALID_ARG', data: { option } })

describe('map names', () => {
  it('take 1 to 512 characters, counted as code points', () => {
    expect(checkMapName('orders')).toBe('orders')
    expect(checkMapName('x'.repeat(512))).toHaveLength(512)
    expect(checkMapName('é'.repeat(512))).toHaveLength(512)
    expect(checkMapName('😀'.repeat(512))).toHaveLength(1024) // 512 code points, 1024 UTF-16 units
    expect(() => checkMapName('')).toThrow(expect.objectContaining(invalid('name')))
    expect(() => checkMapName('x'.repeat(513))).toThrow(/got "x{40}…", 513 characters/)
  })

  it.each([' ', '*', '?', '[', ']', '\0'])('refuse %j, which Redis patterns or the Go peer cannot take', (c) => {
    expect(() => checkMapName(`a${c}b`)).toThrow(expect.objectContaining(invalid('name')))
  })

  it('refuse a name that is not a string, naming its type', () => {
    expect(() => checkMapName(42)).toThrow(/got number\)/)
    expect(() => checkMapName(undefined)).toThrow(/got undefined\)/)
  })

  it('allow what the Go peer allows besides: colons, braces, dots, slashes', () => {
    for (const name of ['a:b', '{tenant}:orders', 'a.b/c', 'UPPER-lower_1']) expect(checkMapName(name)).toBe(name)
  })
})

describe('map keys and values', () => {
  it("refuse an empty key and one with '=' (the reserved fields start with it), naming the argument", () => {
    expect(checkMapKey('k')).toBe('k')
    expect(() => checkMapKey('')).toThrow('key must not be empty')
    expect(() => checkMapKey('a=b')).toThrow(`key must not contain '=' (got "a=b")`)
    expect(() => checkMapKey('=rev', 'keys[2]')).toThrow(expect.objectContaining(invalid('keys[2]')))
    expect(() => checkMapKey(7)).toThrow('key must be a string (got number)')
  })

  it('take any string as a value, the empty one included, and say null for null', () => {
    expect(checkMapValue('', 'value')).toBe('')
    expect(checkMapValue('a=b,c', 'value')).toBe('a=b,c')
    expect(() => checkMapValue(null, 'value')).toThrow('value must be a string (got null)')
    expect(() => checkMapValue(1, 'items[0]')).toThrow(expect.objectContaining(invalid('items[0]')))
  })
})

describe('map options', () => {
  it('default every field; no options is the defaults object itself', () => {
    expect(resolveReplicatedMapOptions(undefined)).toBe(DEFAULT_REPLICATED_MAP_OPTIONS)
    expect(resolveReplicatedMapOptions({ ttlMs: 1_000 })).toMatchObject({ ttlMs: 1_000, slidingTtlMs: 0 })
    expect(resolveReplicatedMapOptions({ ttlMs: undefined })).toMatchObject({ ttlMs: 0 })
  })

  it('refuse an unknown option, naming it', () => {
    expect(() => resolveReplicatedMapOptions({ ttl: 5 } as never)).toThrow(
      expect.objectContaining(invalid('options.ttl')),
    )
  })

  it('refuse negative, fractional and timer-overflowing TTLs', () => {
    for (const ttlMs of [-1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => resolveReplicatedMapOptions({ ttlMs })).toThrow(expect.objectContaining(invalid('options.ttlMs')))
    }
    expect(() => resolveReplicatedMapOptions({ slidingTtlMs: -5 })).toThrow(
      expect.objectContaining(invalid('options.slidingTtlMs')),
    )
  })

  it('refuse ttlMs and slidingTtlMs together, but take either with the other at 0', () => {
    expect(() => resolveReplicatedMapOptions({ ttlMs: 10, slidingTtlMs: 10 })).toThrow(/exclusive/)
    expect(resolveReplicatedMapOptions({ ttlMs: 10, slidingTtlMs: 0 })).toMatchObject({ ttlMs: 10 })
    expect(resolveReplicatedMapOptions({ ttlMs: 0, slidingTtlMs: 10 })).toMatchObject({ slidingTtlMs: 10 })
  })

  it('refuse a logger, signal or registry of the wrong shape', () => {
    expect(() => resolveReplicatedMapOptions({ logger: {} as never })).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }),
    )
    expect(() => resolveReplicatedMapOptions({ signal: {} as never })).toThrow(
      expect.objectContaining(invalid('options.signal')),
    )
    expect(() => resolveReplicatedMapOptions({ metrics: {} as never })).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }),
    )
  })
})
