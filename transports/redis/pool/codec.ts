/**
 * The binary payloads of the pool's stream events, byte for byte those of goa.design/pulse v1.6.5
 * (its `pool/marshal.go`; docs/redis-layout.md, "Event payloads"), plus two trailing extensions that
 * v1.6.5 readers skip: they read their fields in order with a `bytes.Reader` and ignore what follows.
 *
 * `str` and `bytes` are an int32 little-endian byte length, then the bytes; strings are UTF-8.
 *
 *     job            str key | str nodeId | bytes payload | i64le createdAt unix ns | u8 requeued (0/1)
 *                    [ | str dispatchId ]                                  ← extension 1
 *     job key        str key                                               (stop)
 *     notification   str key | bytes payload
 *     envelope       str sender | bytes payload                            (worker and node streams)
 *     ack            str eventId | str error
 *                    [ | str jobKey [ | str dispatchId | str errorRecord ] ] ← extension 2
 *
 * Which event carries what (event names in `kPoolEvents`):
 *
 * | stream | event | payload |
 * |---|---|---|
 * | `P:pool` | `j` | job — `nodeId` is the dispatching node, the one that gets the `d` |
 * | `P:pool` | `s` | job key |
 * | `P:pool` | `n` | notification |
 * | `worker:<id>` | `j` `s` `n` | envelope(routing node id, the pool event's payload unchanged) |
 * | `worker:<id>` | `i` | ignored by readers (written so the stream exists) |
 * | `P:node:<id>` | `a` | envelope(worker id, ack{ worker stream event id, start/stop error }) |
 * | `P:node:<id>` | `d` | envelope(routing node id, ack{ pool event id, start error }) |
 * | `P:node:<id>` | `i` | the node id's bytes; ignored by readers |
 *
 * Extension 1, the dispatch id, names one `dispatchJob` call: it survives redelivery and requeues, so a
 * worker never calls `start` twice for one dispatch and the `d` finds its waiter (PROTOCOL.md).
 * Extension 2 carries the job key (the third field of later upstream acks), the dispatch id, and the
 * error as a JSON `WireError` record, so that `WorkerStartError` keeps the handler's class and code; the
 * `error` string stays the plain message, which is all a Go node reads. An empty `error` means success;
 * an empty extension field means "absent" (job keys and dispatch ids are never empty), and an
 * absent dispatch id is not written, so a job without one is v1.6.5's bytes exactly.
 *
 * Every `decode*` reads one complete payload and throws `ProtocolError` (`PULSE_ERR_PROTOCOL`) on
 * anything else: a length that is negative or runs past the end, a boolean other than 0/1, bytes that
 * are not UTF-8 in a string field, trailing bytes. It never throws a `RangeError`. Decoded payloads are
 * views into the input (no copy).
 */
import { isUtf8 } from 'node:buffer'

import { InvalidArgumentError, isWireError, ProtocolError, type WireError } from '../../../runtime/errors.js'

/** The event names of the pool's streams. */
export const kPoolEvents = Object.freeze({
  /** written first into node and worker streams so they exist; readers skip it */
  init: 'i',
  /** start a job (pool stream, worker stream) */
  startJob: 'j',
  /** stop a job */
  stopJob: 's',
  /** notify a job's worker */
  notify: 'n',
  /** a worker's ack of an event, to the routing node */
  ack: 'a',
  /** the outcome of a start, to the dispatching node */
  dispatchReturn: 'd',
} as const)

export type PoolEventName = (typeof kPoolEvents)[keyof typeof kPoolEvents]

export interface JobRecord {
  readonly key: string
  /** The node that dispatched the job (and waits for its `d`). */
  readonly nodeId: string
  readonly payload: Uint8Array
  /** Unix time in nanoseconds (Go's `UnixNano`, a signed 64-bit integer). */
  readonly createdAtNs: bigint
  /** Started again after a rebalance, a cleanup or a node's close (not a fresh dispatch). */
  readonly requeued: boolean
  /** Extension 1: the `dispatchJob` call this start belongs to. */
  readonly dispatchId?: string | undefined
}

export interface NotificationRecord {
  readonly key: string
  readonly payload: Uint8Array
}

export interface EnvelopeRecord {
  /** The routing node id (to a worker) or the worker id (to a node). */
  readonly sender: string
  readonly payload: Uint8Array
}

export interface AckRecord {
  /** The acknowledged event's stream id: the worker stream's (`a`) or the pool stream's (`d`). */
  readonly eventId: string
  /** The handler's error message; `''` when it succeeded. */
  readonly error: string
  /** Extension 2. */
  readonly jobKey?: string | undefined
  /** Extension 2: the dispatch the acknowledged start belonged to. */
  readonly dispatchId?: string | undefined
  /** Extension 2: the handler's error as a record (`toWire`), rebuilt with `fromWire`. */
  readonly errorRecord?: WireError | undefined
}

const kMaxFieldLength = 0x7fff_ffff

// ---------------------------------------------------------------------------------------------------
// Writing

class Writer {
  private readonly parts: Uint8Array[] = []

  str(value: string, what: string): this {
    return this.bytes(Buffer.from(value, 'utf8'), what)
  }

  bytes(value: Uint8Array, what: string): this {
    if (value.byteLength > kMaxFieldLength) {
      throw new InvalidArgumentError(`${what} is ${value.byteLength} bytes, more than an int32 length can say`, {
        data: { option: what },
      })
    }
    const length = Buffer.allocUnsafe(4)
    length.writeInt32LE(value.byteLength, 0)
    this.parts.push(length, value)
    return this
  }

  i64(value: bigint, what: string): this {
    if (value < -(1n << 63n) || value >= 1n << 63n) {
      throw new InvalidArgumentError(`${what} must fit a signed 64-bit integer (got ${value}n)`, {
        data: { option: what },
      })
    }
    const bytes = Buffer.allocUnsafe(8)
    bytes.writeBigInt64LE(value, 0)
    this.parts.push(bytes)
    return this
  }

  bool(value: boolean): this {
    this.parts.push(Buffer.of(value ? 1 : 0))
    return this
  }

  done(): Buffer {
    return Buffer.concat(this.parts)
  }
}

export function encodeJob(job: JobRecord): Buffer {
  const writer = new Writer()
    .str(job.key, 'job.key')
    .str(job.nodeId, 'job.nodeId')
    .bytes(job.payload, 'job.payload')
    .i64(job.createdAtNs, 'job.createdAtNs')
    .bool(job.requeued)
  if (job.dispatchId !== undefined && job.dispatchId !== '') writer.str(job.dispatchId, 'job.dispatchId')
  return writer.done()
}

export function encodeJobKey(key: string): Buffer {
  return new Writer().str(key, 'key').done()
}

export function encodeNotification(notification: NotificationRecord): Buffer {
  return new Writer()
    .str(notification.key, 'notification.key')
    .bytes(notification.payload, 'notification.payload')
    .done()
}

export function encodeEnvelope(envelope: EnvelopeRecord): Buffer {
  return new Writer().str(envelope.sender, 'envelope.sender').bytes(envelope.payload, 'envelope.payload').done()
}

/**
 * An ack: the two v1.6.5 fields alone when no extension field is set, else with the job key, and
 * with all three extension fields when a dispatch id or an error record is set (absent ones empty).
 */
export function encodeAck(ack: AckRecord): Buffer {
  const writer = new Writer().str(ack.eventId, 'ack.eventId').str(ack.error, 'ack.error')
  const full = (ack.dispatchId !== undefined && ack.dispatchId !== '') || ack.errorRecord !== undefined
  if (full || (ack.jobKey !== undefined && ack.jobKey !== '')) writer.str(ack.jobKey ?? '', 'ack.jobKey')
  if (full) {
    writer.str(ack.dispatchId ?? '', 'ack.dispatchId')
    writer.str(ack.errorRecord === undefined ? '' : JSON.stringify(ack.errorRecord), 'ack.errorRecord')
  }
  return writer.done()
}

// ---------------------------------------------------------------------------------------------------
// Reading

class Reader {
  private offset = 0
  private readonly data: Buffer
  private readonly what: string

  constructor(input: Uint8Array, what: string) {
    this.what = what
    if (!(input instanceof Uint8Array))
      throw new ProtocolError(`${what}: not bytes`, { data: { what, received: typeof input } })
    this.data = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength)
  }

  get remaining(): number {
    return this.data.length - this.offset
  }

  fail(reason: string): never {
    throw new ProtocolError(`malformed ${this.what}: ${reason}`, { data: { what: this.what, reason } })
  }

  bytes(field: string): Buffer {
    if (this.remaining < 4) this.fail(`${field}: no room for its length (${this.remaining} bytes left)`)
    const length = this.data.readInt32LE(this.offset)
    this.offset += 4
    if (length < 0) this.fail(`${field}: negative length ${length}`)
    if (length > this.remaining) this.fail(`${field}: ${length} bytes announced, ${this.remaining} left`)
    const value = this.data.subarray(this.offset, this.offset + length)
    this.offset += length
    return value
  }

  str(field: string): string {
    const bytes = this.bytes(field)
    if (!isUtf8(bytes)) this.fail(`${field}: not UTF-8`)
    return bytes.toString('utf8')
  }

  i64(field: string): bigint {
    if (this.remaining < 8) this.fail(`${field}: 8 bytes needed, ${this.remaining} left`)
    const value = this.data.readBigInt64LE(this.offset)
    this.offset += 8
    return value
  }

  bool(field: string): boolean {
    if (this.remaining < 1) this.fail(`${field}: missing`)
    const value = this.data[this.offset++]
    if (value !== 0 && value !== 1) this.fail(`${field}: ${value} is not a boolean`)
    return value === 1
  }

  end(): void {
    if (this.remaining !== 0) this.fail(`${this.remaining} trailing bytes`)
  }
}

export function decodeJob(bytes: Uint8Array): JobRecord {
  const reader = new Reader(bytes, 'job')
  const key = reader.str('key')
  const nodeId = reader.str('nodeId')
  const payload = reader.bytes('payload')
  const createdAtNs = reader.i64('createdAt')
  const requeued = reader.bool('requeued')
  if (reader.remaining === 0) return { key, nodeId, payload, createdAtNs, requeued }
  const dispatchId = reader.str('dispatchId')
  reader.end()
  return dispatchId === ''
    ? { key, nodeId, payload, createdAtNs, requeued }
    : { key, nodeId, payload, createdAtNs, requeued, dispatchId }
}

export function decodeJobKey(bytes: Uint8Array): string {
  const reader = new Reader(bytes, 'job key')
  const key = reader.str('key')
  reader.end()
  return key
}

/**
 * The job key of a `j`, `s` or `n` payload: its first field, the rest unread — what the router needs
 * to route any of the three (PROTOCOL.md, "Routing").
 */
export function peekJobKey(bytes: Uint8Array): string {
  return new Reader(bytes, 'pool event').str('key')
}

export function decodeNotification(bytes: Uint8Array): NotificationRecord {
  const reader = new Reader(bytes, 'notification')
  const key = reader.str('key')
  const payload = reader.bytes('payload')
  reader.end()
  return { key, payload }
}

export function decodeEnvelope(bytes: Uint8Array): EnvelopeRecord {
  const reader = new Reader(bytes, 'envelope')
  const sender = reader.str('sender')
  const payload = reader.bytes('payload')
  reader.end()
  return { sender, payload }
}

function parseErrorRecord(reader: Reader, text: string): WireError | undefined {
  if (text === '') return undefined
  let record: unknown
  try {
    record = JSON.parse(text)
  } catch {
    reader.fail('errorRecord: not JSON')
  }
  if (!isWireError(record)) reader.fail('errorRecord: not an error record')
  return record
}

export function decodeAck(bytes: Uint8Array): AckRecord {
  const reader = new Reader(bytes, 'ack')
  const eventId = reader.str('eventId')
  const error = reader.str('error')
  if (reader.remaining === 0) return { eventId, error }
  const jobKey = reader.str('jobKey')
  const withKey = jobKey === '' ? {} : { jobKey }
  if (reader.remaining === 0) return { eventId, error, ...withKey }
  const dispatchId = reader.str('dispatchId')
  const errorRecord = parseErrorRecord(reader, reader.str('errorRecord'))
  reader.end()
  return {
    eventId,
    error,
    ...withKey,
    ...(dispatchId === '' ? {} : { dispatchId }),
    ...(errorRecord === undefined ? {} : { errorRecord }),
  }
}
