/**
 * The message codec of the mailboxes: an 8-byte envelope, then the body.
 *
 *   byte 0    kind    what the frame is (see `FrameKind`)
 *   byte 1    format  how the body is encoded (see `BodyFormat`)
 *   bytes 2-3 slot    u16 LE, the actor the frame is for (or from) within its thread
 *   bytes 4-7 corr    u32 LE, the correlation id of an ask and its reply (0 for a tell)
 *
 * Bodies: binary payloads (`Uint8Array`, `Buffer`) travel as they are (RAW) and come out as a `Buffer`;
 * strings as UTF-8; `undefined` as nothing; errors as their `toWire` record (ERROR) so they are rebuilt
 * as the same class; everything else with msgpackr. msgpackr won against JSON and `v8.serialize` for the
 * small objects actors exchange (encode + decode, see BENCHMARKS.md, "codec"). It keeps `Date`,
 * `Set`, typed arrays, `bigint` and shared references; a `Map` arrives as a plain object (MessagePack
 * has one map type), as with JSON.
 */
import { Packr } from 'msgpackr'

import { fromWire, ProtocolError, toWire } from '../errors.js'
import type { RingWriter } from './ring-buffer.js'

export const FrameKind = {
  /** A message that wants no answer. */
  Tell: 1,
  /** A message that wants an answer: REPLY or FAIL with the same corr. */
  Ask: 2,
  Reply: 3,
  /** The answer to an ask is an error (the body is an ERROR). */
  Fail: 4,
  /** System: the actor in `slot` crashed (the body is the ERROR). */
  Crash: 5,
  /** A message from the actor to its owner on the runtime's thread (`ctx.emit`). */
  Emit: 6,
} as const
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

export const BodyFormat = { Raw: 0, Utf8: 1, Pack: 2, None: 3, Error: 4 } as const
export type BodyFormat = (typeof BodyFormat)[keyof typeof BodyFormat]

export const kEnvelopeBytes = 8

export interface Envelope {
  kind: FrameKind
  format: BodyFormat
  slot: number
  corr: number
  /** A view of the body, valid only while the frame is being handled. */
  body: Uint8Array
}

const packr = new Packr({ useRecords: false, structuredClone: true, int64AsType: 'bigint' })
const kEmpty = new Uint8Array(0)

/** Encodes a value into its body format and bytes (the bytes may be a view that the next call reuses). */
export function encodeBody(value: unknown): [BodyFormat, Uint8Array] {
  if (value instanceof Uint8Array) return [BodyFormat.Raw, value]
  if (typeof value === 'string') return [BodyFormat.Utf8, Buffer.from(value, 'utf8')]
  if (value === undefined) return [BodyFormat.None, kEmpty]
  if (value instanceof Error) return [BodyFormat.Error, packr.pack(toWire(value))]
  return [BodyFormat.Pack, packr.pack(value)]
}

/**
 * Decodes a body into a value the caller owns (shared memory is copied out first). A body that does
 * not decode throws `ProtocolError`: some values encode but do not decode (a `Map` keyed by objects).
 */
export function decodeBody(format: number, body: Uint8Array): unknown {
  switch (format) {
    case BodyFormat.Raw: {
      // allocUnsafe + set: cheaper than Buffer.from for a view of shared memory (measured in bench/).
      const out = Buffer.allocUnsafe(body.length)
      out.set(body)
      return out
    }
    case BodyFormat.Utf8:
      return Buffer.from(body).toString('utf8')
    case BodyFormat.None:
      return undefined
    case BodyFormat.Pack:
      return unpack(body)
    case BodyFormat.Error:
      return fromWire(unpack(body))
    default:
      throw new ProtocolError(`unknown body format ${format}`)
  }
}

function unpack(body: Uint8Array): unknown {
  try {
    return packr.unpack(Buffer.from(body))
  } catch (error) {
    throw new ProtocolError(`undecodable message body: ${(error as Error).message}`, {
      cause: error,
      data: { bytes: body.length },
    })
  }
}

/** Encodes envelope headers into one scratch array per writer thread (writes copy it at once). */
const header = new Uint8Array(kEnvelopeBytes)
const headerView = new DataView(header.buffer)

export function encodeHeader(kind: FrameKind, format: BodyFormat, slot: number, corr: number): Uint8Array {
  header[0] = kind
  header[1] = format
  headerView.setUint16(2, slot, true)
  headerView.setUint32(4, corr, true)
  return header
}

/**
 * Writes one framed message into a ring. Returns false when it does not fit now; throws
 * `PULSE_ERR_INVALID_ARG` when it could never fit.
 */
export function writeMessage(
  writer: RingWriter,
  kind: FrameKind,
  slot: number,
  corr: number,
  value: unknown,
  publish = true,
): boolean {
  const [format, body] = encodeBody(value)
  return writer.tryWrite(encodeHeader(kind, format, slot, corr), body, publish)
}

/** Size in bytes of a message's frame payload (for waiting until it fits). */
export function messageBytes(value: unknown): number {
  return kEnvelopeBytes + encodeBody(value)[1].length
}

export function readEnvelope(payload: Uint8Array): Envelope {
  if (payload.length < kEnvelopeBytes)
    throw new ProtocolError(`frame of ${payload.length} bytes is shorter than an envelope`)
  return {
    kind: payload[0] as FrameKind,
    format: payload[1] as BodyFormat,
    slot: envelopeSlot(payload),
    corr: envelopeCorr(payload),
    body: payload.subarray(kEnvelopeBytes),
  }
}

// Field readers for the hot path: plain byte reads (a DataView per frame costs more than the rest).

export function envelopeSlot(payload: Uint8Array): number {
  return (payload[2] ?? 0) | ((payload[3] ?? 0) << 8)
}

export function envelopeCorr(payload: Uint8Array): number {
  return ((payload[4] ?? 0) | ((payload[5] ?? 0) << 8) | ((payload[6] ?? 0) << 16) | ((payload[7] ?? 0) << 24)) >>> 0
}
