/**
 * Memory under a slow consumer. The producer offers 1 KiB messages at a fixed rate for a fixed time;
 * the consumer busy-waits 10× the producer's interval per message, so it can take a tenth of them.
 *   mailbox      `ref.tell`; when it returns false (ring full) the producer backs off until its next
 *                tick: what the consumer cannot take waits upstream, not in memory
 *   postMessage  every message is posted; the receiving port's queue grows without bound
 * Each variant runs in its own child process (memory is per process), alternating round by round, and
 * samples `process.memoryUsage()` once a second.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { Runtime } from '../../runtime/runtime.js'
import {
  isMain,
  roundRobin,
  runAlone,
  series,
  type SuiteContext,
  type SuiteOutput,
  type Variant,
} from '../lib/runner.js'
import { fmtRatio, fmtSummary, ratios, sig, summarize, table } from '../lib/stats.js'
import { startBenchWorker } from '../lib/workers.js'
import type { SlowArgs } from './actors/slow.js'
import { binaryPool } from './payloads.js'
import type { PmSinkData } from './workers/pm-sink.js'

const RATE = 20_000 // offered messages per second
const TICK_MS = 10
const SPIN_US = (10 * 1e6) / RATE // the consumer is 10× slower
const PAYLOAD_BYTES = 1024

interface Sample {
  readonly t: number
  readonly rssMB: number
  readonly heapUsedMB: number
  readonly externalMB: number
  readonly arrayBuffersMB: number
  /** Messages the producer handed over (accepted by tell, or posted). */
  readonly sent: number
  readonly handled: number
}

interface MemoryRun {
  readonly samples: Sample[]
  readonly offered: number
  readonly backoffs: number
}

type Kind = 'mailbox' | 'postMessage'

/** The child's side: runs one variant for `seconds` and prints its samples as one JSON line. */
async function child(kind: Kind, seconds: number): Promise<void> {
  const counter = new SharedArrayBuffer(4)
  const handled = new Int32Array(counter)
  const pool = binaryPool(PAYLOAD_BYTES)
  let send: (msg: Uint8Array) => boolean
  let stop: () => Promise<unknown>
  if (kind === 'mailbox') {
    const rt = await Runtime.start()
    const ref = await rt.spawn<Uint8Array, unknown, SlowArgs>(new URL('./actors/slow.ts', import.meta.url), {
      name: 'slow',
      args: { spinUs: SPIN_US, counter },
    })
    send = (msg) => ref.tell(msg)
    stop = () => rt.close()
  } else {
    const data: PmSinkData = { ackEvery: Number.MAX_SAFE_INTEGER, spinUs: SPIN_US, counter }
    const worker = await startBenchWorker(new URL('./workers/pm-sink.ts', import.meta.url), { workerData: data })
    send = (msg) => {
      worker.postMessage(msg)
      return true
    }
    stop = () => worker.terminate()
  }
  const samples: Sample[] = []
  let sent = 0
  let offered = 0
  let backoffs = 0
  const t0 = performance.now()
  const sample = () => {
    const m = process.memoryUsage()
    const mb = (n: number) => n / 2 ** 20
    samples.push({
      t: Math.round((performance.now() - t0) / 1000),
      rssMB: mb(m.rss),
      heapUsedMB: mb(m.heapUsed),
      externalMB: mb(m.external),
      arrayBuffersMB: mb(m.arrayBuffers),
      sent,
      handled: Atomics.load(handled, 0),
    })
  }
  sample()
  await new Promise<void>((resolve) => {
    const producer = setInterval(() => {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE)
      while (offered < due) {
        if (!send(pool[offered % pool.length]!)) {
          backoffs++
          // Back off: what is due stays upstream until the next tick.
          offered = due
          break
        }
        offered++
        sent++
      }
    }, TICK_MS)
    const sampler = setInterval(() => {
      sample()
      if (samples.length > seconds) {
        clearInterval(producer)
        clearInterval(sampler)
        resolve()
      }
    }, 1000)
  })
  process.stdout.write(`${JSON.stringify({ samples, offered, backoffs } satisfies MemoryRun)}\n`)
  // The postMessage queue would take minutes to drain: end without waiting for it.
  await Promise.race([stop(), new Promise((resolve) => setTimeout(resolve, 2000))])
  process.exit(0)
}

/** Runs one variant in a child process and parses its line. */
function runChild(kind: Kind, seconds: number): Promise<MemoryRun> {
  const tsx = import.meta.resolve('tsx')
  const proc = spawn(
    process.execPath,
    ['--import', tsx, fileURLToPath(import.meta.url), '--child', kind, '--seconds', String(seconds)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let out = ''
  proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  return new Promise((resolve, reject) => {
    proc.once('error', reject)
    proc.once('exit', (code) => {
      const line = out.trim().split('\n').pop()
      if (code !== 0 || line === undefined || line === '') reject(new Error(`memory child ${kind} exited with ${code}`))
      else resolve(JSON.parse(line) as MemoryRun)
    })
  })
}

export async function memorySuite(ctx: SuiteContext): Promise<SuiteOutput> {
  const seconds = ctx.quick ? 3 : 10
  const kinds: Kind[] = ['mailbox', 'postMessage']
  const variants: Variant<MemoryRun>[] = kinds.map((kind) => ({ name: kind, run: () => runChild(kind, seconds) }))
  ctx.log(`memory: ${variants.length} variants × ${ctx.rounds} rounds × ${seconds} s`)
  const results = await roundRobin(variants, { rounds: ctx.rounds, warmup: false, log: () => undefined })
  const last = (r: MemoryRun) => r.samples[r.samples.length - 1]!
  const mb = (n: number) => `${sig(n)} MB`
  const finalRows = kinds.map((kind) => {
    const rs = series(results, kind)
    const pick = (f: (s: Sample) => number, fmt = mb) => fmtSummary(summarize(rs.map((r) => f(last(r)))), fmt)
    const count = (n: number) => n.toFixed(0)
    return [
      kind,
      pick((s) => s.rssMB),
      fmtSummary(summarize(rs.map((r) => last(r).rssMB - (r.samples[0]?.rssMB ?? 0))), mb),
      pick((s) => s.heapUsedMB),
      pick((s) => s.externalMB),
      pick((s) => s.arrayBuffersMB),
      pick((s) => s.sent, count),
      pick((s) => s.handled, count),
      pick((s) => s.sent - s.handled, count),
    ]
  })
  const seriesRows = kinds.flatMap((kind) =>
    series(results, kind).map((r, round) => [
      `${kind}, round ${round + 1}`,
      r.samples.map((s) => sig(s.rssMB)).join(' · '),
    ]),
  )
  const rss = (kind: Kind) => series(results, kind).map((r) => last(r).rssMB)
  const markdown = [
    `Producer offers ${RATE / 1000} k msgs/s of ${PAYLOAD_BYTES} B for ${seconds} s; the consumer busy-waits ${SPIN_US} µs per message (a tenth of the rate). Mailbox: 1 MiB ring, default runtime options.`,
    table(
      [
        'variant',
        'rss at end',
        'rss growth during the run',
        'heapUsed',
        'external',
        'arrayBuffers',
        'messages sent',
        'handled',
        'queued (sent − handled)',
      ],
      finalRows,
    ),
    `Same-round ratio, final rss postMessage ÷ mailbox: ${fmtRatio(ratios(rss('postMessage'), rss('mailbox')))}.`,
    'rss (MB) once a second, t = 0 … end:',
    table(['run', `rss MB, t = 0 … ${seconds} s`], seriesRows),
  ].join('\n\n')
  return { title: 'Memory under a slow consumer', markdown, data: Object.fromEntries(results) }
}

if (isMain(import.meta.url)) {
  const argv = process.argv.slice(2)
  const at = argv.indexOf('--child')
  if (at >= 0) await child(argv[at + 1] as Kind, Number(argv[argv.indexOf('--seconds') + 1]))
  else await runAlone(memorySuite)
}
