/**
 * What metrics and tracing cost the job queue: the bulk drain with both on against both off, in the same
 * run, rounds alternating (off, on, on, off, …) so that a drifting machine weighs on both alike.
 *
 *   npx tsx bench/observability/cost.ts [jobs=20000] [rounds=4] [both|metrics|tracing]
 *
 * Each phase empties the tables, connects a queue with default options (`start()` as a user calls it),
 * enqueues `jobs` no-op jobs in statements of 1,000 and waits for the last 'completed' event. "on" is a
 * prom-client `Registry` given as `metrics`, and a tracer provider installed globally as an application
 * installs an SDK: `BasicTracerProvider` with a `BatchSpanProcessor` and an exporter that drops the
 * spans, and the AsyncLocalStorage context manager. "off" is neither (the API's no-op tracer). Prints
 * jobs/s per phase and the ratio on ÷ off per pair.
 */
import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { Registry } from 'prom-client'

import { JobQueue } from '../../actors/jobs/index.js'
import { cleanPulse, kPulseSchema } from '../jobs/pulse.js'
import { openServer } from '../jobs/server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'

const kDropAll: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
}

interface Instrumentation {
  metrics: Registry | undefined
  stop(): Promise<void>
}

type Mode = 'both' | 'metrics' | 'tracing'

function instrument(on: boolean, mode: Mode): Instrumentation {
  if (!on) return { metrics: undefined, stop: () => Promise.resolve() }
  if (mode === 'metrics') return { metrics: new Registry(), stop: () => Promise.resolve() }
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(kDropAll)] })
  const manager = new AsyncLocalStorageContextManager().enable()
  trace.setGlobalTracerProvider(provider)
  context.setGlobalContextManager(manager)
  // Without a propagator (PULSE_BENCH_NO_PROPAGATOR=1) no message carries its producer's context.
  if (process.env.PULSE_BENCH_NO_PROPAGATOR !== '1') propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  return {
    metrics: mode === 'tracing' ? undefined : new Registry(),
    async stop() {
      await provider.shutdown()
      trace.disable()
      context.disable()
      propagation.disable()
    },
  }
}

async function drain(url: string, jobs: number, on: boolean, mode: Mode): Promise<number> {
  await cleanPulse(url)
  const inst = instrument(on, mode)
  const queue = await JobQueue.connect({
    pg: url,
    schema: kPulseSchema,
    ...(inst.metrics === undefined ? {} : { metrics: inst.metrics }),
  })
  try {
    let completed = 0
    let finish!: (t: number) => void
    const done = new Promise<number>((resolve) => (finish = resolve))
    queue.register('noop', () => undefined)
    queue.events.on('completed', () => {
      if (++completed === jobs) finish(performance.now())
    })
    await queue.start()
    const items = Array.from({ length: 1000 }, () => ({ name: 'noop', args: {} }))
    const t0 = performance.now()
    for (let sent = 0; sent < jobs; sent += 1000) {
      await queue.enqueueMany(sent + 1000 <= jobs ? items : items.slice(0, jobs - sent))
    }
    return (jobs * 1000) / ((await done) - t0)
  } finally {
    await queue.close()
    await inst.stop()
  }
}

async function main(): Promise<void> {
  const jobs = Number(process.argv[2] ?? 20_000)
  const rounds = Number(process.argv[3] ?? 4)
  const mode = (process.argv[4] ?? 'both') as Mode
  const server = await openServer()
  const url = await server.createDatabase('pulse_bench_observability')
  try {
    await (await JobQueue.connect({ pg: url, schema: kPulseSchema })).close()
    await drain(url, Math.min(jobs, 5_000), false, mode) // warm-up, not counted
    console.log('| round | off jobs/s | on jobs/s | on ÷ off |')
    console.log('|---|---|---|---|')
    const ratios: number[] = []
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? [false, true] : [true, false]
      const result: Record<string, number> = {}
      for (const on of order) result[on ? 'on' : 'off'] = await drain(url, jobs, on, mode)
      const ratio = (result.on ?? 0) / (result.off ?? 1)
      ratios.push(ratio)
      console.log(`| ${round} | ${result.off?.toFixed(0)} | ${result.on?.toFixed(0)} | ${ratio.toFixed(3)} |`)
    }
    const sorted = [...ratios].sort((a, b) => a - b)
    console.log(
      `\n${mode}: median on ÷ off: ${sorted[Math.floor(sorted.length / 2)]?.toFixed(3)} over ${rounds} rounds`,
    )
    console.log(
      `\n${envMarkdown(captureEnv(['pg', 'prom-client', '@opentelemetry/api', '@opentelemetry/sdk-trace-base']))}`,
    )
    console.log(`PostgreSQL: ${server.version}`)
  } finally {
    await server.close()
  }
}

await main()
