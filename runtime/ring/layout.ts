/**
 * Memory layout of a ring (the only home of its magic numbers).
 *
 *   SharedArrayBuffer of kDataOffset + capacity bytes
 *   ┌──────────── header: Int32 words, each hot word on its own 64-byte cache line ────────────┐
 *   │ word  0 (byte   0)  kTail          bytes ever written, mod 2^32 — written by the producer │
 *   │ word 16 (byte  64)  kHead          bytes ever read, mod 2^32 — written by the consumer    │
 *   │ word 32 (byte 128)  kSpaceWaiting  1 while the producer sleeps waiting for free space     │
 *   │ word 33 (byte 132)  kCapacity      data capacity in bytes (a power of two, ≥ 64)          │
 *   │ word 34 (byte 136)  kClosed        1 once either side closed the ring                     │
 *   ├──────────── data: capacity bytes from kDataOffset ─────────────────────────────────────────┤
 *   │ frame = u32 little-endian payload length L, then L payload bytes, then padding to 4 bytes │
 *   └────────────────────────────────────────────────────────────────────────────────────────────┘
 *
 * Wrap rule: a frame's position is `index & (capacity - 1)`. Frames start 4-byte aligned and the
 * capacity is a multiple of 4, so a length word never straddles the end; a payload may, and is then
 * copied in two parts. used = (tail - head) mod 2^32; empty when used = 0; a frame fits when
 * used + 4 + pad4(L) ≤ capacity. The largest payload is capacity - 4.
 *
 * Publication order: the producer writes the frame bytes, then Atomics.store(kTail); the consumer
 * Atomics.load(kTail) before reading bytes, and Atomics.store(kHead) only after it copied them out.
 * Sequentially consistent atomics make the plain byte writes visible in that order.
 */

export const kTail = 0
export const kHead = 16
export const kSpaceWaiting = 32
export const kCapacity = 33
export const kClosed = 34

export const kHeaderBytes = 192
export const kDataOffset = kHeaderBytes
export const kFrameHeaderBytes = 4
export const kMinCapacity = 64

/** Bytes a payload of `length` bytes takes in the ring, header and padding included. */
export function frameBytes(length: number): number {
  return kFrameHeaderBytes + ((length + 3) & ~3)
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
}

/**
 * Memory layout of a doorbell, the wake-up word a consumer sleeps on. One doorbell may serve several
 * inbound rings of one consumer (a thread drains all its rings after one wake-up).
 *
 *   Int32Array(2) over a SharedArrayBuffer of 8 bytes
 *   word 0  kSleeping  1 while the consumer sleeps (or is about to); a producer that sees 1 swaps it
 *                      to 0 and notifies — only one producer wins the swap, so one notify per sleep
 *   word 1  kRings     how many times producers rang (statistics only)
 */
export const kSleeping = 0
export const kRings = 1
export const kDoorbellBytes = 8
