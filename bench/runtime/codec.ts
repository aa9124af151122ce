/**
 * Encode + decode cost and size of the candidate body codecs, on the message shapes actors exchange:
 * JSON (to and from a UTF-8 Buffer), `v8.serialize`, and msgpackr with the kernel's settings (plus
 * msgpackr without `structuredClone`, to price that option). Single thread, no I/O: this is the codec
 * alone; the mailbox adds one copy out of shared memory before decoding.
 */
import { isDeepStrictEqual } from 'node:util'
import v8 from 'node:v8'

import { Packr } from 'msgpackr'

import {
  isMain,
  roundRobin,
  runAlone,
  series,
  type SuiteContext,
  type SuiteOutput,
  type Variant,
} from '../lib/runner.js'
import { fmtSummary, ratios, fmtRatio, summarize, table } from '../lib/stats.js'
import { job, jobPool } from './payloads.js'

interface Codec {
  readonly name: string
  encode(value: unknown): Uint8Array
  decode(bytes: Uint8Array): unknown
}

const kernelPackr = new Packr({ useRecords: false, structuredClone: true, int64AsType: 'bigint' })
const plainPackr = new Packr({ useRecords: false })

const codecs: readonly Codec[] = [
  {
    name: 'JSON',
    encode: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
    decode: (b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as unknown,
  },
  { name: 'v8.serialize', encode: (v) => v8.serialize(v), decode: (b) => v8.deserialize(b) as unknown },
  {
    name: 'msgpackr (kernel settings)',
    encode: (v) => kernelPackr.pack(v),
    decode: (b) => kernelPackr.unpack(b) as unknown,
  },
  {
    name: 'msgpackr, no structuredClone',
    encode: (v) => plainPackr.pack(v),
    decode: (b) => plainPackr.unpack(b) as unknown,
  },
]

interface Shape {
  readonly name: string
  readonly value: unknown
}

const shapes: readonly Shape[] = [
  { name: 'job `{ id, kind, name, attempt, payload: { to, n } }`', value: job(12345) },
  {
    name: 'envelope `{ to, from, kind, seq, body: { op, by } }`',
    value: { to: 'counter-7', from: 'main', kind: 'tell', seq: 123_456, body: { op: 'inc', by: 1 } },
  },
  {
    name: 'event with a Date, nested array of 3 line items',
    value: {
      subject: 'orders.created',
      at: new Date(1_764_000_000_000),
      data: {
        orderId: 'ord_8f14e45fceea167a',
        items: [1, 2, 3].map((i) => ({ sku: `SKU-${i}00`, qty: i, price: 19.99 })),
        total: 119.94,
        tags: ['web', 'eu'],
      },
    },
  },
  { name: 'array of 50 jobs', value: jobPool(50) },
  {
    name: 'record with a 1000-char string',
    value: { id: 42, kind: 'blob', body: 'lorem ipsum '.repeat(84).slice(0, 1000) },
  },
]

interface CodecResult {
  readonly encodeNs: number
  readonly decodeNs: number
  readonly bytes: number
}

/** Times `fn` over enough iterations to last about `ms` milliseconds; returns ns per call. */
function timeIt(fn: () => number, ms: number): number {
  let iterations = 64
  let sink = 0
  for (;;) {
    const t0 = performance.now()
    for (let i = 0; i < iterations; i++) sink += fn()
    const elapsed = performance.now() - t0
    if (elapsed >= ms || iterations >= 1 << 26) {
      if (sink === -1) console.log(sink) // keeps the loop's result alive
      return (elapsed * 1e6) / iterations
    }
    iterations = Math.max(iterations * 2, Math.ceil((iterations * ms) / Math.max(elapsed, 0.01)))
  }
}

function measure(codec: Codec, value: unknown, ms: number): CodecResult {
  const encoded = codec.encode(value)
  const encodeNs = timeIt(() => codec.encode(value).length, ms)
  const decodeNs = timeIt(() => (codec.decode(encoded) === undefined ? 0 : 1), ms)
  return { encodeNs, decodeNs, bytes: encoded.length }
}

const key = (shape: Shape, codec: Codec) => `${codec.name} / ${shape.name}`

export async function codecSuite(ctx: SuiteContext): Promise<SuiteOutput> {
  const ms = ctx.quick ? 20 : 100
  const variants: Variant<CodecResult>[] = shapes.flatMap((shape) =>
    codecs.map((codec) => ({
      name: key(shape, codec),
      run: (round: number) => Promise.resolve(measure(codec, shape.value, round < 0 ? ms / 4 : ms)),
    })),
  )
  ctx.log(`codec: ${variants.length} variants × ${ctx.rounds} rounds`)
  const results = await roundRobin(variants, { rounds: ctx.rounds, log: () => undefined })
  const rows: string[][] = []
  for (const shape of shapes) {
    const kernel = series(results, key(shape, codecs[2]!)).map(total)
    for (const codec of codecs) {
      const rs = series(results, key(shape, codec))
      const exact = isDeepStrictEqual(codec.decode(codec.encode(shape.value)), shape.value)
      rows.push([
        shape.name,
        codec.name,
        fmtSummary(summarize(rs.map(total)), (n) => n.toFixed(0)),
        fmtSummary(summarize(rs.map((r) => r.encodeNs)), (n) => n.toFixed(0)),
        fmtSummary(summarize(rs.map((r) => r.decodeNs)), (n) => n.toFixed(0)),
        String(rs[0]?.bytes ?? '?'),
        exact ? 'yes' : 'no',
        fmtRatio(ratios(rs.map(total), kernel)),
      ])
    }
  }
  const markdown = table(
    [
      'shape',
      'codec',
      'encode + decode ns/op',
      'encode ns',
      'decode ns',
      'bytes',
      'round-trips exactly',
      '÷ msgpackr (kernel), same round',
    ],
    rows,
  )
  return { title: 'Codec: encode + decode', markdown, data: Object.fromEntries(results) }
}

function total(r: CodecResult): number {
  return r.encodeNs + r.decodeNs
}

if (isMain(import.meta.url)) await runAlone(codecSuite, ['msgpackr'])
