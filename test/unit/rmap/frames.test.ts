/**
 * The update frames and key names of a map at their edges (the round trip and the byte layout are in
 * frame-layout.test.ts): what a replica does with frames a peer or a broken link sends.
 */
import { describe, expect, it } from 'vitest'

import {
  contentKey,
  decodeFrame,
  encodeFrame,
  parseRevision,
  updatesChannel,
} from '../../../transports/redis/rmap/index.js'

/** `<u32le length><bytes>` of `text`. */
function field(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text
  const length = Buffer.alloc(4)
  length.writeUInt32LE(bytes.length)
  return Buffer.concat([length, bytes])
}

const frame = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))

describe('revisions as they travel', () => {
  it('are decimal text of at most 16 digits within the safe integers', () => {
    expect(parseRevision('0')).toBe(0)
    expect(parseRevision('007')).toBe(7)
    expect(parseRevision(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER)
    expect(parseRevision('9007199254740992')).toBeUndefined() // 2^53: 16 digits, not safe
    for (const text of ['', '+1', ' 1', '1 ', '1.0', '1e3', '0x10', '١']) expect(parseRevision(text)).toBeUndefined()
  })
})

describe('decoding frames from a peer', () => {
  it('keeps keys and values byte for byte: empty, multi-byte, with colons and NULs', () => {
    for (const [key, value] of [
      ['', ''],
      ['k:1', 'a:b:c'],
      ['é', '😀\0\n'],
    ]) {
      expect(decodeFrame(frame('set:', field(key as string), field(value as string), field('3')))).toEqual({
        op: 'set',
        key,
        value,
        rev: 3,
      })
    }
  })

  it('says which field is short: no room for a length, or fewer bytes than announced', () => {
    expect(decodeFrame(frame('set:', field('k'), Buffer.from([1, 0])))).toBe('set: field 2: no room for its length')
    expect(decodeFrame(frame('del:', Buffer.from([0xff, 0xff, 0xff, 0xff]), 'abc'))).toBe(
      'del: field 1: 4294967295 bytes announced, 3 left',
    )
  })

  it('refuses trailing bytes and a bad revision in every operation', () => {
    expect(decodeFrame(frame('set:', field('k'), field('v'), field('1'), 'zz'))).toBe('set: 2 trailing bytes')
    expect(decodeFrame(frame('set:', field('k'), field('v'), field('-1')))).toBe('set: bad revision "-1"')
    expect(decodeFrame(frame('del:', field('k'), field('')))).toBe('del: bad revision ""')
    expect(decodeFrame(Buffer.from('reset:'))).toBe('reset: bad revision ""')
    expect(decodeFrame(Buffer.from(`destroy:${'9'.repeat(40)}`))).toBe(`destroy: bad revision "${'9'.repeat(24)}"`)
  })

  it('names an unknown operation (cut to 24 characters) and a payload without one', () => {
    expect(decodeFrame(Buffer.from('upsert:1'))).toBe('unknown operation "upsert"')
    expect(decodeFrame(Buffer.from(`${'x'.repeat(30)}:1`))).toBe(`unknown operation "${'x'.repeat(24)}"`)
    expect(decodeFrame(Buffer.alloc(0))).toBe('no operation prefix')
    expect(decodeFrame(Buffer.from('reset'))).toBe('no operation prefix')
  })

  it('encodes lengths in bytes, not characters', () => {
    const encoded = encodeFrame({ op: 'set', key: '😀', value: 'é', rev: 10 })
    expect(encoded.readUInt32LE(4)).toBe(4)
    expect(encoded.readUInt32LE(12)).toBe(2)
    expect(encoded.subarray(-6).toString()).toBe('\x02\x00\x00\x0010')
  })
})

describe('key names', () => {
  it('are those of the Go peer in compat, with the name in a hash tag in cluster', () => {
    expect(contentKey('orders')).toBe('map:orders:content')
    expect(updatesChannel('orders')).toBe('map:orders:updates')
    expect(contentKey('orders', 'cluster')).toBe('map:{orders}:content')
    expect(updatesChannel('orders', 'cluster')).toBe('map:{orders}:updates')
  })

  it('keep a name that already holds a hash tag, so a user can put maps in one slot', () => {
    expect(contentKey('{tenant-1}:orders', 'cluster')).toBe('map:{tenant-1}:orders:content')
    expect(contentKey('{}orders', 'cluster')).toBe('map:{{}orders}:content') // `{}` is no tag
  })
})
