/**
 * A bounded single-producer single-consumer ring of variable-length frames over a SharedArrayBuffer.
 * The layout and the wrap rule are in `layout.ts`. One `RingWriter` (one thread) and one `RingReader`
 * (another thread, or the same) share the buffer; neither allocates per frame.
 *
 * Wake-ups: the writer rings the reader's `Doorbell` when it publishes and the reader sleeps. The
 * writer may append several frames and publish them at once (`publish: false`, then `flush()`), so a
 * batch costs one tail store and at most one notify. The reader publishes its head once per drained
 * batch, and wakes a writer that sleeps waiting for space.
 */
import { InvalidArgumentError } from '../errors.js'
import { type Doorbell, keepAliveUntil } from './doorbell.js'
import {
  frameBytes,
  isPowerOfTwo,
  kCapacity,
  kClosed,
  kDataOffset,
  kFrameHeaderBytes,
  kHead,
  kMinCapacity,
  kSpaceWaiting,
  kTail,
} from './layout.js'

/** Creates the shared memory of a ring with `capacity` data bytes (a power of two ≥ 64). */
export function createRingBuffer(capacity: number): SharedArrayBuffer {
  if (!isPowerOfTwo(capacity) || capacity < kMinCapacity) {
    throw new InvalidArgumentError(`ring capacity must be a power of two >= ${kMinCapacity} (got ${capacity})`, {
      data: { option: 'capacity' },
    })
  }
  const buffer = new SharedArrayBuffer(kDataOffset + capacity)
  new Int32Array(buffer, 0, kDataOffset / 4)[kCapacity] = capacity
  return buffer
}

class RingView {
  readonly buffer: SharedArrayBuffer
  readonly capacity: number
  readonly maxPayload: number
  protected readonly header: Int32Array
  protected readonly data: Uint8Array
  protected readonly view: DataView
  protected readonly mask: number

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer
    this.header = new Int32Array(buffer, 0, kDataOffset / 4)
    this.capacity = Atomics.load(this.header, kCapacity)
    this.maxPayload = this.capacity - kFrameHeaderBytes
    this.mask = this.capacity - 1
    this.data = new Uint8Array(buffer, kDataOffset, this.capacity)
    this.view = new DataView(buffer, kDataOffset, this.capacity)
  }

  /** Bytes in the ring that the reader has not consumed yet (published frames only). */
  get usedBytes(): number {
    return (Atomics.load(this.header, kTail) - Atomics.load(this.header, kHead)) >>> 0
  }

  get closed(): boolean {
    return Atomics.load(this.header, kClosed) === 1
  }

  close(): void {
    Atomics.store(this.header, kClosed, 1)
  }
}

export class RingWriter extends RingView {
  readonly #bell: Doorbell | undefined
  /** Local tail: frames appended but not yet published are between the shared tail and this. */
  #tail: number

  constructor(buffer: SharedArrayBuffer, bell?: Doorbell) {
    super(buffer)
    this.#bell = bell
    this.#tail = Atomics.load(this.header, kTail)
  }

  /** Free bytes now, counting frames appended but not yet published. */
  get freeBytes(): number {
    return this.capacity - ((this.#tail - Atomics.load(this.header, kHead)) >>> 0)
  }

  /** Whether a payload of `length` bytes could ever fit. */
  fits(length: number): boolean {
    return length <= this.maxPayload
  }

  /**
   * Appends one frame whose payload is `head` followed by `body`. Returns false (writing nothing) when
   * the ring has no room now. Throws when the payload could never fit. With `publish` false the frame
   * stays invisible until `flush()`.
   */
  tryWrite(head: Uint8Array, body?: Uint8Array, publish = true): boolean {
    const length = head.length + (body?.length ?? 0)
    const need = frameBytes(length)
    if (need > this.freeBytes) {
      if (length > this.maxPayload) {
        throw new InvalidArgumentError(
          `frame of ${length} bytes exceeds the ring's largest frame (${this.maxPayload} bytes)`,
          {
            data: { option: 'message', length, maxPayload: this.maxPayload },
          },
        )
      }
      return false
    }
    const start = this.#tail & this.mask
    this.view.setUint32(start, length, true)
    const at = this.#copyIn((start + kFrameHeaderBytes) & this.mask, head)
    if (body !== undefined) this.#copyIn(at, body)
    this.#tail = (this.#tail + need) | 0
    if (publish) this.flush()
    return true
  }

  /** Publishes appended frames and wakes the reader if it sleeps. */
  flush(): void {
    if (Atomics.load(this.header, kTail) === this.#tail) return
    Atomics.store(this.header, kTail, this.#tail)
    this.#bell?.ring()
  }

  /**
   * Waits until `length` payload bytes fit (or the ring closes, or `signal` aborts). Returns false when
   * the ring closed.
   */
  async waitWritable(length: number, signal?: AbortSignal, timeoutMs = Infinity): Promise<boolean> {
    const need = frameBytes(length)
    const deadline = Date.now() + timeoutMs
    while (need > this.freeBytes) {
      if (this.closed) return false
      signal?.throwIfAborted()
      if (Date.now() >= deadline) return false
      Atomics.store(this.header, kSpaceWaiting, 1)
      if (need <= this.freeBytes) break
      // A bounded wait: the reader's notify normally ends it; the bound only re-checks signal and close.
      const result = Atomics.waitAsync(this.header, kSpaceWaiting, 1, Math.min(50, Math.max(1, deadline - Date.now())))
      if (result.async) await keepAliveUntil(result.value)
    }
    Atomics.store(this.header, kSpaceWaiting, 0)
    return !this.closed
  }

  #copyIn(at: number, bytes: Uint8Array): number {
    const first = Math.min(bytes.length, this.capacity - at)
    this.data.set(first === bytes.length ? bytes : bytes.subarray(0, first), at)
    if (first < bytes.length) this.data.set(bytes.subarray(first), 0)
    return (at + bytes.length) & this.mask
  }
}

/** Called per frame with a view that is valid only during the call; return false to stop the batch. */
export type FrameHandler = (payload: Uint8Array) => boolean | undefined | void

export class RingReader extends RingView {
  #scratch = new Uint8Array(256)

  /** Whether published frames are waiting. */
  hasFrames(): boolean {
    return Atomics.load(this.header, kTail) !== Atomics.load(this.header, kHead)
  }

  /**
   * Hands up to `max` published frames to `handler` in order, then publishes the new head once and
   * wakes a writer waiting for space. Returns how many frames were handled.
   */
  drain(handler: FrameHandler, max = Infinity): number {
    const tail = Atomics.load(this.header, kTail)
    let head = Atomics.load(this.header, kHead)
    let count = 0
    try {
      while (head !== tail && count < max) {
        const start = head & this.mask
        const length = this.view.getUint32(start, true)
        const payload = this.#payload((start + kFrameHeaderBytes) & this.mask, length)
        head = (head + frameBytes(length)) | 0
        count++
        if (handler(payload) === false) break
      }
    } finally {
      if (count > 0) this.#release(head)
    }
    return count
  }

  /** Reads one frame into a new array (convenience for tests and cold paths). */
  readOne(): Uint8Array | undefined {
    let out: Uint8Array | undefined
    this.drain((payload) => {
      out = payload.slice()
      return false
    }, 1)
    return out
  }

  #payload(at: number, length: number): Uint8Array {
    if (at + length <= this.capacity) return this.data.subarray(at, at + length)
    if (this.#scratch.length < length) this.#scratch = new Uint8Array(Math.max(length, this.#scratch.length * 2))
    const first = this.capacity - at
    this.#scratch.set(this.data.subarray(at, this.capacity), 0)
    this.#scratch.set(this.data.subarray(0, length - first), first)
    return this.#scratch.subarray(0, length)
  }

  #release(head: number): void {
    Atomics.store(this.header, kHead, head)
    if (Atomics.load(this.header, kSpaceWaiting) === 1 && Atomics.exchange(this.header, kSpaceWaiting, 0) === 1) {
      Atomics.notify(this.header, kSpaceWaiting)
    }
  }
}
