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
import { Interned, kIncomplete, RespScan } from '../resp-scan.js'
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

const kEmpty = Buffer.alloc(0)

function readEntry(scan: RespScan, subjects: Interned, times: Interned): { entryId: string; entry?: BusEntry } {
  if (scan.header(0x2a) !== 2) throw new Error('an entry of a read reply is not [id, fields]')
  scan.need('entry id')
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
    scan.need('field name')
    const letter = scan.end - scan.start === 1 ? buf[scan.start] : -1
    if (f + 1 >= fields) break // an odd field count: not an entry XREAD can give
    scan.need('field value')
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

function readStream(scan: RespScan, subjects: Interned, times: Interned): BusStreamRead {
  if (scan.header(0x2a) !== 2) throw new Error('a stream of a read reply is not [key, entries]')
  scan.need('stream key')
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
  const scan = new RespScan(buf, start)
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
