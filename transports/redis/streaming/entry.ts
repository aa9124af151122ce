/**
 * Stream entries as Pulse writes them: field `n` the event name, `p` the payload bytes, and `t` the
 * topic when there is one (docs/redis-layout.md, "Entries"). Entries written by anything else are
 * recognised here, so the read loops can skip them instead of failing.
 *
 * Field `x`, when there is one, is the trace context of the add (the OpenTelemetry propagation carrier
 * as JSON, `{"traceparent":"00-…"}`), written only under a valid span context. It is Pulse for Node's
 * own: goa.design/pulse readers, and older ones of this package, read fields by name and ignore it.
 */
import { fieldText, letterFields } from '../entry-fields.js'

export interface EntryFields {
  readonly name: string
  readonly payload: Uint8Array | string
  readonly topic?: string | undefined
}

/** A decoded entry: `topic` is undefined when the entry has no `t` field. */
export interface StreamEntry {
  readonly id: string
  readonly name: string
  readonly payload: Buffer
  readonly topic: string | undefined
  /** The `x` field: the add's trace context; undefined when it has none. */
  readonly trace: string | undefined
}

/** The field/value arguments of XADD for one entry; `trace` is the add's trace context (field `x`), if any. */
export function entryArgs(fields: EntryFields, trace?: string): (string | Buffer)[] {
  const payload =
    typeof fields.payload === 'string'
      ? fields.payload
      : Buffer.from(fields.payload.buffer, fields.payload.byteOffset, fields.payload.byteLength)
  const args: (string | Buffer)[] = ['n', fields.name, 'p', payload]
  if (fields.topic !== undefined) args.push('t', fields.topic)
  if (trace !== undefined) args.push('x', trace)
  return args
}

/**
 * Decodes one entry of an XRANGE / XREAD reply read as buffers (`[id, [field, value, …]]`). Returns
 * undefined for an entry that is not Pulse's: no `n` or no `p`, an odd field list, or a field that is
 * not bytes. Unknown extra fields are ignored.
 */
export function decodeEntry(id: string, fields: unknown): StreamEntry | undefined {
  const decoded = letterFields(fields)
  if (decoded === undefined || !decoded.clean) return undefined
  const { values } = decoded
  const name = fieldText(values, 'n')
  const payload = values.get(0x70) // p
  if (name === undefined || payload === undefined) return undefined
  return { id, name, payload, topic: fieldText(values, 't'), trace: fieldText(values, 'x') }
}

/** The millisecond part of an entry id `<ms>-<seq>`. */
export function entryTimeMs(id: string): number {
  const dash = id.indexOf('-')
  return Number(dash < 0 ? id : id.slice(0, dash))
}

const kIdPattern = /^(\d{1,20})(?:-(\d{1,20}))?$/

/** True for a concrete entry id (`<ms>-<seq>` or `<ms>`). */
export function isEntryId(id: string): boolean {
  return kIdPattern.test(id)
}

/** Orders two concrete entry ids; negative when a < b. */
export function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = idParts(a)
  const [bm = 0n, bs = 0n] = idParts(b)
  if (am !== bm) return am < bm ? -1 : 1
  return as === bs ? 0 : as < bs ? -1 : 1
}

function idParts(id: string): bigint[] {
  const dash = id.indexOf('-')
  return dash < 0 ? [BigInt(id), 0n] : [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))]
}

/**
 * The id just before the first possible entry of millisecond `ms`, so that reading after it starts AT
 * that millisecond (v1.6.5 uses `<ms>-0`, exclusive, and so skips an entry with exactly that id).
 */
export function idBeforeMs(ms: number): string {
  return ms <= 0 ? '0-0' : `${ms - 1}-18446744073709551615`
}
