/**
 * The canonical event record of the HTTP API (ella.to/bus v0.6.4; docs/bus-http-api.md, "The event
 * record"): JSON with a fixed key order — `id`, [`trace_id`], [`key`], `subject`, [`response_subject`],
 * `created_at`, [`payload`] — no whitespace, the payload as its raw JSON bytes. Also: payload
 * normalisation (`toPayload`), the RFC 3339 timestamps, and a scanner that finds the raw bytes of a
 * field's value in a JSON object (so a published payload keeps its spacing byte for byte).
 */
import { ProtocolError } from '../../runtime/errors.js'

export interface BusRecord {
  readonly id: string
  readonly traceId?: string | undefined
  readonly key?: string | undefined
  readonly subject: string
  readonly responseSubject?: string | undefined
  readonly createdAt: string
  /** Raw JSON bytes; empty for none. */
  readonly payload: Buffer
}

/** The record as JSON text, in the canonical key order. */
export function encodeRecord(record: BusRecord): string {
  let out = `{"id":${JSON.stringify(record.id)}`
  if (record.traceId !== undefined && record.traceId !== '') out += `,"trace_id":${JSON.stringify(record.traceId)}`
  if (record.key !== undefined && record.key !== '') out += `,"key":${JSON.stringify(record.key)}`
  out += `,"subject":${JSON.stringify(record.subject)}`
  if (record.responseSubject !== undefined && record.responseSubject !== '')
    out += `,"response_subject":${JSON.stringify(record.responseSubject)}`
  out += `,"created_at":${JSON.stringify(record.createdAt)}`
  if (record.payload.length > 0) out += `,"payload":${record.payload.toString('utf8')}`
  return `${out}}`
}

/** Go's RFC3339Nano of a time: UTC, `Z`, the fraction without trailing zeros (none when zero). */
export function formatTime(date: Date): string {
  const iso = date.toISOString() // 2026-07-03T11:38:53.120Z
  const fraction = iso.slice(20, 23).replace(/0+$/, '')
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`
}

const kRfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/** Parses an RFC 3339 timestamp, or undefined. */
export function parseTime(text: string): Date | undefined {
  if (!kRfc3339.test(text)) return undefined
  const date = new Date(text)
  return Number.isNaN(date.getTime()) ? undefined : date
}

function isJson(text: string): boolean {
  if (text.trim() === '') return false
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** What `put` takes as a payload. */
export type Payload =
  Uint8Array | string | number | boolean | null | readonly unknown[] | { readonly [key: string]: unknown }

/**
 * The payload's raw JSON bytes, by the reference's `WithData` rules: bytes and strings that are valid
 * JSON travel verbatim, other text becomes a JSON string (`'hi'` → `"hi"`, `'123'` → `123`); other
 * values are `JSON.stringify`'d; `undefined` is no payload (empty).
 */
export function toPayload(value: Payload | undefined): Buffer {
  if (value === undefined) return Buffer.alloc(0)
  if (typeof value === 'string') return Buffer.from(isJson(value) ? value : JSON.stringify(value))
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    const text = bytes.toString('utf8')
    return isJson(text) ? Buffer.from(bytes) : Buffer.from(JSON.stringify(text))
  }
  return Buffer.from(JSON.stringify(value))
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++
  return i
}

function skipString(text: string, i: number): number {
  // text[i] is the opening quote.
  i++
  while (i < text.length) {
    const c = text[i]
    if (c === '\\') i += 2
    else if (c === '"') return i + 1
    else i++
  }
  return i
}

/** The end (exclusive) of the JSON value starting at `i` (text already known to be valid JSON). */
function skipValue(text: string, i: number): number {
  const c = text[i]
  if (c === '"') return skipString(text, i)
  if (c === '{' || c === '[') {
    let depth = 0
    while (i < text.length) {
      const d = text[i]
      if (d === '"') {
        i = skipString(text, i)
        continue
      }
      if (d === '{' || d === '[') depth++
      else if (d === '}' || d === ']') {
        depth--
        if (depth === 0) return i + 1
      }
      i++
    }
    return i
  }
  while (i < text.length && !',}] \n\r\t'.includes(text[i] as string)) i++
  return i
}

/**
 * The raw text of each top-level field of the JSON object starting at `start` (valid JSON), by key,
 * and where the object ends. The last occurrence of a key wins, as JSON.parse does.
 */
export function scanObject(text: string, start: number): { fields: Map<string, string>; end: number } {
  const fields = new Map<string, string>()
  let i = skipSpace(text, start)
  if (text[i] !== '{') throw new ProtocolError('expected a JSON object')
  i = skipSpace(text, i + 1)
  if (text[i] === '}') return { fields, end: i + 1 }
  while (i < text.length) {
    const keyEnd = skipString(text, i)
    const key = JSON.parse(text.slice(i, keyEnd)) as string
    i = skipSpace(text, keyEnd)
    i = skipSpace(text, i + 1) // the colon
    const valueEnd = skipValue(text, i)
    fields.set(key, text.slice(i, valueEnd))
    i = skipSpace(text, valueEnd)
    if (text[i] === ',') i = skipSpace(text, i + 1)
    else return { fields, end: i + 1 }
  }
  return { fields, end: i }
}

/** The raw text of each element of the JSON array starting at `start` (valid JSON). */
export function scanArray(text: string, start: number): string[] {
  const items: string[] = []
  let i = skipSpace(text, start)
  i = skipSpace(text, i + 1)
  if (text[i] === ']') return items
  while (i < text.length) {
    const end = skipValue(text, i)
    items.push(text.slice(i, end))
    i = skipSpace(text, end)
    if (text[i] === ',') i = skipSpace(text, i + 1)
    else break
  }
  return items
}

function stringField(fields: Map<string, string>, name: string): string | undefined {
  const raw = fields.get(name)
  if (raw === undefined || raw === 'null') return undefined
  const value: unknown = JSON.parse(raw)
  if (typeof value !== 'string') throw new ProtocolError(`${name} must be a string`, { data: { field: name } })
  return value
}

/** An event as a publisher sends it over HTTP (every field but the subject optional). */
export interface WireEvent {
  readonly id?: string | undefined
  readonly traceId?: string | undefined
  readonly key?: string | undefined
  readonly subject: string
  readonly responseSubject?: string | undefined
  readonly createdAt?: string | undefined
  readonly payload: Buffer
}

/** Reads one event object (its text, valid JSON): raw payload bytes, string fields checked. */
export function parseWireEvent(text: string): WireEvent {
  const { fields } = scanObject(text, 0)
  const payloadRaw = fields.get('payload')
  return {
    id: stringField(fields, 'id'),
    traceId: stringField(fields, 'trace_id'),
    key: stringField(fields, 'key'),
    subject: stringField(fields, 'subject') ?? '',
    responseSubject: stringField(fields, 'response_subject'),
    createdAt: stringField(fields, 'created_at'),
    payload: payloadRaw === undefined || payloadRaw === 'null' ? Buffer.alloc(0) : Buffer.from(payloadRaw),
  }
}

/**
 * A POST body: one event object or an array of them. Throws `ProtocolError` (400) for an empty body,
 * malformed JSON, or anything but an object / an array of objects.
 */
export function parsePublishBody(body: Buffer): { batch: boolean; events: WireEvent[] } {
  const text = body.toString('utf8')
  const trimmed = text.trimStart()
  if (trimmed === '') throw new ProtocolError('empty body')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new ProtocolError(`malformed JSON: ${(error as Error).message}`, { cause: error })
  }
  if (Array.isArray(parsed)) {
    if (parsed.some((item) => typeof item !== 'object' || item === null || Array.isArray(item))) {
      throw new ProtocolError('every batch item must be a JSON object')
    }
    return { batch: true, events: scanArray(text, text.length - trimmed.length).map(parseWireEvent) }
  }
  if (typeof parsed !== 'object' || parsed === null) throw new ProtocolError('expected opening brace')
  return { batch: false, events: [parseWireEvent(text)] }
}

/** Reads a record (SSE `data`, valid JSON) back: what a client yields. */
export function parseRecord(text: string): BusRecord {
  let fields: Map<string, string>
  try {
    JSON.parse(text)
    fields = scanObject(text, 0).fields
  } catch (error) {
    throw new ProtocolError('malformed event record', { cause: error, data: { record: text.slice(0, 200) } })
  }
  const payloadRaw = fields.get('payload')
  return {
    id: stringField(fields, 'id') ?? '',
    traceId: stringField(fields, 'trace_id'),
    key: stringField(fields, 'key'),
    subject: stringField(fields, 'subject') ?? '',
    responseSubject: stringField(fields, 'response_subject'),
    createdAt: stringField(fields, 'created_at') ?? '',
    payload: payloadRaw === undefined || payloadRaw === 'null' ? Buffer.alloc(0) : Buffer.from(payloadRaw),
  }
}

/**
 * A Go duration (`500ms`, `5s`, `1m30s`, `1h`) in ms, or undefined when it does not parse. A bare
 * number is taken as milliseconds.
 */
export function parseGoDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text)
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy
  let total = 0
  let matched = 0
  let m: RegExpExecArray | null
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * (units[m[2] as string] ?? 0)
    matched = re.lastIndex
  }
  if (matched !== text.length || text === '') return undefined
  return Math.round(total)
}
