/**
 * An XREAD reply of bus streams decoded from its RESP bytes, for a `RespConnection`: each entry becomes
 * a `BusEntry` straight from the bytes (no Buffer per field, as ioredis makes), the subject and the
 * created_at kept as one string while they repeat, each payload copied out of the reply so that an
 * event does not hold the socket's chunk. Layout of the reply (RESP2):
 *
 *   *-1                                    timeout: null
 *   *<streams>  { *2  $key  *<entries>  { *2  $id  *<2 × fields> { $field $value }… }… }…
 *
 * Fields as `entry.ts` names them; other names are ignored, the last of a repeated letter is kept. An
 * entry without `i` or `s` is not a bus event: it is counted as malformed and skipped, and `lastId`
 * still moves past it. A reply not of this shape throws (the connection's replies are out of step).
 */
import type { Decoded, ReplyDecoder } from '../resp-connection.js'
import type { BusEntry } from './entry.js'

/** One stream of an XREAD reply. */
export interface BusStreamRead {
  /** The stream's key, with the client's key prefix. */
  readonly key: string
  readonly entries: BusEntry[]
  /** The last entry id read, malformed entries included. */
  lastId: string | undefined
  malformed: number
}

/** Thrown (one instance, made once) when the bytes run out: the reply is asked for again with more. */
const kIncomplete = new Error('incomplete reply')
const kEmpty = Buffer.alloc(0)

/** A cursor over a reply's bytes; throws kIncomplete when they run out. */
class Scan {
  readonly buf: Buffer
  pos: number
  /** The span of the last bulk string read. */
  start = 0
  end = 0

  constructor(buf: Buffer, pos: number) {
    this.buf = buf
    this.pos = pos
  }

  /** `<type><integer>\r\n`: the integer. */
  header(type: number): number {
    const buf = this.buf
    if (this.pos >= buf.length) throw kIncomplete
    if (buf[this.pos] !== type) throw new Error(`expected ${String.fromCharCode(type)} at ${this.pos}`)
    let i = this.pos + 1
    const negative = buf[i] === 0x2d
    if (negative) i++
    let value = 0
    for (;;) {
      if (i >= buf.length) throw kIncomplete
      const c = buf[i] as number
      if (c === 0x0d) break
      if (c < 0x30 || c > 0x39) throw new Error(`bad integer at ${i}`)
      value = value * 10 + (c - 0x30)
      i++
    }
    if (i + 1 >= buf.length) throw kIncomplete
    this.pos = i + 2
    return negative ? -value : value
  }

  /** A bulk string (not nil): sets `start` / `end`. */
  bulk(): void {
    const length = this.header(0x24)
    if (length < 0) throw new Error(`a nil bulk string at ${this.pos}`)
    if (this.pos + length + 2 > this.buf.length) throw kIncomplete
    this.start = this.pos
    this.end = this.pos + length
    this.pos = this.end + 2
  }

  text(): string {
    return this.buf.toString('utf8', this.start, this.end)
  }
}

/** The last text decoded from one reply's bytes, reused while they repeat. */
class Interned {
  #start = -1
  #length = -1
  #text = ''

  text(buf: Buffer, start: number, end: number): string {
    const length = end - start
    if (length === this.#length && buf.compare(buf, this.#start, this.#start + length, start, end) === 0)
      return this.#text
    this.#start = start
    this.#length = length
    this.#text = buf.toString('utf8', start, end)
    return this.#text
  }
}

function readEntry(scan: Scan, subjects: Interned, times: Interned): { entryId: string; entry?: BusEntry } {
  if (scan.header(0x2a) !== 2) throw new Error('an entry of a read reply is not [id, fields]')
  scan.bulk()
  const buf = scan.buf
  const entryId = buf.toString('latin1', scan.start, scan.end)
  const fields = scan.header(0x2a)
  if (fields < 0) return { entryId }
  let id: string | undefined
  let subject: string | undefined
  let createdAt = ''
  let key: string | undefined
  let traceId: string | undefined
  let responseSubject: string | undefined
  let traceContext: string | undefined
  let payload = kEmpty
  for (let f = 0; f < fields; f += 2) {
    scan.bulk()
    const letter = scan.end - scan.start === 1 ? buf[scan.start] : -1
    if (f + 1 >= fields) break // an odd field count: not an entry XREAD can give
    scan.bulk()
    switch (letter) {
      case 0x69: // i
        id = scan.text()
        break
      case 0x73: // s
        subject = subjects.text(buf, scan.start, scan.end)
        break
      case 0x63: // c
        createdAt = times.text(buf, scan.start, scan.end)
        break
      case 0x6b: // k
        key = scan.text()
        break
      case 0x74: // t
        traceId = scan.text()
        break
      case 0x72: // r
        responseSubject = scan.text()
        break
      case 0x70: // p
        payload = Buffer.from(buf.subarray(scan.start, scan.end))
        break
      case 0x78: // x
        traceContext = scan.text()
        break
    }
  }
  if (fields % 2 === 1 || id === undefined || subject === undefined) return { entryId }
  return {
    entryId,
    entry: { entryId, id, subject, createdAt, key, traceId, responseSubject, payload, traceContext },
  }
}

function readStream(scan: Scan, subjects: Interned, times: Interned): BusStreamRead {
  if (scan.header(0x2a) !== 2) throw new Error('a stream of a read reply is not [key, entries]')
  scan.bulk()
  const read: BusStreamRead = { key: scan.text(), entries: [], lastId: undefined, malformed: 0 }
  const count = scan.header(0x2a)
  for (let e = 0; e < count; e++) {
    const { entryId, entry } = readEntry(scan, subjects, times)
    read.lastId = entryId
    if (entry === undefined) read.malformed++
    else read.entries.push(entry)
  }
  return read
}

/** The XREAD reply decoder: null on a timeout, else one `BusStreamRead` per stream with entries. */
export const decodeBusRead: ReplyDecoder<BusStreamRead[] | null> = (
  buf: Buffer,
  start: number,
): Decoded<BusStreamRead[] | null> | undefined => {
  const scan = new Scan(buf, start)
  try {
    const streams = scan.header(0x2a)
    if (streams < 0) return { value: null, end: scan.pos }
    const subjects = new Interned()
    const times = new Interned()
    const value: BusStreamRead[] = []
    for (let s = 0; s < streams; s++) value.push(readStream(scan, subjects, times))
    return { value, end: scan.pos }
  } catch (error) {
    if (error === kIncomplete) return undefined
    throw error
  }
}
