/**
 * Bus events as stream entries. One entry per event, fields by one-letter name (empty ones omitted):
 *
 * | field | holds                                   |
 * |-------|-----------------------------------------|
 * | `i`   | event id (`e_…`, or the publisher's)    |
 * | `s`   | subject                                 |
 * | `c`   | created_at, RFC 3339                    |
 * | `k`   | dedup key                               |
 * | `t`   | trace id                                |
 * | `r`   | response subject (`_bus_.…`)            |
 * | `p`   | payload: the raw JSON bytes             |
 * | `x`   | trace context of the put                |
 *
 * The canonical record JSON the HTTP API streams is built from these fields (`actors/bus/record.ts`),
 * all but `x`: the OpenTelemetry propagation carrier of the put's span as JSON (`{"traceparent":"00-…"}`),
 * written only under a valid span context. It is not the reference's `trace_id`, which stays the
 * publisher's own string, as given.
 */
import { fieldText, letterFields } from '../entry-fields.js'

export interface BusEntryFields {
  readonly id: string
  readonly subject: string
  readonly createdAt: string
  readonly key?: string | undefined
  readonly traceId?: string | undefined
  readonly responseSubject?: string | undefined
  /** Raw JSON bytes; empty for none. */
  readonly payload: Buffer
  /** The put's trace context (`x`), not part of the record. */
  readonly traceContext?: string | undefined
}

/** A decoded entry with its stream id. */
export interface BusEntry extends BusEntryFields {
  readonly entryId: string
}

/** The eight per-event arguments of `busPut-5`, in its order. */
export function putArgs(fields: BusEntryFields): (string | Buffer)[] {
  return [
    fields.id,
    fields.subject,
    fields.createdAt,
    fields.key ?? '',
    fields.traceId ?? '',
    fields.responseSubject ?? '',
    fields.payload,
    fields.traceContext ?? '',
  ]
}

/** Decodes one `[id, [field, value, …]]` of an XRANGE / XREAD reply read as buffers; undefined when it is not a bus entry. */
export function decodeBusEntry(entryId: string, fields: unknown): BusEntry | undefined {
  const values = letterFields(fields)?.values
  if (values === undefined) return undefined
  const id = fieldText(values, 'i')
  const subject = fieldText(values, 's')
  if (id === undefined || subject === undefined) return undefined
  const createdAt = fieldText(values, 'c') ?? ''
  const payload = values.get(0x70) ?? Buffer.alloc(0) // p
  return {
    entryId,
    id,
    subject,
    createdAt,
    key: fieldText(values, 'k'),
    traceId: fieldText(values, 't'),
    responseSubject: fieldText(values, 'r'),
    payload,
    traceContext: fieldText(values, 'x'),
  }
}

/** Decodes the entries of one stream of an XREAD reply, or of an XRANGE reply (buffers). */
export function decodeBusEntries(entries: unknown): {
  entries: BusEntry[]
  lastId: string | undefined
  malformed: number
} {
  const out: BusEntry[] = []
  let lastId: string | undefined
  let malformed = 0
  if (!Array.isArray(entries)) return { entries: out, lastId, malformed }
  for (const raw of entries as unknown[]) {
    if (!Array.isArray(raw)) continue
    const [idBuf, fields] = raw as [unknown, unknown]
    const entryId = Buffer.isBuffer(idBuf) ? idBuf.toString('latin1') : String(idBuf)
    lastId = entryId
    const entry = decodeBusEntry(entryId, fields)
    if (entry === undefined) malformed++
    else out.push(entry)
  }
  return { entries: out, lastId, malformed }
}

/** Orders two stream entry ids `<ms>-<seq>`; negative when a < b. */
export function compareEntryIds(a: string, b: string): number {
  const da = a.indexOf('-')
  const db = b.indexOf('-')
  const ma = da < 0 ? a : a.slice(0, da)
  const mb = db < 0 ? b : b.slice(0, db)
  if (ma.length !== mb.length) return ma.length - mb.length
  if (ma !== mb) return ma < mb ? -1 : 1
  const sa = da < 0 ? '0' : a.slice(da + 1)
  const sb = db < 0 ? '0' : b.slice(db + 1)
  if (sa.length !== sb.length) return sa.length - sb.length
  return sa === sb ? 0 : sa < sb ? -1 : 1
}
