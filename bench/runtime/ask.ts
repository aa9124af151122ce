/**
 * Round trip to an idle receiver on another thread, one request at a time: `ref.ask` to an actor, a
 * `postMessage` echo (main → worker → main), and a comlink call, back to back (the next request comes
 * within the runtime's spin window) and 1 ms apart (the receiver has parked on its doorbell).
 * Percentiles from hdr-histogram-js over several thousand samples per round.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { MessageChannel, type Worker } from 'node:worker_threads'

import * as Comlink from 'comlink'
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs'

import type { ActorRef } from '../../runtime/actor-ref.js'
import { Runtime } from '../../runtime/runtime.js'
import { latencyHistogram, type Percentiles, percentilesUs, recordMs } from '../lib/histogram.js'
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
import { job } from './payloads.js'
import type { EchoApi } from './workers/echo.js'

type Call = (msg: unknown) => Promise<unknown>

/** Runs `samples` calls one after another (`gapMs` apart) and returns their percentiles. */
async function sample(call: Call, samples: number, gapMs = 0): Promise<Percentiles> {
  const h = latencyHistogram()
  for (let i = 0; i < samples; i++) {
    if (gapMs > 0) await sleep(gapMs)
    const msg = job(i)
    const t0 = performance.now()
    await call(msg)
    recordMs(h, performance.now() - t0)
  }
  const p = percentilesUs(h)
  h.destroy()
  return p
}

function postMessageCall(worker: Worker): Call {
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

const kAsk = 'actor `ref.ask`'
const kPost = '`postMessage` round trip'
const kComlink = 'comlink call'
const kAskParked = 'actor `ref.ask`, 1 ms apart (receiver parked)'
const kPostParked = '`postMessage` round trip, 1 ms apart'

export async function askSuite(ctx: SuiteContext): Promise<SuiteOutput> {
  const samples = ctx.quick ? 500 : 3_000
  const rt = await Runtime.start()
  const { port1, port2 } = new MessageChannel()
  const worker = await startBenchWorker(new URL('./workers/echo.ts', import.meta.url), {
    workerData: { port: port2 },
    transferList: [port2],
  })
  const remote = Comlink.wrap<EchoApi>(nodeEndpoint(port1))
  try {
    const ref: ActorRef = await rt.spawn(new URL('./actors/echo.ts', import.meta.url), { name: 'echo' })
    const calls: [string, Call][] = [
      [kAsk, (msg) => ref.ask(msg)],
      [kPost, postMessageCall(worker)],
      [kComlink, (msg) => remote.echo(msg)],
    ]
    const parked: [string, Call, string][] = [
      [kAskParked, calls[0]![1], kPostParked],
      [kPostParked, calls[1]![1], kPostParked],
    ]
    const variants: Variant<Percentiles>[] = [
      ...calls.map(([name, call]) => ({ name, run: () => sample(call, samples) })),
      ...parked.map(([name, call]) => ({ name, run: () => sample(call, Math.ceil(samples / 3), 1) })),
    ]
    ctx.log(`ask: ${variants.length} variants × ${ctx.rounds} rounds × ${samples} samples`)
    const results = await roundRobin(variants, { rounds: ctx.rounds, log: ctx.log })
    const us = (n: number) => `${sig(n)} µs`
    const pairs: [string, string][] = [...calls.map(([name]): [string, string] => [name, kPost])]
    for (const [name, , base] of parked) pairs.push([name, base])
    const rows = pairs.map(([name, base]) => {
      const rs = series(results, name)
      const pick = (f: (p: Percentiles) => number) => fmtSummary(summarize(rs.map(f)), us)
      const per = (f: (p: Percentiles) => number) => fmtRatio(ratios(rs.map(f), series(results, base).map(f)))
      return [name, pick((p) => p.p50), pick((p) => p.p99), pick((p) => p.p999), per((p) => p.p50), per((p) => p.p99)]
    })
    const markdown = [
      `Message: a small job object; ${samples} sequential samples per variant per round (a third as many 1 ms apart), after a warm-up pass (not recorded).`,
      table(['round trip', 'p50', 'p99', 'p99.9', 'p50 ÷ postMessage p50, same round', 'p99 ÷ postMessage p99'], rows),
    ].join('\n\n')
    return { title: 'Ask round trip (idle receiver)', markdown, data: Object.fromEntries(results) }
  } finally {
    remote[Comlink.releaseProxy]()
    port1.close()
    await Promise.allSettled([rt.close(), worker.terminate()])
  }
}

if (isMain(import.meta.url)) await runAlone(askSuite, ['comlink', 'hdr-histogram-js'])
