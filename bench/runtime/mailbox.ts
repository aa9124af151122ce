/**
 * One-way throughput, producer on the main thread → consumer on another thread, counting messages the
 * consumer received per second over a fixed count. Variants, interleaved round by round:
 *   ring        a bare SPSC ring of fixed-size records (no codec, no actor layer), binary only
 *   tellMany    the actor mailbox, `ref.tellMany(batch of 100)` (one wake-up per batch at most)
 *   tell        the actor mailbox, `ref.tell` one message at a time
 *   pm          `postMessage` one message at a time, pipelined (bounded in-flight window, periodic acks)
 *   pm×100      `postMessage` of arrays of 100 messages
 * for 64 B and 1 KiB binary payloads and for small job objects. The mailbox producer retries after one
 * event-loop turn when the ring is full; every mailbox run ends with an ask that confirms the count.
 */
import type { Worker } from 'node:worker_threads'

import type { ActorRef } from '../../runtime/actor-ref.js'
import { Runtime, type RuntimeOptions } from '../../runtime/runtime.js'
import {
  isMain,
  roundRobin,
  runAlone,
  series,
  type SuiteContext,
  type SuiteOutput,
  type Variant,
} from '../lib/runner.js'
import { fmtRate, fmtRatio, fmtSummary, ratios, si, summarize, table } from '../lib/stats.js'
import { nextMessage, startBenchWorker, tick } from '../lib/workers.js'
import type { SinkReport } from './actors/sink.js'
import { binaryPool, jobPool, stringPool } from './payloads.js'
import { createFixedRing, produce } from './spsc-ring.js'
import type { SpscRun } from './workers/spsc-consumer.js'

export const BATCH = 100
const WINDOW = 10_000
const ACK_EVERY = 1_000
const RING_SLOTS = 1024

export interface ThroughputResult {
  /** Messages the consumer received per second. */
  readonly rate: number
  readonly count: number
  /** Consumer wake-ups during the run (mailbox: doorbell rings; ring: parks). */
  readonly wakeups?: number
  /** Times the producer found the mailbox full and waited one event-loop turn. */
  readonly fullRetries?: number
}

interface Payload {
  readonly key: string
  readonly label: string
  readonly pool: readonly unknown[]
  readonly count: number
  /** Record size for the bare ring (binary payloads only). */
  readonly recordBytes?: number
  readonly variants: readonly VariantKey[]
}

const kVariants = ['ring', 'tellMany', 'tellMany·nosample', 'tell', 'pm', 'pm×100'] as const
type VariantKey = (typeof kVariants)[number]
const kVariantLabels: Record<VariantKey, string> = {
  ring: '(a) bare SPSC ring, fixed records',
  tellMany: `(b) mailbox \`tellMany\` (batch ${BATCH})`,
  'tellMany·nosample': '(b) same, latency sampling off (`latencySampleEvery: 2^30`)',
  tell: '(b′) mailbox `tell`, one at a time',
  pm: '(c) `postMessage`, one at a time',
  'pm×100': `(d) \`postMessage\`, arrays of ${BATCH}`,
}

function payloads(quick: boolean): Payload[] {
  const scale = quick ? 0.1 : 1
  return [
    {
      key: '64B',
      label: '64 B binary',
      pool: binaryPool(64),
      count: 2_000_000 * scale,
      recordBytes: 64,
      variants: kVariants,
    },
    {
      key: '1KiB',
      label: '1 KiB binary',
      pool: binaryPool(1024),
      count: 500_000 * scale,
      recordBytes: 1024,
      variants: ['ring', 'tellMany', 'tell', 'pm', 'pm×100'],
    },
    {
      key: 'obj',
      label: 'job object',
      pool: jobPool(),
      count: 500_000 * scale,
      variants: ['tellMany', 'tell', 'pm', 'pm×100'],
    },
    // postMessage of 64-character strings: the usual baseline figure for worker_threads messaging.
    {
      key: 'str',
      label: '64-char string',
      pool: stringPool(64),
      count: 1_000_000 * scale,
      variants: ['tellMany', 'pm', 'pm×100'],
    },
  ]
}

/** The mailbox side: a runtime with one counting actor on its own thread. */
class MailboxTarget {
  readonly rt: Runtime
  readonly ref: ActorRef
  #rings = 0

  private constructor(rt: Runtime, ref: ActorRef) {
    this.rt = rt
    this.ref = ref
  }

  static async start(options: RuntimeOptions = {}): Promise<MailboxTarget> {
    const rt = await Runtime.start(options)
    const ref = await rt.spawn(new URL('./actors/sink.ts', import.meta.url), { name: 'sink' })
    return new MailboxTarget(rt, ref)
  }

  async run(pool: readonly unknown[], count: number, many: boolean): Promise<ThroughputResult> {
    const t0 = performance.now()
    const fullRetries = many ? await feedMany(this.ref, pool, count) : await feedOne(this.ref, pool, count)
    const report = (await this.ref.ask('count')) as SinkReport
    const seconds = (performance.now() - t0) / 1000
    if (report.count !== count) throw new Error(`mailbox sink counted ${report.count} of ${count}`)
    const wakes = report.rings - this.#rings
    this.#rings = report.rings
    return { rate: count / seconds, count, wakeups: wakes, fullRetries }
  }
}

async function feedMany(ref: ActorRef, pool: readonly unknown[], count: number): Promise<number> {
  let retries = 0
  for (let sent = 0; sent < count;) {
    let batch = count - sent >= pool.length ? pool : pool.slice(0, count - sent)
    for (;;) {
      const taken = ref.tellMany(batch)
      sent += taken
      if (taken === batch.length) break
      batch = batch.slice(taken)
      retries++
      await tick()
    }
  }
  return retries
}

async function feedOne(ref: ActorRef, pool: readonly unknown[], count: number): Promise<number> {
  let retries = 0
  const n = pool.length
  for (let sent = 0; sent < count;) {
    if (ref.tell(pool[sent % n])) sent++
    else {
      retries++
      await tick()
    }
  }
  return retries
}

/** The postMessage side: one worker that counts and acknowledges. */
class PostMessageTarget {
  readonly worker: Worker
  #acked = 0
  #wake: (() => void) | undefined

  private constructor(worker: Worker) {
    this.worker = worker
    worker.on('message', (msg: unknown) => {
      if (typeof msg !== 'number') return
      this.#acked = msg
      this.#wake?.()
    })
  }

  static async start(): Promise<PostMessageTarget> {
    return new PostMessageTarget(
      await startBenchWorker(new URL('./workers/pm-sink.ts', import.meta.url), { workerData: { ackEvery: ACK_EVERY } }),
    )
  }

  async run(pool: readonly unknown[], count: number, batch: number): Promise<ThroughputResult> {
    const worker = this.worker
    worker.postMessage('reset')
    this.#acked = 0
    const n = pool.length
    const t0 = performance.now()
    for (let sent = 0; sent < count;) {
      while (sent - this.#acked >= WINDOW) await new Promise<void>((resolve) => (this.#wake = resolve))
      if (batch === 1) {
        worker.postMessage(pool[sent % n])
        sent++
      } else {
        const size = Math.min(batch, count - sent)
        worker.postMessage(size === n ? pool : pool.slice(0, size))
        sent += size
      }
    }
    const done = nextMessage(worker, (m): m is { done: number } => typeof m === 'object' && m !== null && 'done' in m)
    worker.postMessage('flush')
    const { done: received } = await done
    const seconds = (performance.now() - t0) / 1000
    if (received !== count) throw new Error(`postMessage sink counted ${received} of ${count}`)
    return { rate: count / seconds, count }
  }
}

/** The bare ring: the producer blocks the main thread; the worker posts its result when it has all. */
class RingTarget {
  readonly worker: Worker

  private constructor(worker: Worker) {
    this.worker = worker
  }

  static async start(): Promise<RingTarget> {
    return new RingTarget(await startBenchWorker(new URL('./workers/spsc-consumer.ts', import.meta.url)))
  }

  async run(pool: readonly Uint8Array[], count: number, recordBytes: number): Promise<ThroughputResult> {
    const ring = createFixedRing(RING_SLOTS, recordBytes)
    const result = nextMessage(
      this.worker,
      (m): m is { received: number; wakeups: number } => typeof m === 'object' && m !== null && 'received' in m,
    )
    this.worker.postMessage({ ring, count } satisfies SpscRun)
    const t0 = performance.now()
    produce(ring, pool, count)
    const { received, wakeups } = await result
    const seconds = (performance.now() - t0) / 1000
    if (received !== count) throw new Error(`ring consumer counted ${received} of ${count}`)
    return { rate: count / seconds, count, wakeups }
  }
}

const name = (payload: string, variant: VariantKey) => `${variant} ${payload}`

export async function mailboxSuite(ctx: SuiteContext): Promise<SuiteOutput> {
  const [mailbox, unsampled, pm, ring] = await Promise.all([
    MailboxTarget.start(),
    MailboxTarget.start({ latencySampleEvery: 2 ** 30 }),
    PostMessageTarget.start(),
    RingTarget.start(),
  ])
  const list = payloads(ctx.quick)
  const variants: Variant<ThroughputResult>[] = []
  for (const p of list) {
    const count = (round: number) => (round < 0 ? Math.round(p.count / 10) : p.count)
    const runs: Record<VariantKey, (round: number) => Promise<ThroughputResult>> = {
      ring: (r) => ring.run(p.pool as Uint8Array[], count(r), p.recordBytes ?? 64),
      tellMany: (r) => mailbox.run(p.pool, count(r), true),
      'tellMany·nosample': (r) => unsampled.run(p.pool, count(r), true),
      tell: (r) => mailbox.run(p.pool, count(r), false),
      pm: (r) => pm.run(p.pool, count(r), 1),
      'pm×100': (r) => pm.run(p.pool, count(r), BATCH),
    }
    for (const v of p.variants) variants.push({ name: name(p.key, v), run: runs[v] })
  }
  try {
    ctx.log(`mailbox: ${variants.length} variants × ${ctx.rounds} rounds`)
    const results = await roundRobin(variants, { rounds: ctx.rounds, log: ctx.log })
    return { title: 'Mailbox one-way throughput', markdown: render(results, list), data: Object.fromEntries(results) }
  } finally {
    await Promise.allSettled([mailbox.rt.close(), unsampled.rt.close(), pm.worker.terminate(), ring.worker.terminate()])
  }
}

function render(results: Map<string, ThroughputResult[]>, list: Payload[]): string {
  const rate = (key: string, v: VariantKey) => series(results, name(key, v)).map((r) => r.rate)
  const out: string[] = []
  const rows: string[][] = []
  for (const p of list) {
    for (const v of kVariants) {
      const rs = results.get(name(p.key, v))
      if (rs === undefined) continue
      const perWake = rs.flatMap((r) => (r.wakeups === undefined ? [] : [r.count / Math.max(1, r.wakeups)]))
      const wakeups = rs.flatMap((r) => (r.wakeups === undefined ? [] : [r.wakeups]))
      const retries = rs.flatMap((r) => (r.fullRetries === undefined ? [] : [r.fullRetries]))
      rows.push([
        p.label,
        kVariantLabels[v],
        fmtRate(rs.map((r) => r.rate)),
        perWake.length > 0
          ? `${fmtSummary(summarize(perWake), si)} (${fmtSummary(summarize(wakeups), (n) => n.toFixed(0))} wake-ups)`
          : '–',
        retries.length > 0 ? fmtSummary(summarize(retries), (n) => n.toFixed(0)) : '–',
      ])
    }
  }
  out.push(
    table(
      ['payload', 'variant', 'received msgs/s, median [min–max]', 'msgs per wake-up', 'full-mailbox retries'],
      rows,
    ),
  )
  const ratioRows: string[][] = []
  for (const p of list) {
    const versus = (b: VariantKey, other: VariantKey) =>
      results.has(name(p.key, other)) ? fmtRatio(ratios(rate(p.key, b), rate(p.key, other))) : '–'
    const mailboxLabels = {
      tellMany: '(b) tellMany',
      'tellMany·nosample': '(b) tellMany, sampling off',
      tell: '(b′) tell',
    } as const
    for (const b of ['tellMany', 'tellMany·nosample', 'tell'] as const) {
      if (!results.has(name(p.key, b))) continue
      ratioRows.push([p.label, mailboxLabels[b], versus(b, 'pm'), versus(b, 'pm×100'), versus(b, 'ring')])
    }
  }
  out.push('Same-round ratios (median [min–max] of the per-round ratios):')
  out.push(
    table(
      [
        'payload',
        'mailbox',
        '÷ (c) postMessage one at a time (target ≥ 10×)',
        '÷ (d) postMessage ×100 (target ≥ 1)',
        '÷ (a) bare ring (target ≥ 0.5)',
      ],
      ratioRows,
    ),
  )
  return out.join('\n\n')
}

if (isMain(import.meta.url)) await runAlone(mailboxSuite, ['msgpackr'])
