/**
 * A job handler that blocks its thread (a synchronous busy loop) for `factor` × the lease duration, on
 * pulse's `JobQueue` and on BullMQ, one after the other in one run, with the same jobs and budget.
 *
 *   npx tsx bench/runtime/blocked-handler.ts [leaseMs=1000] [jobs=3] [factor=5]
 *
 * Pulse: `leaseTtlMs: leaseMs`, concurrency 1, `maxAttempts: 2`; its watchdog renews the leases from the
 * jobs thread while the handler holds the caller's event loop. BullMQ: a `Worker` with `lockDuration`
 * and `stalledInterval` of `leaseMs`, concurrency 1, `maxStalledCount: 1` (two runs at most, as pulse's
 * two attempts); it renews its locks from its own event loop. Each side enqueues `jobs` jobs, waits
 * (polling its store, with a bound) until every job is finished, then reads each job's attempts from
 * its store (pulse: `jobs.attempt`, and the failed attempts in the `job_history` view; BullMQ: the job
 * hashes' `attemptsStarted`) and counts the handler's runs in-process. Wall time: the worker's start
 * to the last job finished in the store. Prints a table and one JSON line. Uses DATABASE_URL and
 * REDIS_URL when set, else starts a PostgreSQL and a redis-server of its own on 127.0.0.1 and stops them
 * at the end.
 */
import { type Job, Queue, Worker } from 'bullmq'
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/index.js'
import { printTable } from '../../cli/common/output.js'
import { openServer, pollUntil } from '../jobs/server.js'
import { captureEnv, envMarkdown } from '../lib/env.js'
import { openRedis } from '../lib/redis-server.js'
import { machineState } from '../lib/runner.js'

interface Settings {
  readonly leaseMs: number
  readonly jobs: number
  readonly blockMs: number
}

/** What one side measured: handler runs counted in-process, outcomes as its store and events tell. */
interface Figures {
  readonly system: 'pulse' | 'bullmq'
  readonly handlerRuns: number
  readonly runsPerJob: readonly number[]
  readonly storeAttemptsPerJob: readonly number[]
  /** Jobs completed, and failed (BullMQ 'failed', pulse 'dead'), as the store shows them at the end. */
  readonly completed: number
  readonly failed: number
  /** BullMQ: 'stalled' events; pulse: attempts that ended as 'failed' (a lapsed lease is reaped as one). */
  readonly stalledOrLost: number
  readonly failureReasons: readonly string[]
  /** The 'completed' and 'failed' events; 'error' (BullMQ's worker) or 'warning' (pulse's queue) events. */
  readonly events: { readonly completed: number; readonly failed: number; readonly error: number }
  /** The distinct messages of the error events, job ids as `<id>`. */
  readonly errorKinds: readonly string[]
  readonly wallMs: number
}

/** What one side's process sees: the handler's runs by job id, and the queue's events. */
class Tally {
  readonly runs = new Map<string, number>()
  readonly errorKinds = new Set<string>()
  readonly events = { completed: 0, failed: 0, stalled: 0, error: 0 }

  run(id: string): void {
    this.runs.set(id, (this.runs.get(id) ?? 0) + 1)
  }

  error(error: Error): void {
    this.events.error++
    this.errorKinds.add(error.message.replace(/\d+/g, '<id>'))
  }

  /** Handler runs in all, and per job in enqueue order. */
  runFigures(ids: readonly string[]): Pick<Figures, 'handlerRuns' | 'runsPerJob'> {
    return {
      handlerRuns: [...this.runs.values()].reduce((a, b) => a + b, 0),
      runsPerJob: ids.map((id) => this.runs.get(id) ?? 0),
    }
  }

  eventFigures(): Pick<Figures, 'events' | 'errorKinds'> {
    const { completed, failed, error } = this.events
    return { events: { completed, failed, error }, errorKinds: [...this.errorKinds] }
  }
}

const kBullMaxStalledCount = 1
const kPulseMaxAttempts = kBullMaxStalledCount + 1

function settingsFromArgv(argv: readonly string[]): Settings {
  const leaseMs = positive(argv[0], 1000, 'leaseMs')
  return { leaseMs, jobs: positive(argv[1], 3, 'jobs'), blockMs: leaseMs * positive(argv[2], 5, 'factor') }
}

function positive(text: string | undefined, fallback: number, name: string): number {
  const value = text === undefined ? fallback : Number(text)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${text}`)
  return value
}

/** Holds the calling thread for `ms`: no timer, no I/O callback, no lock renewal runs on it meanwhile. */
function blockThread(ms: number): void {
  const end = Date.now() + ms
  while (Date.now() < end) {
    // busy
  }
}

/** How long a side may take before the bench gives up: every job run twice, plus slack. */
function boundMs(s: Settings): number {
  return s.jobs * s.blockMs * 3 + 30_000
}

function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

// ---- pulse ----

interface PulseRow {
  id: string
  status: string
  attempt: number
  failed: number
  error: string | null
}

async function runPulse(url: string, s: Settings): Promise<Figures> {
  const schema = `blocked_${process.pid}`
  const queue = await JobQueue.connect({ pg: url, schema, leaseTtlMs: s.leaseMs })
  const reader = new pg.Client({ connectionString: url })
  await reader.connect()
  try {
    const tally = new Tally()
    queue.register('block', (_args, job) => {
      tally.run(job.id)
      blockThread(s.blockMs)
    })
    queue.events.on('completed', () => tally.events.completed++)
    queue.events.on('failed', () => tally.events.failed++)
    queue.events.on('warning', ({ error }) => tally.error(error))
    const ids: string[] = []
    for (let i = 0; i < s.jobs; i++) ids.push(await queue.enqueue('block', { i }, { maxAttempts: kPulseMaxAttempts }))
    const t0 = performance.now()
    await queue.start({ concurrency: 1 })
    const finished = `SELECT count(*)::int AS n FROM ${schema}.jobs WHERE status IN ('completed', 'dead')`
    const t1 = await pollUntil(
      async () => (await reader.query<{ n: number }>(finished)).rows[0]?.n === s.jobs,
      boundMs(s),
      50,
    )
    const rows = await pulseRows(reader, schema)
    await reader.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined)
    return pulseFigures(ids, tally, rows, t1 - t0)
  } finally {
    await queue.close()
    await reader.end()
  }
}

/** Each job's status, attempt counter (attempts started) and the attempts its history shows as 'failed'. */
async function pulseRows(reader: pg.Client, schema: string): Promise<PulseRow[]> {
  const { rows } = await reader.query<PulseRow>(
    `SELECT j.id::text, j.status, j.attempt, j.last_error->>'message' AS error,
            (SELECT count(*) FROM ${schema}.job_history h WHERE h.job_id = j.id AND h.type = 'failed')::int AS failed
       FROM ${schema}.jobs j ORDER BY j.id`,
  )
  return rows
}

function pulseFigures(ids: readonly string[], tally: Tally, rows: readonly PulseRow[], wallMs: number): Figures {
  return {
    system: 'pulse',
    ...tally.runFigures(ids),
    ...tally.eventFigures(),
    storeAttemptsPerJob: rows.map((r) => r.attempt),
    completed: rows.filter((r) => r.status === 'completed').length,
    failed: rows.filter((r) => r.status === 'dead').length,
    stalledOrLost: rows.reduce((n, r) => n + r.failed, 0),
    failureReasons: [...new Set(rows.flatMap((r) => (r.error === null ? [] : [r.error])))],
    wallMs,
  }
}

// ---- BullMQ ----

async function runBull(redisUrl: string, s: Settings): Promise<Figures> {
  const connection = bullConnection(redisUrl)
  const name = `blocked-${process.pid}`
  const queue = new Queue(name, { connection })
  const tally = new Tally()
  let worker: Worker | undefined
  try {
    const added = await queue.addBulk(Array.from({ length: s.jobs }, (_, i) => ({ name: 'block', data: { i } })))
    const t0 = performance.now()
    worker = bullWorker(name, connection, s, tally)
    const t1 = await pollUntil(
      async () => {
        const c = await queue.getJobCounts('completed', 'failed')
        return (c.completed ?? 0) + (c.failed ?? 0) === s.jobs
      },
      boundMs(s),
      50,
    )
    const jobs = await Promise.all(added.map((j) => bullOutcome(queue, j.id ?? '')))
    return bullFigures(added, jobs, tally, t1 - t0)
  } finally {
    await worker?.close()
    await queue.obliterate({ force: true }).catch(() => undefined)
    await queue.close()
  }
}

interface BullConnection {
  host: string
  port: number
  maxRetriesPerRequest: null
}

function bullConnection(redisUrl: string): BullConnection {
  const { hostname, port } = new URL(redisUrl)
  return { host: hostname, port: Number(port === '' ? 6379 : port), maxRetriesPerRequest: null }
}

function bullWorker(name: string, connection: BullConnection, s: Settings, tally: Tally): Worker {
  const worker = new Worker(
    name,
    (job: Job) => {
      tally.run(job.id ?? '')
      blockThread(s.blockMs)
      return Promise.resolve()
    },
    {
      connection,
      concurrency: 1,
      lockDuration: s.leaseMs,
      stalledInterval: s.leaseMs,
      maxStalledCount: kBullMaxStalledCount,
    },
  )
  worker.on('completed', () => tally.events.completed++)
  worker.on('failed', () => tally.events.failed++)
  worker.on('stalled', () => tally.events.stalled++)
  worker.on('error', (error) => tally.error(error))
  return worker
}

interface BullOutcome {
  state: string
  attemptsStarted: number
  failedReason: string | undefined
}

/** A job's state and counters as its hash in Redis holds them. */
async function bullOutcome(queue: Queue, id: string): Promise<BullOutcome> {
  const job = await queue.getJob(id)
  if (job === undefined) return { state: 'missing', attemptsStarted: 0, failedReason: undefined }
  const failedReason = job.failedReason === '' ? undefined : job.failedReason
  return { state: await job.getState(), attemptsStarted: job.attemptsStarted, failedReason }
}

function bullFigures(added: readonly Job[], jobs: readonly BullOutcome[], tally: Tally, wallMs: number): Figures {
  return {
    system: 'bullmq',
    ...tally.runFigures(added.map((j) => j.id ?? '')),
    ...tally.eventFigures(),
    storeAttemptsPerJob: jobs.map((j) => j.attemptsStarted),
    completed: jobs.filter((j) => j.state === 'completed').length,
    failed: jobs.filter((j) => j.state === 'failed').length,
    stalledOrLost: tally.events.stalled,
    failureReasons: [...new Set(jobs.flatMap((j) => (j.failedReason === undefined ? [] : [j.failedReason])))],
    wallMs,
  }
}

// ---- report ----

function printFigures(s: Settings, results: readonly Figures[]): void {
  printTable(
    [
      'system',
      'handler runs',
      'runs per job',
      'attempts in store',
      'completed (store / events)',
      'failed (store / events)',
      'stalled / lost',
      'error events',
      'failure reasons',
      'wall s',
    ],
    results.map((f) => [
      f.system,
      f.handlerRuns,
      f.runsPerJob.join(' '),
      f.storeAttemptsPerJob.join(' '),
      `${f.completed} / ${f.events.completed}`,
      `${f.failed} / ${f.events.failed}`,
      f.stalledOrLost,
      f.events.error,
      f.failureReasons.join('; '),
      (f.wallMs / 1000).toFixed(1),
    ]),
  )
  for (const f of results) {
    if (f.errorKinds.length > 0) process.stdout.write(`${f.system} error events: ${f.errorKinds.join(' | ')}\n`)
  }
  process.stdout.write(`${JSON.stringify({ ...s, concurrency: 1, results })}\n`)
}

async function main(): Promise<void> {
  const s = settingsFromArgv(process.argv.slice(2))
  const server = await openServer()
  const redis = await openRedis()
  const redisUrl = redis.url
  try {
    const url = await server.createDatabase('pulse_bench_blocked')
    const before = await machineState()
    log(`lease ${s.leaseMs} ms, handler blocks ${s.blockMs} ms, ${s.jobs} jobs, concurrency 1`)
    log('pulse …')
    const pulse = await runPulse(url, s)
    log('bullmq …')
    const bull = await runBull(redisUrl, s)
    const after = await machineState()
    printFigures(s, [pulse, bull])
    process.stdout.write(
      `\n${envMarkdown(captureEnv(['bullmq', 'ioredis', 'pg']))}\n\nPostgreSQL: ${server.version} (${server.settings}); Redis: ${await redis.version()}.\nMachine state: at start ${before}; at end ${after}.\n`,
    )
  } finally {
    await redis.close()
    await server.close()
  }
}

await main()
