import { once } from 'node:events'
import type { Worker } from 'node:worker_threads'

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { Doorbell } from '../../../../runtime/ring/doorbell.js'
import { frameBytes } from '../../../../runtime/ring/layout.js'
import { createRingBuffer, RingReader, RingWriter } from '../../../../runtime/ring/ring-buffer.js'
import { startWorker } from '../../../../runtime/thread-boot.js'
import { checkFrame, fillFrame } from './frames.js'

const producerUrl = new URL('../../../fixtures/threads/ring-producer.ts', import.meta.url)

describe('ring buffer, one thread', () => {
  it('rejects capacities that are not powers of two', () => {
    for (const bad of [0, 63, 100, 1.5, -64])
      expect(() => createRingBuffer(bad)).toThrow(/PULSE_ERR_INVALID_ARG|power of two/)
  })

  it('carries frames of every size across the wrap-around, in order', () => {
    const ring = createRingBuffer(64)
    const writer = new RingWriter(ring)
    const reader = new RingReader(ring)
    for (let seq = 0; seq < 500; seq++) {
      const size = seq % 61
      expect(writer.tryWrite(fillFrame(seq, size))).toBe(true)
      const out = reader.readOne()
      expect(out !== undefined && checkFrame(out, seq, size)).toBe(true)
    }
    expect(reader.hasFrames()).toBe(false)
  })

  it('fills to exactly the capacity, refuses one more byte, and frees space as it is read', () => {
    const ring = createRingBuffer(64)
    const writer = new RingWriter(ring)
    const reader = new RingReader(ring)
    expect(frameBytes(12)).toBe(16)
    for (let i = 0; i < 4; i++) expect(writer.tryWrite(fillFrame(i, 12))).toBe(true)
    expect(writer.freeBytes).toBe(0)
    expect(writer.tryWrite(new Uint8Array(0))).toBe(false)
    expect(reader.drain(() => undefined, 1)).toBe(1)
    expect(writer.tryWrite(fillFrame(4, 12))).toBe(true)
    const seen: number[] = []
    reader.drain((f) => {
      seen.push(new DataView(f.buffer, f.byteOffset).getUint32(0, true))
    })
    expect(seen).toEqual([1, 2, 3, 4])
  })

  it('throws for a frame larger than the ring could ever hold, and writes nothing', () => {
    const ring = createRingBuffer(64)
    const writer = new RingWriter(ring)
    expect(writer.maxPayload).toBe(60)
    expect(writer.tryWrite(new Uint8Array(60))).toBe(true)
    new RingReader(ring).drain(() => undefined)
    expect(() => writer.tryWrite(new Uint8Array(61))).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }) as Error,
    )
    expect(writer.usedBytes).toBe(0)
  })

  it('keeps appended frames invisible until flush, and joins head and body', () => {
    const ring = createRingBuffer(128)
    const writer = new RingWriter(ring)
    const reader = new RingReader(ring)
    writer.tryWrite(Uint8Array.of(1, 2), Uint8Array.of(3), false)
    expect(reader.hasFrames()).toBe(false)
    writer.flush()
    expect(Array.from(reader.readOne() ?? [])).toEqual([1, 2, 3])
  })

  it('a drain stops where the handler says and leaves the rest', () => {
    const ring = createRingBuffer(256)
    const writer = new RingWriter(ring)
    const reader = new RingReader(ring)
    for (let i = 0; i < 5; i++) writer.tryWrite(fillFrame(i, 8))
    expect(reader.drain(() => false)).toBe(1)
    expect(reader.drain(() => undefined, 2)).toBe(2)
    expect(reader.drain(() => undefined)).toBe(2)
  })

  it('a sleeping reader is woken once per batch, not per frame', async () => {
    const ring = createRingBuffer(1024)
    const bell = new Doorbell()
    const writer = new RingWriter(ring, bell)
    const reader = new RingReader(ring)
    const keepAlive = setInterval(() => undefined, 1_000)
    const woke = bell.wait(() => reader.hasFrames())
    for (let i = 0; i < 10; i++) writer.tryWrite(fillFrame(i, 16))
    await woke
    clearInterval(keepAlive)
    expect(bell.rings).toBe(1)
    expect(reader.drain(() => undefined)).toBe(10)
  })
})

interface Scenario {
  capacity: number
  sizes: number[]
  batches: number[]
  pausesUs: number[]
  readMax: number[]
  readPausesMs: number[]
}

const scenario: fc.Arbitrary<Scenario> = fc.constantFrom(64, 128, 256, 1024, 4096).chain((capacity) =>
  fc.record({
    capacity: fc.constant(capacity),
    sizes: fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: capacity - 4 })), {
      minLength: 1,
      maxLength: 400,
    }),
    batches: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
    pausesUs: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })), { minLength: 1, maxLength: 8 }),
    readMax: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 8 }),
    readPausesMs: fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 2 })), {
      minLength: 1,
      maxLength: 8,
    }),
  }),
)

async function runScenario(producer: Worker, s: Scenario): Promise<{ received: number; bad: number[] }> {
  const ring = createRingBuffer(s.capacity)
  const bellBuffer = new SharedArrayBuffer(8)
  const bell = new Doorbell(bellBuffer)
  const reader = new RingReader(ring)
  const done = once(producer, 'message')
  producer.postMessage({ ring, bell: bellBuffer, sizes: s.sizes, batches: s.batches, pausesUs: s.pausesUs })
  const bad: number[] = []
  let next = 0
  const deadline = Date.now() + 20_000
  for (let round = 0; next < s.sizes.length && Date.now() < deadline; round++) {
    const handled = reader.drain(
      (frame) => {
        if (!checkFrame(frame, next, s.sizes[next] ?? -1)) bad.push(next)
        next++
      },
      s.readMax[round % s.readMax.length],
    )
    const pause = s.readPausesMs[round % s.readPausesMs.length] ?? 0
    if (handled === 0) await bell.wait(() => reader.hasFrames(), 200)
    // The consumer's pacing is generated by the property: a slow reader is part of the subject.
    else if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause))
  }
  await done
  if (reader.hasFrames()) bad.push(-1)
  return { received: next, bad }
}

describe('ring buffer, producer and consumer on two threads (property)', () => {
  it('never loses, duplicates or reorders a frame, across wrap-around and full/empty edges', async () => {
    const producer = startWorker(producerUrl)
    try {
      await fc.assert(
        fc.asyncProperty(scenario, async (s) => {
          const { received, bad } = await runScenario(producer, s)
          expect(bad).toEqual([])
          expect(received).toBe(s.sizes.length)
        }),
        { numRuns: 60 },
      )
    } finally {
      await producer.terminate()
    }
  }, 120_000)
})
