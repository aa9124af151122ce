/**
 * The shared-memory snapshot of a replica, so that any thread reads a map without asking its actor: the
 * `rmap-replica` actor serialises its map into a growable SharedArrayBuffer, and readers on any thread
 * of the process decode it lazily — only when the generation changed — into a private `Map`.
 *
 *   growable SharedArrayBuffer
 *   ┌── header: Int32 words ───────────────────────────────────────────────────────────────────┐
 *   │ 0 kGen        the published generation (0: nothing yet)                 written last    │
 *   │ 1 kPending    the generation being written                               written first   │
 *   │ 2 kState      0 starting, 1 live, 2 stopped (the actor detached), 3 overflow             │
 *   │ 4,5 / 6,7     byte offset and length of the snapshot of an even / odd generation         │
 *   ├── data: snapshots, anywhere from kDataOffset ───────────────────────────────────────────┤
 *   │ a snapshot = UTF-8 JSON of [rev, key0, value0, key1, value1, …]                         │
 *   └──────────────────────────────────────────────────────────────────────────────────────────┘
 *
 * Double buffering: the writer never writes over the live snapshot (generation g): generation g+1
 * goes to the data start if it fits before g's bytes, else right after them (growing the buffer).
 * Only generation g+2 may reuse g's bytes, and its writer stores kPending = g+2 first.
 *
 * Seqlock-style read: load kGen = g, its offset and length, COPY the bytes out, then load kPending:
 * if it is < g+2 nobody wrote over what was copied and the copy is decoded; otherwise retry. Every
 * header access is a sequentially consistent atomic, so the copy is validated before it is parsed.
 */
import { InvalidArgumentError, PulseError } from '../../runtime/errors.js'

const kGen = 0
const kPending = 1
const kState = 2
const kOffset = 4
const kLength = 5
const kHeaderBytes = 64
const kDataOffset = kHeaderBytes

export const SnapshotState = { Starting: 0, Live: 1, Stopped: 2, Overflow: 3 } as const
export type SnapshotState = (typeof SnapshotState)[keyof typeof SnapshotState]

/** @default 1 GiB of address space (pages are only committed as the snapshot grows). */
export const kDefaultSnapshotMaxBytes = 1 << 30
const kInitialBytes = 64 * 1024

/** A new snapshot buffer (growable up to `maxBytes`), to hand to the actor in its spawn args. */
export function createSnapshotBuffer(maxBytes = kDefaultSnapshotMaxBytes): SharedArrayBuffer {
  if (!Number.isInteger(maxBytes) || maxBytes < kInitialBytes) {
    throw new InvalidArgumentError(`snapshotMaxBytes must be an integer ≥ ${kInitialBytes} (got ${String(maxBytes)})`, {
      data: { option: 'snapshotMaxBytes' },
    })
  }
  return new SharedArrayBuffer(kInitialBytes, { maxByteLength: maxBytes })
}

function slot(gen: number): number {
  return (gen & 1) * 2
}

/** The actor's side: publishes whole snapshots. One writer per buffer. */
export class SnapshotWriter {
  readonly #buffer: SharedArrayBuffer
  readonly #words: Int32Array
  readonly #bytes: Uint8Array
  readonly #encoder = new TextEncoder()

  constructor(buffer: SharedArrayBuffer) {
    this.#buffer = buffer
    this.#words = new Int32Array(buffer, 0, kHeaderBytes / 4)
    this.#bytes = new Uint8Array(buffer) // length-tracking: follows grow()
  }

  get generation(): number {
    return Atomics.load(this.#words, kGen)
  }

  setState(state: SnapshotState): void {
    Atomics.store(this.#words, kState, state)
  }

  /** Publishes the content at `rev` as the next generation; returns it (or throws when it cannot fit). */
  publish(content: Iterable<readonly [string, string]>, rev: number): number {
    const flat: (string | number)[] = [rev]
    for (const [key, value] of content) flat.push(key, value)
    const encoded = this.#encoder.encode(JSON.stringify(flat))
    const words = this.#words
    const gen = Atomics.load(words, kGen)
    const next = (gen + 1) | 0 || 1
    const liveOffset = gen === 0 ? kDataOffset : Atomics.load(words, kOffset + slot(gen))
    const liveLength = gen === 0 ? 0 : Atomics.load(words, kLength + slot(gen))
    const offset = kDataOffset + encoded.length <= liveOffset ? kDataOffset : liveOffset + liveLength
    const end = offset + encoded.length
    if (end > this.#buffer.byteLength) {
      if (end > this.#buffer.maxByteLength) {
        this.setState(SnapshotState.Overflow)
        throw new PulseError(
          'PULSE_ERR_INVALID_ARG',
          `rmap snapshot of ${encoded.length} bytes exceeds snapshotMaxBytes (${this.#buffer.maxByteLength})`,
        )
      }
      this.#buffer.grow(Math.min(this.#buffer.maxByteLength, Math.max(end, this.#buffer.byteLength * 2)))
    }
    Atomics.store(words, kPending, next)
    this.#bytes.set(encoded, offset)
    Atomics.store(words, kOffset + slot(next), offset)
    Atomics.store(words, kLength + slot(next), encoded.length)
    Atomics.store(words, kGen, next)
    return next
  }
}

/** A reader on any thread: `get` costs one atomic load while nothing changed. */
export class SnapshotReader {
  readonly #words: Int32Array
  readonly #bytes: Uint8Array
  readonly #decoder = new TextDecoder()
  #gen = 0
  #rev = 0
  #content = new Map<string, string>()
  #decodes = 0

  constructor(buffer: SharedArrayBuffer) {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < kHeaderBytes) {
      throw new InvalidArgumentError('an rmap snapshot reader needs the SharedArrayBuffer of a replica', {
        data: { option: 'buffer' },
      })
    }
    this.#words = new Int32Array(buffer, 0, kHeaderBytes / 4)
    this.#bytes = new Uint8Array(buffer)
  }

  /** The current content (decoded again only if the actor published since the last call). */
  content(): ReadonlyMap<string, string> {
    if (Atomics.load(this.#words, kGen) !== this.#gen) this.#refresh()
    return this.#content
  }

  get(key: string): string | undefined {
    if (Atomics.load(this.#words, kGen) !== this.#gen) this.#refresh()
    return this.#content.get(key)
  }

  has(key: string): boolean {
    return this.content().has(key)
  }

  /** The revision of the snapshot last read. */
  get revision(): number {
    this.content()
    return this.#rev
  }

  get generation(): number {
    this.content()
    return this.#gen
  }

  get state(): SnapshotState {
    return Atomics.load(this.#words, kState) as SnapshotState
  }

  /** How many snapshots this reader decoded (for tests and benchmarks). */
  get decodes(): number {
    return this.#decodes
  }

  #refresh(): void {
    const words = this.#words
    for (;;) {
      const gen = Atomics.load(words, kGen)
      if (gen === 0) return
      const offset = Atomics.load(words, kOffset + slot(gen))
      const length = Atomics.load(words, kLength + slot(gen))
      const copy = this.#bytes.slice(offset, offset + length)
      // Overwritten meanwhile only by generation gen+2 or later, whose writer announced itself first.
      if (((Atomics.load(words, kPending) - gen) | 0) >= 2) continue
      const flat = JSON.parse(this.#decoder.decode(copy)) as (string | number)[]
      const content = new Map<string, string>()
      for (let i = 1; i + 1 < flat.length; i += 2) content.set(flat[i] as string, flat[i + 1] as string)
      this.#content = content
      this.#rev = flat[0] as number
      this.#gen = gen
      this.#decodes += 1
      return
    }
  }
}
