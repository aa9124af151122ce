/**
 * The HTTP read path of a service that runs its job workers in the same process, with the workers idle
 * and busy: the order service of examples/embed-http (pulse: `Runtime` with `rt.jobs` + `rt.map`) and
 * the same HTTP code on BullMQ (`Queue` + `Worker` in-process on Redis, prices in a plain in-memory
 * `Map` that the worker updates: like pulse's map, a local read with no I/O).
 *
 *   npx tsx bench/runtime/embed-http.ts [--rounds 3] [--seconds 10] [--connections 50] [--rate 200]
 *                                       [--work-ms 1] [--concurrency 10] [--warmup 3] [--quick]
 *
 * Each phase loads `GET /prices/sku-0` for `seconds` with autocannon (closed loop, `connections`
 * keep-alive connections) from a worker thread of this process, which records every 2xx answer's
 * latency at µs resolution (autocannon's own histogram keeps whole ms). "idle": no jobs. "busy": a
 * producer in this process enqueues `rate` `process-order` jobs per second (batches every 10 ms:
 * `enqueueMany` / `addBulk`) from 1 s before the load until its end, and the handlers (`concurrency`
 * at once) each burn `work-ms` of CPU on the event loop and count the units sold (pulse: `inc` on the
 * replicated map, a Redis script; BullMQ: the in-memory `Map`). After a busy phase the queue drains
 * before the next phase starts. A "jobs-only" phase (5 s) runs the producer without HTTP load, for the
 * main thread's CPU per job with nothing else on the loop. Both services live through the whole run;
 * phases go round-robin (pulse idle, pulse busy, bullmq idle, bullmq busy, pulse jobs-only, bullmq
 * jobs-only), after a shorter warm-up of each (not recorded).
 *
 * Prints a table (median [min–max] over the rounds), the busy ÷ idle p99 ratio per system (taken
 * inside each round), one JSON line, then the machine. Also reported: jobs completed per second during
 * the load, the backlog when it ended, the main thread's event-loop utilisation and CPU time (/proc;
 * below the utilisation, the thread was runnable but waited for a core), and the share of the machine's
 * CPUs busy (every process, the run's and others': the machine is shared). Uses DATABASE_URL
 * and REDIS_URL when set, else starts a PostgreSQL (durable settings) and a redis-server of its own on
 * 127.0.0.1 and stops them at the end. Unlike the other suites this one imports examples/: it measures
 * that service.
 */
import { isMainThread, parentPort, type Worker, workerData } from 'node:worker_threads'

import autocannon from 'autocannon'
import { Queue, Worker as BullWorker } from 'bullmq'

import { printTable } from '../../cli/common/output.js'
import {
  type HttpListener,
  kOrderJob,
  listenOrders,
  type Order,
  type PriceBook,
  processOrder,
  startService,
} from '../../examples/embed-http/service.js'
import { openServer, pollUntil } from '../jobs/server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { openRedis } from '../lib/redis-server.js'
import { latencyHistogram, percentilesUs, recordMs } from '../lib/histogram.js'
import { cpuMicros, cpuTicks } from '../lib/proc-cpu.js'
import { machineState, roundRobin, series, suiteArgs } from '../lib/runner.js'
import { startBenchWorker, nextMessage } from '../lib/workers.js'
import { fmtRatio, fmtSummary, ratios, sig, summarize } from '../lib/stats.js'

const kUsage =
  'npx tsx bench/runtime/embed-http.ts [--rounds 3] [--seconds 10] [--connections 50] [--rate 200] [--work-ms 1] [--concurrency 10] [--warmup 3] [--quick]'
const kSkus = 100
const kPath = '/prices/sku-0'
const kProducerTickMs = 10
const kSettleMs = 1_000
const kDrainTimeoutMs = 60_000
/** The jobs-only phases are shorter: their figure (main-thread CPU per job) settles fast. */
const kJobsOnlySeconds = 5

interface Settings {
  readonly rounds: number
  readonly seconds: number
  readonly warmupSeconds: number
  readonly connections: number
  readonly rate: number
  readonly workMs: number
  readonly concurrency: number
}

/** What the load thread is asked to do, and what it answers. */
interface LoadRequest {
  readonly url: string
  readonly connections: number
  readonly seconds: number
}

interface LoadResult {
  readonly kind: 'load-result'
  readonly ok: number
  readonly bad: number
  readonly seconds: number
  readonly p50Us: number
  readonly p99Us: number
  readonly p999Us: number
  readonly maxUs: number
}

/** One service under test: its URL, how the producer feeds it, how many jobs it completed. */
interface System {
  readonly name: 'pulse' | 'bullmq'
  readonly url: string
  enqueue(orders: readonly Order[]): Promise<unknown>
  /** Jobs enqueued by the producer since the start, and completed ('completed' events). */
  readonly counts: { enqueued: number; completed: number }
  close(): Promise<void>
}

interface PhaseResult {
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly p999: number
  readonly max: number
  /** Non-2xx answers and errors. */
  readonly bad: number
  readonly jobsPerSecond: number
  /** Jobs enqueued and not completed when the load ended. */
  readonly backlog: number
  /** The main thread's event-loop utilisation during the load (0–1). */
  readonly elu: number
  /** CPU seconds the main thread got per second of load (below `elu`: it waited for a core). */
  readonly mainCpu: number
  /** The share of the machine's CPUs busy during the load (every process: the run's and others'). */
  readonly hostBusy: number
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function skuName(i: number): string {
  return `sku-${i}`
}

function positive(text: string | undefined, fallback: number, name: string): number {
  const value = text === undefined ? fallback : Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got ${text}`)
  return value
}

function settingsFromArgs(): Settings {
  const args = suiteArgs(kUsage, ['seconds', 'connections', 'rate', 'work-ms', 'concurrency', 'warmup'])
  const { quick } = args.ctx
  return {
    rounds: quick && !args.given('rounds') ? 1 : args.ctx.rounds,
    seconds: positive(args.string('seconds'), quick ? 2 : 10, 'seconds'),
    warmupSeconds: positive(args.string('warmup'), quick ? 1 : 3, 'warmup'),
    connections: positive(args.string('connections'), 50, 'connections'),
    rate: positive(args.string('rate'), 200, 'rate'),
    workMs: positive(args.string('work-ms'), 1, 'work-ms'),
    concurrency: positive(args.string('concurrency'), 10, 'concurrency'),
  }
}

// ---- the load thread: autocannon, every 2xx latency in an hdr histogram (µs) ----

function runLoad(request: LoadRequest): Promise<LoadResult> {
  const histogram = latencyHistogram()
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: request.url,
        connections: request.connections,
        duration: request.seconds,
      },
      (error: unknown, result: autocannon.Result) => {
        if (error !== null && error !== undefined)
          return reject(error instanceof Error ? error : new Error(JSON.stringify(error)))
        const p = percentilesUs(histogram)
        resolve({
          kind: 'load-result',
          ok: result['2xx'],
          bad: result.non2xx + result.errors + result.timeouts,
          seconds: result.duration,
          p50Us: p.p50,
          p99Us: p.p99,
          p999Us: p.p999,
          maxUs: p.max,
        })
      },
    )
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) recordMs(histogram, ms)
    })
  })
}

function serveLoadRequests(): void {
  parentPort?.on('message', (request: LoadRequest) => {
    runLoad(request).then(
      (result) => parentPort?.postMessage(result),
      (error: unknown) => parentPort?.postMessage({ kind: 'load-error', message: String(error) }),
    )
  })
}

function isLoadAnswer(msg: unknown): msg is LoadResult | { kind: 'load-error'; message: string } {
  const kind = (msg as { kind?: unknown } | null)?.kind
  return kind === 'load-result' || kind === 'load-error'
}

async function loadFrom(thread: Worker, request: LoadRequest): Promise<LoadResult> {
  const answer = nextMessage(thread, isLoadAnswer)
  thread.postMessage(request)
  const result = await answer
  if (result.kind === 'load-error') throw new Error(`load thread: ${result.message}`)
  return result
}

// ---- the two services ----

async function pulseSystem(redisUrl: string, databaseUrl: string, s: Settings): Promise<System> {
  const service = await startService({
    redisUrl,
    databaseUrl,
    port: 0,
    map: 'bench-embed-http-prices',
    workMs: s.workMs,
    concurrency: s.concurrency,
  })
  await service.prices.reset()
  for (let i = 0; i < kSkus; i++) await service.prices.setAndWait(skuName(i), (1 + i / 100).toFixed(2))
  const counts = { enqueued: 0, completed: 0 }
  service.jobs.events.on('completed', () => counts.completed++)
  return {
    name: 'pulse',
    url: service.url,
    counts,
    enqueue: (orders) => service.jobs.enqueueMany(orders.map((args) => ({ name: kOrderJob, args }))),
    async close() {
      await service.prices.destroy().catch(() => undefined)
      await service.close()
    },
  }
}

/** A `PriceBook` on a plain `Map`: BullMQ has no replicated map, so the worker updates process memory. */
function memoryBook(): PriceBook {
  const map = new Map<string, string>()
  for (let i = 0; i < kSkus; i++) map.set(skuName(i), (1 + i / 100).toFixed(2))
  return {
    get: (key) => map.get(key),
    inc(key, delta) {
      const value = Number(map.get(key) ?? 0) + delta
      map.set(key, String(value))
      return value
    },
  }
}

async function bullSystem(redisUrl: string, s: Settings): Promise<System> {
  const { hostname, port } = new URL(redisUrl)
  const connection = { host: hostname, port: Number(port === '' ? 6379 : port), maxRetriesPerRequest: null }
  const name = `bench-embed-http-${process.pid}`
  const queue = new Queue<Order>(name, { connection })
  const book = memoryBook()
  const worker = new BullWorker<Order>(name, (job) => processOrder(job.data, book, s.workMs), {
    connection,
    concurrency: s.concurrency,
  })
  const counts = { enqueued: 0, completed: 0 }
  worker.on('completed', () => counts.completed++)
  worker.on('error', (error) => log(`bullmq worker error: ${error.message}`))
  await worker.waitUntilReady()
  let http: HttpListener | undefined
  try {
    http = await listenOrders(
      { enqueueOrder: async (order) => (await queue.add(kOrderJob, order)).id ?? '', price: (sku) => book.get(sku) },
      0,
    )
  } catch (error) {
    await worker.close()
    await queue.close()
    throw error
  }
  const listener = http
  return {
    name: 'bullmq',
    url: listener.url,
    counts,
    enqueue: (orders) => queue.addBulk(orders.map((data) => ({ name: kOrderJob, data }))),
    async close() {
      await listener.close()
      await worker.close()
      await queue.obliterate({ force: true }).catch(() => undefined)
      await queue.close()
    },
  }
}

// ---- phases ----

/** Enqueues `rate` jobs per second in batches every 10 ms until stopped. */
function startProducer(system: System, rate: number): { stop(): Promise<void> } {
  const t0 = performance.now()
  let sent = 0
  const inFlight = new Set<Promise<unknown>>()
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate) - sent
    if (due <= 0) return
    const orders = Array.from({ length: due }, (_, i) => ({ sku: skuName((sent + i) % kSkus), quantity: 1 }))
    sent += due
    system.counts.enqueued += due
    const batch = system
      .enqueue(orders)
      .catch((error: unknown) => log(`${system.name} enqueue failed: ${String(error)}`))
    inFlight.add(batch)
    void batch.finally(() => inFlight.delete(batch))
  }, kProducerTickMs)
  return {
    async stop() {
      clearInterval(timer)
      await Promise.all(inFlight)
    },
  }
}

/** "idle": HTTP load, no jobs; "busy": HTTP load and the producer; "jobs-only": the producer alone. */
type Mode = 'idle' | 'busy' | 'jobs-only'

/** No HTTP load for `seconds` (the jobs-only phase): what the main thread spends on jobs alone. */
async function noLoad(seconds: number): Promise<LoadResult> {
  await sleep(seconds * 1000)
  return { kind: 'load-result', ok: 0, bad: 0, seconds, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 }
}

async function phase(thread: Worker, system: System, mode: Mode, seconds: number, s: Settings): Promise<PhaseResult> {
  const producer = mode === 'idle' ? undefined : startProducer(system, s.rate)
  if (producer !== undefined) await sleep(kSettleMs)
  const completed0 = system.counts.completed
  const elu0 = performance.eventLoopUtilization()
  const [cpu0, ticks0, t0] = [mainThreadCpuMicros(), cpuTicks(), performance.now()]
  const target = `${system.url}${kPath}`
  const load =
    mode === 'jobs-only'
      ? await noLoad(seconds)
      : await loadFrom(thread, { url: target, connections: s.connections, seconds })
  const elu = performance.eventLoopUtilization(elu0).utilization
  const [cpu1, ticks1, t1] = [mainThreadCpuMicros(), cpuTicks(), performance.now()]
  const completed = system.counts.completed - completed0
  const backlog = system.counts.enqueued - system.counts.completed
  await producer?.stop()
  await pollUntil(() => Promise.resolve(system.counts.completed >= system.counts.enqueued), kDrainTimeoutMs, 50)
  return {
    rps: load.ok / load.seconds,
    p50: load.p50Us / 1000,
    p99: load.p99Us / 1000,
    p999: load.p999Us / 1000,
    max: load.maxUs / 1000,
    bad: load.bad,
    jobsPerSecond: completed / load.seconds,
    backlog,
    elu,
    mainCpu: (cpu1 - cpu0) / ((t1 - t0) * 1000),
    hostBusy: (ticks1.busy - ticks0.busy) / Math.max(1, ticks1.total - ticks0.total),
  }
}

/** CPU time of this process's main thread (its task id is the pid), in µs, good to 10 ms. */
function mainThreadCpuMicros(): number {
  return cpuMicros(`/proc/self/task/${process.pid}/stat`)
}

// ---- report ----

const kHttpVariants = ['pulse idle', 'pulse busy', 'bullmq idle', 'bullmq busy'] as const
const kJobsOnlyVariants = ['pulse jobs-only', 'bullmq jobs-only'] as const

function cellOf(values: readonly number[], fmt: (n: number) => string = sig): string {
  return fmtSummary(summarize(values), fmt)
}

function report(results: Map<string, PhaseResult[]>, s: Settings): Record<string, number[]> {
  const rows = kHttpVariants.map((name) => {
    const r = series(results, name)
    const pick = (f: (x: PhaseResult) => number): number[] => r.map(f)
    return [
      name,
      cellOf(pick((x) => x.rps)),
      cellOf(pick((x) => x.p50)),
      cellOf(pick((x) => x.p99)),
      cellOf(pick((x) => x.p999)),
      cellOf(pick((x) => x.jobsPerSecond)),
      cellOf(pick((x) => x.backlog)),
      cellOf(pick((x) => x.elu)),
      cellOf(pick((x) => x.mainCpu)),
      cellOf(pick((x) => x.hostBusy)),
      String(r.reduce((n, x) => n + x.bad, 0)),
    ]
  })
  printTable(
    [
      'phase',
      'req/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'jobs/s',
      'backlog',
      'main ELU',
      'main CPU s/s',
      'host busy',
      'non-2xx',
    ],
    rows,
  )
  printJobsOnly(results, s)
  const p99 = (name: string): number[] => series(results, name).map((x) => x.p99)
  const busyOverIdle = {
    pulse: ratios(p99('pulse busy'), p99('pulse idle')),
    bullmq: ratios(p99('bullmq busy'), p99('bullmq idle')),
  }
  process.stdout.write(
    `busy ÷ idle p99: pulse ${fmtRatio(busyOverIdle.pulse)}, bullmq ${fmtRatio(busyOverIdle.bullmq)} (per round: median [min–max]); ${s.rounds} rounds × ${s.seconds} s, ${s.connections} connections, ${s.rate} jobs/s × ${s.workMs} ms\n`,
  )
  return busyOverIdle
}

/** The jobs-only phases: the main thread's CPU per job, of which the handler burns `workMs`. */
function printJobsOnly(results: Map<string, PhaseResult[]>, s: Settings): void {
  const rows = kJobsOnlyVariants.map((name) => {
    const r = series(results, name)
    return [
      name,
      cellOf(r.map((x) => x.jobsPerSecond)),
      cellOf(r.map((x) => x.mainCpu * 1000)),
      cellOf(r.map((x) => (x.mainCpu * 1000) / x.jobsPerSecond)),
      cellOf(r.map((x) => x.elu)),
      cellOf(r.map((x) => x.hostBusy)),
    ]
  })
  process.stdout.write(
    `\nNo HTTP load, ${s.rate} jobs/s (the handler burns ${s.workMs} ms of each job's main-thread CPU):\n`,
  )
  printTable(['phase', 'jobs/s', 'main CPU ms/s', 'main CPU ms/job', 'main ELU', 'host busy'], rows)
}

// ---- main ----

async function measure(redisUrl: string, databaseUrl: string, s: Settings): Promise<Map<string, PhaseResult[]>> {
  const thread = await startBenchWorker(new URL(import.meta.url), { workerData: { role: 'load' } })
  const systems: System[] = []
  try {
    const pulse = await pulseSystem(redisUrl, databaseUrl, s)
    systems.push(pulse)
    const bull = await bullSystem(redisUrl, s)
    systems.push(bull)
    const seconds = (round: number): number => (round < 0 ? s.warmupSeconds : s.seconds)
    const jobsOnlySeconds = (round: number): number => Math.min(kJobsOnlySeconds, seconds(round))
    return await roundRobin(
      [
        { name: 'pulse idle', run: (round) => phase(thread, pulse, 'idle', seconds(round), s) },
        { name: 'pulse busy', run: (round) => phase(thread, pulse, 'busy', seconds(round), s) },
        { name: 'bullmq idle', run: (round) => phase(thread, bull, 'idle', seconds(round), s) },
        { name: 'bullmq busy', run: (round) => phase(thread, bull, 'busy', seconds(round), s) },
        { name: 'pulse jobs-only', run: (round) => phase(thread, pulse, 'jobs-only', jobsOnlySeconds(round), s) },
        { name: 'bullmq jobs-only', run: (round) => phase(thread, bull, 'jobs-only', jobsOnlySeconds(round), s) },
      ],
      { rounds: s.rounds, log },
    )
  } finally {
    for (const system of systems.reverse()) await system.close()
    await thread.terminate()
  }
}

async function main(): Promise<void> {
  const s = settingsFromArgs()
  const server = await openServer()
  const redis = await openRedis()
  const redisUrl = redis.url
  try {
    const databaseUrl = await server.createDatabase('pulse_bench_embed_http')
    const before = await machineState()
    log(`${JSON.stringify(s)}; ${before}`)
    const results = await measure(redisUrl, databaseUrl, s)
    const after = await machineState()
    const busyOverIdle = report(results, s)
    const redisServer = await redis.version()
    process.stdout.write(
      `${JSON.stringify({ settings: s, results: Object.fromEntries(results), busyOverIdleP99: busyOverIdle, redis: redisServer, postgres: server.version })}\n`,
    )
    process.stdout.write(
      `\n${envMarkdown(captureEnv(['bullmq', 'autocannon', 'ioredis', 'pg']))}\n\nPostgreSQL: ${server.version} (${server.settings}); Redis: ${redisServer}.\nMachine state: at start ${before}; at end ${after}.\n`,
    )
  } finally {
    await redis.close()
    await server.close()
  }
}

if (isMainThread) await main()
else if ((workerData as { role?: unknown } | null)?.role === 'load') serveLoadRequests()
