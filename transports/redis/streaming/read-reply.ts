/**
 * An XREAD / XREADGROUP reply decoded from its RESP bytes into columns, for a `RespConnection`: one
 * string per entry id, the names and topics shared while they repeat (the usual case), and the payloads
 * left in the reply's bytes as offsets. Layout of the reply (RESP2):
 *
 *   *-1                                    timeout: null
 *   *<streams>  { *2  $key  *<entries>  { *2  $id  *<2 × fields> { $field $value }… | *-1 }… }…
 *
 * A `*-1` body is an entry deleted since it was delivered (XREADGROUP of pending ids). Entries that are
 * not Pulse's (no `n` or `p`, a value that is not a bulk string) are listed as malformed; a reply that is
 * not of this shape at all throws (the connection's replies are out of step).
 */
import type { Decoded, ReplyDecoder } from '../resp-connection.js'
import { Interned, kIncomplete, RespScan } from '../resp-scan.js'

/** One stream's entries in a read reply. */
export interface ReadColumns {
  readonly key: string
  /** Pulse entries, in id order. */
  readonly ids: string[]
  readonly names: string[]
  /** null when no entry has a topic; else undefined where an entry has none. */
  topics: (string | undefined)[] | null
  /** The `x` fields (trace contexts, entry.ts), as `topics`. */
  traces: (string | undefined)[] | null
  /** The reply's bytes: payload `i` is `src[starts[i], ends[i])`. */
  readonly src: Buffer
  readonly starts: number[]
  readonly ends: number[]
  /** Ids of entries that are not Pulse's. */
  readonly malformed: string[]
  /** The last id, malformed ones included. */
  lastId: string | undefined
}

function readStream(scan: RespScan): ReadColumns {
  if (scan.header(0x2a) !== 2) throw new Error('a stream of a read reply is not [key, entries]')
  if (!scan.bulk()) throw new Error('a nil stream key')
  const buf = scan.buf
  const columns: ReadColumns = {
    key: buf.toString('utf8', scan.start, scan.end),
    ids: [],
    names: [],
    topics: null,
    traces: null,
    src: buf,
    starts: [],
    ends: [],
    malformed: [],
    lastId: undefined,
  }
  const names = new Interned()
  const topics = new Interned()
  const entries = scan.header(0x2a)
  for (let e = 0; e < entries; e++) {
    if (scan.header(0x2a) !== 2) throw new Error('an entry of a read reply is not [id, fields]')
    if (!scan.bulk()) throw new Error('a nil entry id')
    const id = buf.toString('latin1', scan.start, scan.end)
    columns.lastId = id
    const fields = scan.header(0x2a)
    if (fields < 0) continue // deleted since delivered
    let name: string | undefined
    let topic: string | undefined
    let trace: string | undefined
    let start = -1
    let end = -1
    let valid = fields % 2 === 0
    for (let f = 0; f + 1 < fields; f += 2) {
      if (scan.buf[scan.pos] !== 0x24) {
        valid = false
        scan.skip()
        scan.skip()
        continue
      }
      scan.bulk()
      const key = scan.end - scan.start === 1 ? buf[scan.start] : -1
      if (scan.buf[scan.pos] !== 0x24) {
        valid = false
        scan.skip()
        continue
      }
      scan.bulk()
      if (key === 0x6e) name = names.text(buf, scan.start, scan.end)
      else if (key === 0x70) {
        start = scan.start
        end = scan.end
      } else if (key === 0x74) topic = topics.text(buf, scan.start, scan.end)
      else if (key === 0x78) trace = buf.toString('utf8', scan.start, scan.end)
    }
    if (fields % 2 === 1) scan.skip()
    if (!valid || name === undefined || start < 0) {
      columns.malformed.push(id)
      continue
    }
    const n = columns.ids.length
    columns.ids.push(id)
    columns.names.push(name)
    columns.starts.push(start)
    columns.ends.push(end)
    if (topic !== undefined) (columns.topics ??= new Array<string | undefined>(n).fill(undefined)).push(topic)
    else columns.topics?.push(undefined)
    if (trace !== undefined) (columns.traces ??= new Array<string | undefined>(n).fill(undefined)).push(trace)
    else columns.traces?.push(undefined)
  }
  return columns
}

/** The XREAD / XREADGROUP reply decoder: null on a timeout, else one `ReadColumns` per stream. */
export const decodeReadReply: ReplyDecoder<ReadColumns[] | null> = (
  buf: Buffer,
  start: number,
): Decoded<ReadColumns[] | null> | undefined => {
  const scan = new RespScan(buf, start)
  try {
    const streams = scan.header(0x2a)
    if (streams < 0) return { value: null, end: scan.pos }
    const value: ReadColumns[] = []
    for (let s = 0; s < streams; s++) value.push(readStream(scan))
    return { value, end: scan.pos }
  } catch (error) {
    if (error === kIncomplete) return undefined
    throw error
  }
}
