/**
 * The shared-memory snapshot of a replica, written and read on one thread here (the two-thread reads are
 * in test/integration/rmap/replica.test.ts): what a reader sees after each publish, growth and overflow.
 */
import { describe, expect, it } from 'vitest'

import { createSnapshotBuffer, SnapshotReader, SnapshotState, SnapshotWriter } from '../../../actors/rmap/snapshot.js'

const entries = (n: number, value = 'v'): [string, string][] =>
  Array.from({ length: n }, (_, i) => [`k${i}`, `${value}${i}`])

describe('snapshot buffers', () => {
  it('refuse a maximum below 64 KiB or not an integer, naming snapshotMaxBytes', () => {
    for (const max of [0, 64 * 1024 - 1, 100_000.5, Number.NaN]) {
      expect(() => createSnapshotBuffer(max)).toThrow(
        expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option: 'snapshotMaxBytes' } }),
      )
    }
    expect(createSnapshotBuffer(64 * 1024).maxByteLength).toBe(64 * 1024)
  })

  it('a reader refuses what is not a replica’s SharedArrayBuffer', () => {
    expect(() => new SnapshotReader(new ArrayBuffer(1024) as never)).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }),
    )
    expect(() => new SnapshotReader(new SharedArrayBuffer(16))).toThrow(/SharedArrayBuffer of a replica/)
  })
})

describe('publishing and reading', () => {
  it('a reader sees nothing before the first publish, then each generation’s content and revision', () => {
    const buffer = createSnapshotBuffer()
    const writer = new SnapshotWriter(buffer)
    const reader = new SnapshotReader(buffer)
    expect(reader.content().size).toBe(0)
    expect(reader.generation).toBe(0)
    expect(writer.publish([['a', '1']], 7)).toBe(1)
    expect(reader.get('a')).toBe('1')
    expect(reader.revision).toBe(7)
    // Shrinking and growing content alternate the two slots: each read is exactly the latest generation.
    for (let gen = 2; gen <= 12; gen++) {
      const content = entries(gen % 2 === 0 ? 3 : 40, `g${gen}-`)
      expect(writer.publish(content, 7 + gen)).toBe(gen)
      expect(Object.fromEntries(reader.content())).toEqual(Object.fromEntries(content))
      expect(reader.revision).toBe(7 + gen)
    }
  })

  it('decodes only when the generation changed', () => {
    const buffer = createSnapshotBuffer()
    const writer = new SnapshotWriter(buffer)
    const reader = new SnapshotReader(buffer)
    writer.publish(entries(5), 1)
    for (let i = 0; i < 100; i++) reader.get('k1')
    expect(reader.decodes).toBe(1)
    writer.publish(entries(5), 2)
    reader.has('k2')
    reader.get('k3')
    expect(reader.decodes).toBe(2)
  })

  it('keeps any string: empty keys and values, quotes, multi-byte text', () => {
    const buffer = createSnapshotBuffer()
    const writer = new SnapshotWriter(buffer)
    const content: [string, string][] = [
      ['', ''],
      ['"q"', '\\\n'],
      ['ключ', '😀'],
    ]
    writer.publish(content, 3)
    expect([...new SnapshotReader(buffer).content()]).toEqual(content)
  })

  it('grows the buffer up to its maximum, then says overflow and throws, keeping the last snapshot', () => {
    const buffer = createSnapshotBuffer(256 * 1024)
    const writer = new SnapshotWriter(buffer)
    const reader = new SnapshotReader(buffer)
    writer.publish(entries(1_000, 'x'.repeat(60)), 1)
    expect(buffer.byteLength).toBeGreaterThan(64 * 1024)
    expect(reader.state).toBe(SnapshotState.Starting)
    expect(() => writer.publish(entries(5_000, 'x'.repeat(60)), 2)).toThrow(/exceeds snapshotMaxBytes \(262144\)/)
    expect(reader.state).toBe(SnapshotState.Overflow)
    expect(reader.revision).toBe(1)
    expect(reader.content().size).toBe(1_000)
  })
})
