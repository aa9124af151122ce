/**
 * The update frames published on `map:<name>:updates`, byte for byte those of goa.design/pulse v1.6.5
 * (docs/redis-layout.md, "Frames"), so that Go and Node replicas share a map:
 *
 *     set:<u32le len><key><u32le len><value><u32le len><rev>     Lua struct.pack("ic0ic0ic0", …)
 *     del:<u32le len><key><u32le len><rev>                       struct.pack("ic0ic0", …)
 *     reset:<rev>
 *     destroy:<rev>
 *
 * `<rev>` is the decimal revision (`=rev` after the mutation), as text. Lengths count bytes: keys and
 * values are UTF-8. Frames are binary; read them with Buffer-mode pub/sub (`messageBuffer`).
 *
 * The scripts (`scripts.ts`) build frames inside Redis; `encodeFrame` exists for tests and tools.
 * `decodeFrame` never throws: a malformed frame comes back as a `string` saying what is wrong.
 */

export type MapFrame =
  | { readonly op: 'set'; readonly key: string; readonly value: string; readonly rev: number }
  | { readonly op: 'del'; readonly key: string; readonly rev: number }
  | { readonly op: 'reset'; readonly rev: number }
  | { readonly op: 'destroy'; readonly rev: number }

const kColon = 0x3a
const kRevPattern = /^\d{1,16}$/

/** A revision as it travels (decimal text), or `undefined` unless it is a safe non-negative integer. */
export function parseRevision(text: string): number | undefined {
  if (!kRevPattern.test(text)) return undefined
  const rev = Number(text)
  return Number.isSafeInteger(rev) ? rev : undefined
}

function lengthPrefixed(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8')
  const length = Buffer.allocUnsafe(4)
  length.writeUInt32LE(bytes.length, 0)
  return [length, bytes]
}

export function encodeFrame(frame: MapFrame): Buffer {
  const rev = String(frame.rev)
  switch (frame.op) {
    case 'set':
      return Buffer.concat([
        Buffer.from('set:'),
        ...lengthPrefixed(frame.key),
        ...lengthPrefixed(frame.value),
        ...lengthPrefixed(rev),
      ])
    case 'del':
      return Buffer.concat([Buffer.from('del:'), ...lengthPrefixed(frame.key), ...lengthPrefixed(rev)])
    case 'reset':
    case 'destroy':
      return Buffer.from(`${frame.op}:${rev}`)
  }
}

/** Reads the `ic0` fields of a `set`/`del` payload; a string says why it could not. */
function readFields(data: Buffer, count: number): string[] | string {
  const fields: string[] = []
  let offset = 0
  for (let i = 0; i < count; i++) {
    if (data.length - offset < 4) return `field ${i + 1}: no room for its length`
    const length = data.readUInt32LE(offset)
    offset += 4
    if (data.length - offset < length) return `field ${i + 1}: ${length} bytes announced, ${data.length - offset} left`
    fields.push(data.toString('utf8', offset, offset + length))
    offset += length
  }
  if (offset !== data.length) return `${data.length - offset} trailing bytes`
  return fields
}

/** Decodes one frame; a malformed one gives a string saying what is wrong with it. */
export function decodeFrame(payload: Buffer): MapFrame | string {
  const colon = payload.indexOf(kColon)
  if (colon === -1) return 'no operation prefix'
  const op = payload.toString('latin1', 0, colon)
  const data = payload.subarray(colon + 1)
  switch (op) {
    case 'set': {
      const fields = readFields(data, 3)
      if (typeof fields === 'string') return `set: ${fields}`
      const [key = '', value = '', revText = ''] = fields
      const rev = parseRevision(revText)
      return rev === undefined ? `set: bad revision ${JSON.stringify(revText)}` : { op, key, value, rev }
    }
    case 'del': {
      const fields = readFields(data, 2)
      if (typeof fields === 'string') return `del: ${fields}`
      const [key = '', revText = ''] = fields
      const rev = parseRevision(revText)
      return rev === undefined ? `del: bad revision ${JSON.stringify(revText)}` : { op, key, rev }
    }
    case 'reset':
    case 'destroy': {
      const revText = data.toString('latin1')
      const rev = parseRevision(revText)
      return rev === undefined ? `${op}: bad revision ${JSON.stringify(revText.slice(0, 24))}` : { op, rev }
    }
    default:
      return `unknown operation ${JSON.stringify(op.slice(0, 24))}`
  }
}
