/**
 * What metrics and tracing cost the job queue: the bulk drain with them on against both off, in the
 * same run, rounds alternating (off, on, on, off, …) so that a drifting machine weighs on both alike.
 *
 *   npx tsx bench/observability/cost.ts [jobs=20000] [rounds=4] [both|metrics|tracing]
 *
 * Each phase empties the tables, connects a queue with default options (`start()` as a user calls it),
 * enqueues `jobs` no-op jobs in statements of 1,000 and waits for the last 'completed' event. "on" is a
 * prom-client `Registry` given as `metrics` (modes both, metrics), and a tracer provider installed
 * globally as an application installs an SDK (modes both, tracing): `BasicTracerProvider` with a
 * `BatchSpanProcessor` and an exporter that drops the spans, the AsyncLocalStorage context manager and
 * the W3C propagator (left out with `PULSE_BENCH_NO_PROPAGATOR=1`). "off" is neither (the API's no-op
 * tracer).
 *
 * A warm-up drain of each (5,000 jobs, not counted) goes first. Per phase it reports jobs/s and the CPU
 * per job, from the first enqueue to the last 'completed': this process's (`process.cpuUsage`, every
 * thread) and the PostgreSQL server's (its postmaster and its children, from /proc:
 * bench/observability/server-cpu.ts). On a shared machine the CPU per job holds where jobs/s swings.
 * Per round it prints on ÷ off of each, and their medians at the end.
 */
import { Registry } from 'prom-client'

import { JobQueue } from '../../actors/jobs/index.js'
import { cleanPulse, kPulseSchema } from '../jobs/pulse.js'
import { openServer } from '../jobs/server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { summarize } from '../lib/stats.js'
import { installTracing, type Mode } from './sdk.js'
import { postmasterPid, serverCpuMicros } from './server-cpu.js'

interface Phase {
  /** Jobs per second, first enqueue to last 'completed'. */
  rate: number
  /** CPU µs per job of this process. */
  node: number
  /** CPU µs per job of the PostgreSQL server. */
  postgres: number
}

async function drain(url: string, jobs: number, on: boolean, mode: Mode, postmaster?: number): Promise<Phase> {
  await cleanPulse(url)
  const metrics = on && mode !== 'tracing' ? new Registry() : undefined
  const stopTracing = on && mode !== 'metrics' ? installTracing() : undefined
  const queue = await JobQueue.connect({ pg: url, schema: kPulseSchema, ...(metrics === undefined ? {} : { metrics }) })
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
    const node0 = process.cpuUsage()
    const postgres0 = serverCpuMicros(postmaster)
    const t0 = performance.now()
    for (let sent = 0; sent < jobs; sent += 1000) {
      await queue.enqueueMany(sent + 1000 <= jobs ? items : items.slice(0, jobs - sent))
    }
    const t1 = await done
    const node = process.cpuUsage(node0)
    return {
      rate: (jobs * 1000) / (t1 - t0),
      node: (node.user + node.system) / jobs,
      postgres: (serverCpuMicros(postmaster) - postgres0) / jobs,
    }
  } finally {
    await queue.close()
    await stopTracing?.()
  }
}

const kKeys = ['rate', 'node', 'postgres'] as const

function row(round: number, off: Phase, on: Phase): string {
  const cells = kKeys.map((k) => `${off[k].toFixed(k === 'rate' ? 0 : 1)} → ${on[k].toFixed(k === 'rate' ? 0 : 1)}`)
  const ratios = kKeys.map((k) => (on[k] / off[k]).toFixed(3))
  return `| ${round} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`
}

async function main(): Promise<void> {
  const jobs = Number(process.argv[2] ?? 20_000)
  const rounds = Number(process.argv[3] ?? 4)
  const mode = (process.argv[4] ?? 'both') as Mode
  const server = await openServer()
  const url = await server.createDatabase('pulse_bench_observability')
  try {
    await (await JobQueue.connect({ pg: url, schema: kPulseSchema })).close()
    const postmaster = await postmasterPid(url)
    // Warm-up, not counted: both phases, so that neither runs its code cold in the first round.
    for (const on of [false, true]) await drain(url, Math.min(jobs, 5_000), on, mode, postmaster)
    console.log(
      '| round | jobs/s off → on | node µs/job off → on | PostgreSQL µs/job off → on | jobs/s on ÷ off | node CPU/job on ÷ off | PostgreSQL CPU/job on ÷ off |',
    )
    console.log('|---|---|---|---|---|---|---|')
    const ratios = { rate: [] as number[], node: [] as number[], postgres: [] as number[] }
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? [false, true] : [true, false]
      const result = new Map<boolean, Phase>()
      for (const on of order) result.set(on, await drain(url, jobs, on, mode, postmaster))
      const off = result.get(false) as Phase
      const on = result.get(true) as Phase
      for (const k of kKeys) ratios[k].push(on[k] / off[k])
      console.log(row(round, off, on))
    }
    const median = (k: (typeof kKeys)[number]): string => summarize(ratios[k]).median.toFixed(3)
    console.log(
      `\n${mode}${process.env.PULSE_BENCH_NO_PROPAGATOR === '1' ? ' (no propagator)' : ''}, medians on ÷ off over ${rounds} rounds: jobs/s ${median('rate')}, node CPU/job ${median('node')}, PostgreSQL CPU/job ${median('postgres')}`,
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
