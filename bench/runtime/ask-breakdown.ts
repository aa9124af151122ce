/**
 * Where one `ask` to an idle actor spends its time, piece by piece, across two threads: a replica of
 * the ask path built from the kernel's own functions (`writeMessage`, `RingWriter.flush`,
 * `Doorbell.wait`, `RingReader.drain`, `readEnvelope`, `decodeBody`, `encodeBody`, `encodeHeader`) in
 * the order `Runtime.ask`, its pump and `ActorHost` call them, with a monotonic timestamp after each
 * piece on both threads (ask-stamps.ts). One request in flight; the real `ref.ask` and a `postMessage`
 * echo run in the same rounds, so the JavaScript `Runtime.ask` adds around the replica shows as their
 * difference. `--spin` values are the doorbell's spin window on both sides (0: park at once).
 */
import { MessageChannel, type Worker } from 'node:worker_threads'

import { DEFAULT_RUNTIME_OPTIONS, Runtime } from '../../runtime/runtime.js'
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
import { fmtSummary, sig, summarize, table } from '../lib/stats.js'
import { startBenchWorker } from '../lib/workers.js'
import { kStamps, nowNs, Stamp } from './ask-stamps.js'
import { job } from './payloads.js'
import type { AskReceiverBoot } from './workers/ask-receiver.js'

type Row = Record<string, number>

/** The steps of one ask, in path order: [label, from stamp, to stamp, on the critical path]. */
const kSteps: readonly (readonly [string, number, number, boolean])[] = [
  ['caller: `writeMessage` (encode, copy into the mailbox)', Stamp.Start, Stamp.Written, true],
  ['caller: `flush` (publish the tail, `Doorbell.ring`)', Stamp.Written, Stamp.Rung, false],
  ['receiver wakes: tail published → its `Doorbell.wait` returns', Stamp.Written, Stamp.Woke, true],
  ['receiver: `drain`, `readEnvelope`, `decodeBody`', Stamp.Woke, Stamp.Decoded, true],
  ['receiver: `receive` (echo)', Stamp.Decoded, Stamp.Received, true],
  ['receiver: reply `encodeBody` + `encodeHeader` + `tryWrite`', Stamp.Received, Stamp.ReplyWritten, true],
  ['receiver: reply `flush` (publish, `Doorbell.ring`)', Stamp.ReplyWritten, Stamp.ReplyRung, false],
  ['caller wakes: reply published → pump’s `Doorbell.wait` returns', Stamp.ReplyWritten, Stamp.CallerWoke, true],
  ['caller: `drain`, `readEnvelope`, `decodeBody`, resolve', Stamp.CallerWoke, Stamp.ReplyDecoded, true],
  ['caller: the awaiting code resumes (promise reaction)', Stamp.ReplyDecoded, Stamp.Resumed, true],
  ['replica round trip (sum of the critical path)', Stamp.Start, Stamp.Resumed, true],
]

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN
}

function p50p99(values: number[]): [number, number] {
  values.sort((a, b) => a - b)
  return [percentile(values, 50), percentile(values, 99)]
}

/** The caller half of the replica (the receiver half is workers/ask-receiver.ts). */
class Replica {
  readonly #writer: RingWriter
  readonly #reader: RingReader
  readonly #bell: Doorbell
  readonly #stamps: Float64Array
  readonly #worker: Worker
  readonly #spinUs: number
  readonly #pump: Promise<void>
  #pending: ((value: unknown) => void) | undefined
  #wokeAt = 0
  #running = true

  private constructor(boot: AskReceiverBoot, worker: Worker) {
    this.#writer = new RingWriter(boot.inbound, new Doorbell(boot.threadBell))
    this.#reader = new RingReader(boot.outbound)
    this.#bell = new Doorbell(boot.runtimeBell)
    this.#stamps = new Float64Array(boot.stamps)
    this.#worker = worker
    this.#spinUs = boot.spinUs
    this.#pump = this.#runPump()
  }

  static async start(spinUs: number, samples: number): Promise<Replica> {
    const boot: AskReceiverBoot = {
      inbound: createRingBuffer(1 << 16),
      outbound: createRingBuffer(1 << 16),
      threadBell: new Doorbell().buffer,
      runtimeBell: new Doorbell().buffer,
      stamps: new SharedArrayBuffer(samples * kStamps * 8),
      spinUs,
    }
    const worker = await startBenchWorker(new URL('./workers/ask-receiver.ts', import.meta.url), { workerData: boot })
    return new Replica(boot, worker)
  }

  async #runPump(): Promise<void> {
    const onFrame = (payload: Uint8Array) => {
      const env = readEnvelope(payload)
      const value = decodeBody(env.format, env.body)
      const row = env.corr * kStamps
      this.#stamps[row + Stamp.CallerWoke] = this.#wokeAt
      this.#stamps[row + Stamp.ReplyDecoded] = nowNs()
      const resolve = this.#pending
      this.#pending = undefined
      resolve?.(value)
    }
    const hasWork = () => !this.#running || this.#reader.hasFrames()
    while (this.#running) {
      if (this.#reader.drain(onFrame, 1024) > 0) continue
      await this.#bell.wait(hasWork, Number.POSITIVE_INFINITY, this.#spinUs)
      this.#wokeAt = nowNs()
    }
  }

  async #ask(corr: number, msg: unknown): Promise<void> {
    const row = corr * kStamps
    this.#stamps[row + Stamp.Start] = nowNs()
    writeMessage(this.#writer, FrameKind.Ask, 0, corr, msg, false)
    this.#stamps[row + Stamp.Written] = nowNs()
    this.#writer.flush()
    if (this.#spinUs > 0) this.#bell.nudge()
    this.#stamps[row + Stamp.Rung] = nowNs()
    await new Promise((resolve) => {
      this.#pending = resolve
    })
    this.#stamps[row + Stamp.Resumed] = nowNs()
  }

  /** `samples` asks one after another; per step, p50 and p99 in µs. */
  async run(samples: number): Promise<Row> {
    this.#stamps.fill(0)
    for (let i = 0; i < samples; i++) await this.#ask(i, job(i))
    // The receiver stamps its last row just after it publishes the reply: wait for that store.
    const last = (samples - 1) * kStamps + Stamp.ReplyRung
    for (let spins = 0; this.#stamps[last] === 0 && spins < 1e6; spins++) await tick()
    const out: Row = {}
    for (const [label, from, to] of kSteps) {
      const values = Array.from(
        { length: samples },
        (_, i) => ((this.#stamps[i * kStamps + to] ?? 0) - (this.#stamps[i * kStamps + from] ?? 0)) / 1000,
      )
      ;[out[`${label} p50`], out[`${label} p99`]] = p50p99(values)
    }
    return out
  }

  async close(): Promise<void> {
    writeMessage(this.#writer, FrameKind.Tell, 0, 0, null)
    this.#running = false
    this.#bell.wake()
    await this.#pump
    await this.#worker.terminate()
  }
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/** Round trip times of `call`, one at a time: p50 and p99 in µs. */
async function timeCalls(call: (msg: unknown) => Promise<unknown>, samples: number): Promise<Row> {
  const values: number[] = []
  for (let i = 0; i < samples; i++) {
    const t0 = nowNs()
    await call(job(i))
    values.push((nowNs() - t0) / 1000)
  }
  const [p50, p99] = p50p99(values)
  return { 'round trip p50': p50, 'round trip p99': p99 }
}

function echoCall(worker: Worker): (msg: unknown) => Promise<unknown> {
  let pending: ((value: unknown) => void) | undefined
  worker.on('message', (msg: unknown) => {
    const resolve = pending
    pending = undefined
    resolve?.(msg)
  })
  return (msg) =>
    new Promise((resolve) => {
      pending = resolve
      worker.postMessage(msg)
    })
}

export async function askBreakdownSuite(
  ctx: SuiteContext,
  spins: readonly number[] = [0, DEFAULT_RUNTIME_OPTIONS.spinUs],
): Promise<SuiteOutput> {
  const samples = ctx.quick ? 500 : 3_000
  const replicas = await Promise.all(spins.map((spin) => Replica.start(spin, samples)))
  const rt = await Runtime.start()
  const { port2 } = new MessageChannel()
  const echo = await startBenchWorker(new URL('./workers/echo.ts', import.meta.url), {
    workerData: { port: port2 },
    transferList: [port2],
  })
  try {
    const ref = await rt.spawn(new URL('./actors/echo.ts', import.meta.url), { name: 'echo' })
    const replicaName = (spin: number) => `replica, spin ${spin} µs`
    const kAsk = '`ref.ask` (Runtime defaults)'
    const kEcho = '`postMessage` echo'
    const echoOnce = echoCall(echo)
    const variants: Variant<Row>[] = [
      ...replicas.map((r, i) => ({ name: replicaName(spins[i] ?? 0), run: () => r.run(samples) })),
      { name: kAsk, run: () => timeCalls((msg) => ref.ask(msg), samples) },
      { name: kEcho, run: () => timeCalls(echoOnce, samples) },
    ]
    ctx.log(`ask breakdown: ${variants.length} variants × ${ctx.rounds} rounds × ${samples} samples`)
    const results = await roundRobin(variants, { rounds: ctx.rounds, log: ctx.log })
    const cell = (name: string, key: string) =>
      fmtSummary(summarize(series(results, name).map((r) => r[key] ?? Number.NaN)), (n) => sig(n))
    const header = ['step (µs, p50 / p99)', ...spins.map(replicaName)]
    const rows = kSteps.map(([label, , , critical]) => [
      critical ? label : `${label} (overlaps the next step)`,
      ...spins.map((spin) => `${cell(replicaName(spin), `${label} p50`)} / ${cell(replicaName(spin), `${label} p99`)}`),
    ])
    const whole = [kAsk, kEcho].map((name) => [
      `${name}, same rounds`,
      ...spins.map(() => `${cell(name, 'round trip p50')} / ${cell(name, 'round trip p99')}`),
    ])
    const markdown = [
      `${samples} sequential asks of a small job object per variant per round, after a warm-up pass; median [min–max] over the rounds of each round's p50 / p99.`,
      table(header, [...rows, ...whole]),
    ].join('\n\n')
    return {
      title: 'Ask breakdown: one ask to an idle actor, piece by piece',
      markdown,
      data: Object.fromEntries(results),
    }
  } finally {
    await Promise.allSettled([...replicas.map((r) => r.close()), rt.close(), echo.terminate()])
  }
}

if (isMain(import.meta.url)) {
  const at = process.argv.indexOf('--spin')
  const spins = at >= 0 ? (process.argv[at + 1] ?? '0').split(',').map(Number) : undefined
  await runAlone((ctx) => askBreakdownSuite(ctx, spins), ['msgpackr'])
}
