/**
 * Where a mailbox message's time goes, on one thread (no cross-core traffic, no wake-ups): the
 * consumer's path built up piece by piece with the kernel's own functions, the whole `ActorHost` with
 * and without latency sampling, and a few alternatives for the costly pieces (what-ifs, not kernel
 * code). Each run fills a 4 MiB ring, then times handing every frame over; ns per message.
 */
import { Buffer } from 'node:buffer'

import { ActorHost } from '../../runtime/actor-host.js'
import { decodeBody, FrameKind, readEnvelope, writeMessage } from '../../runtime/ring/codec.js'
import { Doorbell } from '../../runtime/ring/doorbell.js'
import { createRingBuffer, RingReader, RingWriter } from '../../runtime/ring/ring-buffer.js'
import {
  isMain,
  roundRobin,
  runAlone,
  series,
  type SuiteContext,
  type SuiteOutput,
  type Variant,
} from '../lib/runner.js'
import { fmtSummary, summarize, table } from '../lib/stats.js'
import { binaryPool, jobPool } from './payloads.js'

const RING_BYTES = 1 << 22

interface Lane {
  readonly writer: RingWriter
  readonly reader: RingReader
}

function lane(bell?: Doorbell): Lane {
  const buffer = createRingBuffer(RING_BYTES)
  return { writer: new RingWriter(buffer, bell), reader: new RingReader(buffer) }
}

/** Appends tells from `pool` until the ring is full (unpublished); returns how many. */
function fill(writer: RingWriter, pool: readonly unknown[]): number {
  let n = 0
  while (writeMessage(writer, FrameKind.Tell, 0, 0, pool[n % pool.length], false)) n++
  return n
}

type Handler = (payload: Uint8Array) => boolean

let sink = 0

/** Consumer step: fill (untimed), then time `reader.drain(handler)` over every frame. */
async function timeDrain(l: Lane, pool: readonly unknown[], handler: Handler, budgetMs: number): Promise<number> {
  let ns = 0
  let messages = 0
  while (ns < budgetMs * 1e6) {
    const n = fill(l.writer, pool)
    l.writer.flush()
    const t0 = performance.now()
    const handled = l.reader.drain(handler)
    ns += (performance.now() - t0) * 1e6
    if (handled !== n) throw new Error(`drained ${handled} of ${n}`)
    messages += n
    await Promise.resolve()
  }
  return ns / messages
}

/** Producer step: time filling an empty ring; drain it (untimed) after. */
function timeFill(l: Lane, write: () => boolean, budgetMs: number): number {
  let ns = 0
  let messages = 0
  while (ns < budgetMs * 1e6) {
    const t0 = performance.now()
    let n = 0
    while (write()) n++
    l.writer.flush()
    ns += (performance.now() - t0) * 1e6
    messages += n
    l.reader.drain(() => true)
  }
  return ns / messages
}

/** The whole consumer: an ActorHost on this thread with the counting actor in slot 0. */
class HostLane {
  readonly lane: Lane
  readonly host: ActorHost

  private constructor(l: Lane, host: ActorHost) {
    this.lane = l
    this.host = host
  }

  static async start(sampleEvery: number): Promise<HostLane> {
    const bell = new Doorbell()
    const l = lane(bell)
    const out = createRingBuffer(1 << 16)
    const host = new ActorHost('breakdown', l.reader, bell, new RingWriter(out), sampleEvery)
    host.start()
    const spawned = await host.spawn(0, new URL('./actors/sink.ts', import.meta.url).href, 'sink', undefined)
    if (!spawned.ok) throw new Error(spawned.error.message)
    return new HostLane(l, host)
  }

  async time(pool: readonly unknown[], budgetMs: number): Promise<number> {
    let ns = 0
    let messages = 0
    while (ns < budgetMs * 1e6) {
      const n = fill(this.lane.writer, pool)
      const t0 = performance.now()
      this.lane.writer.flush()
      await this.host.drain()
      ns += (performance.now() - t0) * 1e6
      messages += n
    }
    return ns / messages
  }
}

// What-ifs: the same work as readEnvelope / decodeBody(Raw) done differently.
function headerInline(p: Uint8Array): number {
  const slot = p[2]! | (p[3]! << 8)
  const corr = (p[4]! | (p[5]! << 8) | (p[6]! << 16) | (p[7]! << 24)) >>> 0
  return p[0]! + p[1]! + slot + corr
}

function copyAllocUnsafe(body: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(body.length)
  b.set(body)
  return b
}

const kSlabBytes = 1 << 18
let slab = new Uint8Array(kSlabBytes)
let slabAt = 0
/** Copies into a 256 KiB slab and returns a Buffer view of it (Buffer's own pool is 8 KiB). */
function copySlab(body: Uint8Array): Buffer {
  const n = body.length
  if (n > kSlabBytes >>> 3) return Buffer.from(body)
  if (slabAt + n > kSlabBytes) {
    slab = new Uint8Array(kSlabBytes)
    slabAt = 0
  }
  slab.set(body, slabAt)
  const b = Buffer.from(slab.buffer, slabAt, n)
  slabAt = (slabAt + n + 7) & ~7
  return b
}

interface Payload {
  readonly key: string
  readonly pool: readonly unknown[]
  readonly binary: boolean
}

export async function breakdownSuite(ctx: SuiteContext): Promise<SuiteOutput> {
  const budget = ctx.quick ? 10 : 40
  const payloads: Payload[] = [
    { key: '64 B binary', pool: binaryPool(64), binary: true },
    { key: '1 KiB binary', pool: binaryPool(1024), binary: true },
    { key: 'job object', pool: jobPool(), binary: false },
  ]
  const [sampled, unsampled] = await Promise.all([HostLane.start(8), HostLane.start(2 ** 30)])
  const l = lane()
  const consumer: [string, (p: Payload) => Handler | undefined][] = [
    ['C0 ring drain, handler touches the frame', () => (p) => ((sink += p[0]!), true)],
    ['C1 + `readEnvelope`', () => (p) => ((sink += readEnvelope(p).slot), true)],
    [
      'C2 + `decodeBody` (copy out, decode)',
      () => (p) => {
        const env = readEnvelope(p)
        return ((sink += decodeBody(env.format, env.body) === undefined ? 0 : 1), true)
      },
    ],
    ['what-if: header read inline (no DataView, no envelope object)', () => (p) => ((sink += headerInline(p)), true)],
    [
      'what-if: inline header + `Buffer.from(subarray)` (kernel copy)',
      (pl) => (pl.binary ? (p) => ((sink += headerInline(p) + Buffer.from(p.subarray(8)).length), true) : undefined),
    ],
    [
      'what-if: inline header + `Buffer.allocUnsafe` + set',
      (pl) =>
        pl.binary ? (p) => ((sink += headerInline(p) + copyAllocUnsafe(p.subarray(8)).length), true) : undefined,
    ],
    [
      'what-if: inline header + copy into a 256 KiB slab',
      (pl) => (pl.binary ? (p) => ((sink += headerInline(p) + copySlab(p.subarray(8)).length), true) : undefined),
    ],
  ]
  const kHostSampled = 'C3 whole `ActorHost` (kernel), latency sampled 1 in 8'
  const kHostOff = 'C4 whole `ActorHost`, latency sampling off'
  const kWrite = 'P0 producer: `RingWriter.tryWrite` of the bare body'
  const kWriteMessage = 'P1 producer: `writeMessage` (envelope + encode, = `tellMany` per message)'
  const rows = [...consumer.map(([name]) => name), kHostSampled, kHostOff, kWrite, kWriteMessage]
  const variants: Variant<number>[] = []
  const key = (row: string, p: Payload) => `${row} / ${p.key}`
  for (const p of payloads) {
    for (const [name, make] of consumer) {
      const handler = make(p)
      if (handler !== undefined) variants.push({ name: key(name, p), run: () => timeDrain(l, p.pool, handler, budget) })
    }
    variants.push({ name: key(kHostSampled, p), run: () => sampled.time(p.pool, budget) })
    variants.push({ name: key(kHostOff, p), run: () => unsampled.time(p.pool, budget) })
    if (p.binary) {
      let i = 0
      variants.push({
        name: key(kWrite, p),
        run: () =>
          Promise.resolve(
            timeFill(l, () => l.writer.tryWrite(p.pool[i++ % p.pool.length] as Uint8Array, undefined, false), budget),
          ),
      })
    }
    let j = 0
    variants.push({
      name: key(kWriteMessage, p),
      run: () =>
        Promise.resolve(
          timeFill(l, () => writeMessage(l.writer, FrameKind.Tell, 0, 0, p.pool[j++ % p.pool.length], false), budget),
        ),
    })
  }
  try {
    ctx.log(`breakdown: ${variants.length} variants × ${ctx.rounds} rounds`)
    const results = await roundRobin(variants, { rounds: ctx.rounds, log: () => undefined })
    const cell = (row: string, p: Payload) =>
      results.has(key(row, p)) ? fmtSummary(summarize(series(results, key(row, p))), (n) => n.toFixed(0)) : '–'
    const markdown = [
      'ns per message, median [min–max] over the rounds; one thread, 4 MiB ring filled first, then drained (consumer rows) or filled from empty (producer rows).',
      table(
        ['step', ...payloads.map((p) => p.key)],
        rows.map((row) => [row, ...payloads.map((p) => cell(row, p))]),
      ),
    ].join('\n\n')
    if (sink === -1) ctx.log('')
    return {
      title: 'Breakdown: one message through the kernel, on one thread',
      markdown,
      data: Object.fromEntries(results),
    }
  } finally {
    await Promise.all([sampled.host.shutdown(), unsampled.host.shutdown()])
  }
}

if (isMain(import.meta.url)) await runAlone(breakdownSuite, ['msgpackr'])
