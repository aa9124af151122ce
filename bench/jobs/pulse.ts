/**
 * pulse-runtime's `JobQueue`: `enqueueMany` in chunks of 1,000 / single `enqueue`; `start({ concurrency })`.
 * Durable completion = the 'completed' event (fired once the ack statement committed).
 *
 * Each phase connects a queue and starts its worker afresh, as for the peers; the worker's actors run
 * on the adapter's `Runtime` (`start({ runtime })`), made once at setup, as an application that runs
 * a runtime would: a worker started without one starts a runtime of its own, and its threads' code
 * would run cold (interpreted, then compiled) through the first thousands of jobs of every phase
 * (`{ ownRuntime: true }` measures that).
 */
import { JobQueue } from '../../actors/jobs/queue.js'
import { Runtime } from '../../runtime/runtime.js'
import { type BulkResult, type JobsAdapter, type SteadyOptions, type SteadyResult, startCpuReading } from './adapter.js'
import { exec } from './server.js'
import { LatencyRecorder, paced } from './steady.js'

export const kPulseSchema = 'pulse'

/** Empties the queue's tables (a clean store for each phase). */
export async function cleanPulse(url: string, schema = kPulseSchema): Promise<void> {
  await exec(url, `TRUNCATE ${schema}.jobs, ${schema}.job_events RESTART IDENTITY`)
  await exec(url, `VACUUM ANALYZE ${schema}.jobs, ${schema}.job_events`)
}

/**
 * `prefetch`: jobs claimed beyond `concurrency`; undefined leaves the queue's default (`'auto'`, the
 * `pulse` variant: what a user gets), a number is the `pulse+prefetch` variant. `claimBatchMax`: the queue's option (its default when undefined). `args`: the bulk phase's job
 * args (`{}` when undefined).
 */
export function pulseAdapter(
  url: string,
  prefetch?: number,
  options: { claimBatchMax?: number | undefined; ownRuntime?: boolean; args?: unknown } = {},
): JobsAdapter {
  const connect = (): Promise<JobQueue> =>
    JobQueue.connect({ pg: url, schema: kPulseSchema, claimBatchMax: options.claimBatchMax })
  let runtime: Runtime | undefined
  /** The adapter's runtime, started on first use (setup alone starts none); undefined: the worker's own. */
  const shared = async (): Promise<Runtime | undefined> =>
    options.ownRuntime === true ? undefined : (runtime ??= await Runtime.start())
  return {
    name: (prefetch === undefined ? 'pulse' : 'pulse+prefetch') + (options.ownRuntime === true ? ' (own runtime)' : ''),
    async setup() {
      const q = await JobQueue.connect({ pg: url, schema: kPulseSchema })
      await q.close()
    },
    async bulk(n: number, concurrency: number): Promise<BulkResult> {
      await cleanPulse(url)
      const q = await connect()
      try {
        let completed = 0
        let resolveDone!: (t: number) => void
        const done = new Promise<number>((r) => (resolveDone = r))
        q.register('noop', () => undefined)
        q.events.on('completed', () => {
          if (++completed === n) resolveDone(performance.now())
        })
        await q.start({ concurrency, ...(prefetch === undefined ? {} : { prefetch }), runtime: await shared() })
        const items = Array.from({ length: 1000 }, () => ({ name: 'noop', args: options.args ?? {} }))
        const t0 = performance.now()
        const cpu = startCpuReading()
        for (let sent = 0; sent < n; sent += 1000)
          await q.enqueueMany(sent + 1000 <= n ? items : items.slice(0, n - sent))
        const submitted = performance.now()
        const t1 = await withTimeout(done, 120_000, () => `pulse bulk: ${completed}/${n} completed`)
        return { e2e: (n * 1000) / (t1 - t0), submit: (n * 1000) / (submitted - t0), drainCpu: cpu() }
      } finally {
        await q.close()
      }
    },
    async steady(options: SteadyOptions): Promise<SteadyResult> {
      await cleanPulse(url)
      const q = await connect()
      try {
        const recorder = new LatencyRecorder()
        q.register('noop', (args) => recorder.onStart(args))
        await q.start({
          concurrency: options.concurrency,
          ...(prefetch === undefined ? {} : { prefetch }),
          runtime: await shared(),
        })
        return await paced(options, recorder, (args) => q.enqueue('noop', args))
      } finally {
        await q.close()
      }
    },
    async teardown() {
      await runtime?.close()
      runtime = undefined
    },
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what()} within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
