/**
 * The baseline: a bare single-producer single-consumer ring of FIXED-SIZE records over a
 * SharedArrayBuffer, with no length prefix, no codec and no actor layer. The producer publishes its tail
 * per record; the consumer copies every record out into one reused buffer (through a view per slot made
 * once, so nothing is allocated per record) and publishes its head once per drained batch. Either side
 * spins briefly, then parks with Atomics.wait; a side notifies only when its peer announced that it
 * sleeps.
 */
const TAIL = 0 // Int32 words, each on its own 64-byte line
const HEAD = 16
const CONSUMER_SLEEPS = 32
const PRODUCER_SLEEPS = 48
const HEADER_BYTES = 256
const SPINS = 10_000

export interface FixedRing {
  readonly buffer: SharedArrayBuffer
  readonly slots: number
  readonly recordBytes: number
}

export function createFixedRing(slots: number, recordBytes: number): FixedRing {
  if ((slots & (slots - 1)) !== 0) throw new Error('slots must be a power of two')
  return { buffer: new SharedArrayBuffer(HEADER_BYTES + slots * recordBytes), slots, recordBytes }
}

/** Writes `count` records taken round-robin from `payloads` (each `recordBytes` long); blocks when full. */
export function produce(ring: FixedRing, payloads: readonly Uint8Array[], count: number): { waits: number } {
  const header = new Int32Array(ring.buffer, 0, HEADER_BYTES / 4)
  const data = new Uint8Array(ring.buffer, HEADER_BYTES)
  const { slots, recordBytes } = ring
  const mask = slots - 1
  let tail = Atomics.load(header, TAIL)
  let head = Atomics.load(header, HEAD)
  let waits = 0
  for (let i = 0; i < count; i++) {
    if (tail - head >= slots) {
      let spins = 0
      while (tail - (head = Atomics.load(header, HEAD)) >= slots) {
        if (++spins < SPINS) continue
        Atomics.store(header, PRODUCER_SLEEPS, 1)
        if (tail - Atomics.load(header, HEAD) >= slots) {
          waits++
          Atomics.wait(header, PRODUCER_SLEEPS, 1, 100)
        }
        Atomics.store(header, PRODUCER_SLEEPS, 0)
      }
    }
    data.set(payloads[i % payloads.length]!, (tail & mask) * recordBytes)
    tail = (tail + 1) | 0
    Atomics.store(header, TAIL, tail)
    if (Atomics.load(header, CONSUMER_SLEEPS) === 1 && Atomics.exchange(header, CONSUMER_SLEEPS, 0) === 1) {
      Atomics.notify(header, CONSUMER_SLEEPS)
    }
  }
  return { waits }
}

/** Reads `count` records, copying each out; returns how many times it parked (its wake-ups). */
export function consume(ring: FixedRing, count: number): { received: number; wakeups: number; checksum: number } {
  const header = new Int32Array(ring.buffer, 0, HEADER_BYTES / 4)
  const data = new Uint8Array(ring.buffer, HEADER_BYTES)
  const { slots, recordBytes } = ring
  const mask = slots - 1
  const out = new Uint8Array(recordBytes)
  const views = Array.from({ length: slots }, (_, slot) => data.subarray(slot * recordBytes, (slot + 1) * recordBytes))
  let head = Atomics.load(header, HEAD)
  let received = 0
  let wakeups = 0
  let checksum = 0
  while (received < count) {
    let tail = Atomics.load(header, TAIL)
    let spins = 0
    while (tail === head) {
      if (++spins >= SPINS) {
        Atomics.store(header, CONSUMER_SLEEPS, 1)
        if (Atomics.load(header, TAIL) === head) {
          wakeups++
          Atomics.wait(header, CONSUMER_SLEEPS, 1)
        }
        Atomics.store(header, CONSUMER_SLEEPS, 0)
        spins = 0
      }
      tail = Atomics.load(header, TAIL)
    }
    while (head !== tail) {
      out.set(views[head & mask]!)
      checksum = (checksum + out[0]!) | 0
      head = (head + 1) | 0
      received++
    }
    Atomics.store(header, HEAD, head)
    if (Atomics.load(header, PRODUCER_SLEEPS) === 1 && Atomics.exchange(header, PRODUCER_SLEEPS, 0) === 1) {
      Atomics.notify(header, PRODUCER_SLEEPS)
    }
  }
  return { received, wakeups, checksum }
}
