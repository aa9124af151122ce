/**
 * Routing: a job key goes to `activeWorkers[jumpHash(key, activeWorkers.length)]`, exactly as in
 * goa.design/pulse v1.6.5 (docs/redis-layout.md, "Routing"), so that Go and Node nodes of one pool agree
 * on every owner.
 *
 * 1. The key's UTF-8 bytes are hashed with CRC-64/XZ — what Go's `crc64.Checksum(data,
 *    crc64.MakeTable(crc64.ECMA))` computes: the ECMA-182 polynomial reflected (`0xC96C5795D7870F42`),
 *    init and xorout all ones. Check value: `"123456789"` → `0x995DC9BBDF1939FA`.
 * 2. The 64-bit sum drives the jump consistent hash of Lamping & Veach (arXiv:1406.2294):
 *
 *        b = -1, j = 0
 *        while j < n:  b = j;  sum = sum × 2862933555777941757 + 1 (mod 2^64)
 *                      j = trunc((b + 1) × (2^31 / ((sum >> 33) + 1)))
 *        return b
 *
 *    The LCG step is BigInt-exact; the division is done in doubles in Go's order (the quotient first),
 *    and IEEE doubles round alike in both languages, so the buckets are the same.
 *
 * The CRC runs on two 32-bit halves with two `Uint32Array` tables, not on a BigInt table: BigInt
 * arithmetic allocates a value per step, on a path every dispatch takes.
 *
 * Growing `n` to `n + 1` moves only keys to the new bucket `n`; that is why workers are ordered by
 * creation time (a new worker is the last bucket). Removing a middle worker moves more than its keys.
 */
import { NoActiveWorkerError } from '../../runtime/errors.js'
import { checkInteger } from '../../runtime/options.js'

/** The reflected ECMA-182 polynomial, as its low and high 32-bit halves. */
const kPolyLo = 0xd7870f42
const kPolyHi = 0xc96c5795

/** The byte-wise CRC table: entry `i` is the CRC register after shifting `i` in, split in halves. */
const kTableLo = new Uint32Array(256)
const kTableHi = new Uint32Array(256)
for (let i = 0; i < 256; i++) {
  let lo = i
  let hi = 0
  for (let bit = 0; bit < 8; bit++) {
    const carry = lo & 1
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0
    hi = hi >>> 1
    if (carry !== 0) {
      lo = (lo ^ kPolyLo) >>> 0
      hi = (hi ^ kPolyHi) >>> 0
    }
  }
  kTableLo[i] = lo
  kTableHi[i] = hi
}

const kEncoder = new TextEncoder()

function bytesOf(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? kEncoder.encode(data) : data
}

/** CRC-64/XZ of `data` (a string hashes as its UTF-8 bytes), as an unsigned 64-bit BigInt. */
export function crc64xz(data: string | Uint8Array): bigint {
  const bytes = bytesOf(data)
  let lo = 0xffffffff
  let hi = 0xffffffff
  for (let i = 0; i < bytes.length; i++) {
    const index = (lo ^ (bytes[i] ?? 0)) & 0xff
    // crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8), on the halves.
    lo = ((kTableLo[index] ?? 0) ^ ((lo >>> 8) | (hi << 24))) >>> 0
    hi = ((kTableHi[index] ?? 0) ^ (hi >>> 8)) >>> 0
  }
  return (BigInt(~hi >>> 0) << 32n) | BigInt(~lo >>> 0)
}

const kMask64 = (1n << 64n) - 1n
const kLcgMultiplier = 2862933555777941757n
const kTwoTo31 = 2_147_483_648

/**
 * The jump consistent hash of a 64-bit key: a bucket in `[0, buckets)`. `key` is taken modulo 2^64
 * (a negative one as its two's complement, like a Go `uint64` conversion).
 */
export function jumpConsistentHash(key: bigint, buckets: number): number {
  checkInteger(buckets, 'buckets', { min: 1, max: 2 ** 31 - 1 })
  let sum = key & kMask64
  let b = -1
  let j = 0
  while (j < buckets) {
    b = j
    sum = (sum * kLcgMultiplier + 1n) & kMask64
    j = Math.trunc((b + 1) * (kTwoTo31 / Number((sum >> 33n) + 1n)))
  }
  return b
}

/** The reference's routing hash: `jumpConsistentHash(crc64xz(key), buckets)`. */
export function jumpHash(key: string | Uint8Array, buckets: number): number {
  return jumpConsistentHash(crc64xz(key), buckets)
}

/**
 * The index, in the active workers ordered by creation time, of the worker that owns `key`. Throws
 * `NoActiveWorkerError` when there is none: the router leaves the event unacknowledged and it comes
 * back after the ack grace period (PROTOCOL.md, "Dispatch").
 */
export function routeKey(key: string | Uint8Array, activeWorkerCount: number): number {
  checkInteger(activeWorkerCount, 'activeWorkerCount', { min: 0 })
  if (activeWorkerCount === 0) throw new NoActiveWorkerError('the pool has no active worker to route the job to')
  return jumpHash(key, activeWorkerCount)
}
