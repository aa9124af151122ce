/**
 * Chaos, soak (the long form only, `npm run chaos -- --long`): a million jobs and a million events, with
 * the memory of every process that does the work sampled every second. No faults: the soak looks for
 * leaks, drifts and rare losses that a short run does not show.
 *
 * Jobs: two worker processes (fixtures/soak-worker.ts, `JobQueue` defaults) drain `soak` jobs that the
 * test enqueues with `enqueueMany`, in batches, a wave at a time: a wave goes in once the jobs not yet
 * run leave room for it in the backlog, so the workers run at a steady state. Streaming: a producer
 * process (fixtures/soak-producer.ts) adds the events in waves the same way, and two processes
 * (fixtures/soak-sink.ts) consume them as instances of one sink, recording each event in Redis before
 * they ack it.
 *
 * Afterwards: from the database, every job is completed and ran once unless its attempts say otherwise;
 * from Redis, every event is recorded, nothing is pending in the group, and an event recorded twice was
 * redelivered. From the samples (fixtures/soak-trends.ts): after warm-up (the first tenth of its work),
 * each process's live heap (after a forced full collection) and rss grow at most by the bounds below,
 * and each fleet's throughput per 10 s window stays above half its median.
 *
 * `PULSE_SOAK_SCALE` (0 < scale ≤ 1, default 1) scales the work down, to try the soak out.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { Redis } from 'ioredis'
import pg from 'pg'
import { describe, expect, it } from 'vitest'

import { JobQueue } from '../../actors/jobs/index.js'
import { type Child, spawnTs } from '../helpers/child.js'
import { createTestDatabase } from '../helpers/postgres.js'
import { deleteByPrefix } from '../helpers/redis.js'
import { redisUrl } from '../helpers/servers.js'
import {
  latestDone,
  memoryTrend,
  type MemoryTrend,
  samplesOf,
  throughput,
  type Throughput,
} from './fixtures/soak-trends.js'
import { longForm } from './long.js'
import { resultsDir, writeResult } from './results.js'
import { waitFor } from './wait.js'

const scale = Number(process.env.PULSE_SOAK_SCALE ?? '1')
if (!(scale > 0 && scale <= 1))
  throw new Error(`PULSE_SOAK_SCALE must be in (0, 1], not ${process.env.PULSE_SOAK_SCALE}`)

const soak = {
  jobs: Math.round(1_000_000 * scale),
  events: Math.round(1_000_000 * scale),
  workers: 2,
  consumers: 2,
  batch: 1_000,
  wave: 10_000,
  backlog: 20_000,
  /** Bounds the stream (approximately) far above the backlog, so that trimming removes acked events only. */
  maxLen: 100_000,
  /** Per unit of work, the bound on a run's time (the box is shared: 1 ms a unit is 1,000 units a second). */
  msPerUnit: 2,
  /** A wave waits at most this long for room. */
  stallMs: 120_000,
}

/** The bounds the soak checks, for every process after warm-up, and for the throughput. */
const bounds = {
  liveGrowthMiB: 8,
  rssGrowthMiB: 64,
  minWindowShare: 0.5,
}

const timeoutOf = (units: number) => Math.max(180_000, units * soak.msPerUnit)

interface Part {
  readonly work: string
  readonly lost: number
  readonly duplicates: number
  readonly unrecorded: number
  readonly durationMs: number
  readonly details: Record<string, number | string>
}

function merge<V>(records: readonly Readonly<Record<string, V>>[]): Record<string, V> {
  return Object.fromEntries(records.flatMap((r) => Object.entries(r)))
}

const parts = new Map<'jobs' | 'streaming', Part>()

/**
 * Adds a part's figures and writes what the parts run so far observed as one result, `soak`. The figures
 * go to the console too: a concurrent `npm run chaos` clears test/chaos/results/.
 */
function record(name: 'jobs' | 'streaming', part: Part): void {
  parts.set(name, part)
  console.log(
    `soak, ${name}: ${JSON.stringify({ ...part, details: undefined })}\n${JSON.stringify(part.details, null, 2)}`,
  )
  const all = [...parts.values()]
  const sum = (pick: (p: Part) => number) => all.reduce((a, p) => a + pick(p), 0)
  writeResult({
    scenario: 'soak',
    guarantee: 'no loss, bounded memory, steady throughput over a long run',
    faults: {},
    work: all.map((p) => p.work).join('; '),
    lost: sum((p) => p.lost),
    duplicates: sum((p) => p.duplicates),
    unrecordedDuplicates: sum((p) => p.unrecorded),
    recoveryMs: undefined,
    durationMs: sum((p) => p.durationMs),
    details: merge([{ scale }, ...all.map((p) => p.details)]),
  })
}

/** Keeps every child's samples beside the results (`soak-<part>.samples.jsonl`, one line per sample). */
function keepSamples(part: string, children: ReadonlyMap<string, Child>): void {
  mkdirSync(resultsDir, { recursive: true })
  const lines = [...children].flatMap(([name, child]) =>
    samplesOf(child.lines).map((sample) => JSON.stringify({ process: name, ...sample })),
  )
  writeFileSync(join(resultsDir, `soak-${part}.samples.jsonl`), `${lines.join('\n')}\n`)
}

// ---- child processes ----

function spawnFixture(fixture: string, config: object): Child {
  const entry = fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url))
  const nodeOptions = `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim()
  return spawnTs(entry, [JSON.stringify(config)], { ...process.env, NODE_OPTIONS: nodeOptions })
}

/** Throws when a child exited by itself, with its last lines. */
function assertRunning(children: readonly Child[]): void {
  for (const child of children) {
    const { exitCode, signalCode } = child.process
    if (exitCode !== null || signalCode !== null)
      throw new Error(`a child exited (${exitCode ?? signalCode}):\n${child.lines.slice(-20).join('\n')}`)
  }
}

/** SIGTERMs `child`; kills it past `timeoutMs`. Resolves its exit code. */
async function stop(child: Child, timeoutMs = 30_000): Promise<number | string> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return child.exited
  child.process.kill('SIGTERM')
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs)
  try {
    return await child.exited
  } finally {
    clearTimeout(timer)
  }
}

/** The work a child reported on its `closed` line, or in its latest sample. */
function closedDone(child: Child): number {
  const line = child.lines.find((l) => l.startsWith('closed {'))
  return line === undefined ? latestDone(child.lines) : (JSON.parse(line.slice(7)) as { done: number }).done
}

const totalDone = (children: readonly Child[]) => children.reduce((a, c) => a + latestDone(c.lines), 0)

// ---- figures ----

const fmt = (n: number) => n.toLocaleString('en-US')
/** The 1-minute load average: the box is shared, and the figures depend on it. */
const load = () => (loadavg()[0] ?? 0).toFixed(1)
const mib = (n: number) => n.toFixed(1)
const signed = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(2)}`

function memoryDetails(name: string, trend: MemoryTrend): Record<string, string> {
  const line = (t: MemoryTrend['rss']) => `${mib(t.warm)} → ${mib(t.end)} (${signed(t.slope)} per 100k)`
  return {
    [`${name}: live heap MiB, warm-up → end`]: line(trend.live),
    [`${name}: heapUsed MiB, warm-up → end`]: line(trend.heap),
    [`${name}: rss MiB, warm-up → end`]: line(trend.rss),
  }
}

function throughputDetails(unit: string, t: Throughput): Record<string, string | number> {
  const rate = (n: number) => (Number.isFinite(n) ? Math.round(n) : '-')
  return {
    [`${unit}/s, median of 10 s windows`]: rate(t.median),
    [`${unit}/s, lowest window`]: rate(t.min),
    [`${unit}: windows after warm-up`]: t.windows.length,
  }
}

/** Checks every process's memory bounds and the fleet's throughput. */
function expectSteady(trends: ReadonlyMap<string, MemoryTrend>, rate: Throughput): void {
  for (const [name, trend] of trends) {
    expect(trend.live.growth, `${name}: live heap growth after warm-up, MiB`).toBeLessThanOrEqual(bounds.liveGrowthMiB)
    expect(trend.rss.growth, `${name}: rss growth after warm-up, MiB`).toBeLessThanOrEqual(bounds.rssGrowthMiB)
  }
  if (rate.windows.length >= 3)
    expect(rate.min, `lowest window of ${rate.windows.join(', ')}`).toBeGreaterThanOrEqual(
      bounds.minWindowShare * rate.median,
    )
}

// ---- jobs ----

/** Enqueues the jobs, a wave at a time once the backlog (enqueued, not yet run) leaves room for one. */
async function enqueueInWaves(queue: JobQueue, workers: readonly Child[]): Promise<number> {
  let enqueued = 0
  let ids = 0
  while (enqueued < soak.jobs) {
    await waitFor(
      () => {
        assertRunning(workers)
        return enqueued - totalDone(workers) <= soak.backlog - soak.wave
      },
      { timeoutMs: soak.stallMs, intervalMs: 100, what: `room for a wave after ${enqueued} jobs` },
    )
    const end = Math.min(soak.jobs, enqueued + soak.wave)
    while (enqueued < end) {
      const n = Math.min(soak.batch, end - enqueued)
      const items = Array.from({ length: n }, (_, j) => ({ name: 'soak', args: { i: enqueued + j } }))
      ids += (await queue.enqueueMany(items)).length
      enqueued += n
    }
  }
  return ids
}

interface JobsAudit {
  readonly jobs: number
  readonly completed: number
  readonly attempts: number
}

async function auditJobs(pool: pg.Pool): Promise<JobsAudit> {
  const { rows } = await pool.query<{ jobs: number; completed: number; attempts: string }>(
    `SELECT count(*)::int AS jobs, (count(*) FILTER (WHERE status = 'completed'))::int AS completed,
            coalesce(sum(attempt), 0)::text AS attempts
       FROM pulse.jobs WHERE name = 'soak'`,
  )
  const row = rows[0] ?? { jobs: 0, completed: 0, attempts: '0' }
  return { ...row, attempts: Number(row.attempts) }
}

async function unfinished(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pulse.jobs WHERE status IN ('pending', 'retrying', 'running')`,
  )
  return rows[0]?.n ?? -1
}

async function drainJobs(pool: pg.Pool, queue: JobQueue, workers: readonly Child[]) {
  const started = Date.now()
  const loadAtStart = load()
  const enqueued = await enqueueInWaves(queue, workers)
  await waitFor(
    async () => {
      assertRunning(workers)
      return totalDone(workers) >= soak.jobs && (await unfinished(pool)) === 0
    },
    { timeoutMs: timeoutOf(soak.jobs), intervalMs: 500, what: `${fmt(soak.jobs)} jobs completed` },
  )
  return { started, enqueued, durationMs: Date.now() - started, load: `${loadAtStart} → ${load()}` }
}

// ---- streaming ----

interface Names {
  readonly tag: string
  readonly stream: string
  readonly sink: string
}

interface Ledger {
  /** Events recorded (bits set). */
  readonly recorded: number
  /** Entries pending in the group. */
  readonly pending: number
  /** Deliveries after an event's first: recorded (redeliveries) and not. */
  readonly duplicates: number
  readonly unrecorded: number
  readonly redelivered: number
}

async function ledger(raw: Redis, names: Names): Promise<Ledger> {
  const again = await raw.hgetall(`${names.tag}:again`)
  const redelivered = await raw.hgetall(`${names.tag}:redelivered`)
  let extra = 0
  let unrecorded = 0
  for (const [index, n] of Object.entries(again)) {
    extra += Number(n)
    unrecorded += Math.max(0, Number(n) - Number(redelivered[index] ?? 0))
  }
  return {
    recorded: await raw.bitcount(`${names.tag}:seen`),
    pending: await pending(raw, names),
    duplicates: extra - unrecorded,
    unrecorded,
    redelivered: Object.keys(redelivered).length,
  }
}

async function pending(raw: Redis, names: Names): Promise<number> {
  const [count] = (await raw.xpending(`pulse:stream:${names.stream}`, names.sink)) as [number]
  return count
}

async function cleanUp(raw: Redis, names: Names): Promise<void> {
  for (const prefix of [`pulse:stream:${names.tag}`, `map:stream:${names.tag}`, `map:sink:${names.tag}`])
    await deleteByPrefix(raw, prefix)
  await deleteByPrefix(raw, `sink:${names.tag}`)
  await deleteByPrefix(raw, `${names.tag}:`)
}

/** Starts the producer and waits until every event is recorded and acked. */
async function produceAndConsume(raw: Redis, names: Names, consumers: readonly Child[]) {
  const started = Date.now()
  const loadAtStart = load()
  const producer = spawnFixture('soak-producer.ts', {
    url: redisUrl(),
    stream: names.stream,
    prefix: names.tag,
    maxLen: soak.maxLen,
    events: soak.events,
    batch: soak.batch,
    wave: soak.wave,
    backlog: soak.backlog,
  })
  await waitFor(
    async () => {
      assertRunning([...consumers, producer])
      return (await raw.bitcount(`${names.tag}:seen`)) === soak.events && (await pending(raw, names)) === 0
    },
    { timeoutMs: timeoutOf(soak.events), intervalMs: 500, what: `${fmt(soak.events)} events recorded and acked` },
  ).catch((error: unknown) => {
    void stop(producer, 5_000)
    throw error
  })
  return { started, durationMs: Date.now() - started, producer, load: `${loadAtStart} → ${load()}` }
}

describe.skipIf(!longForm)('soak', () => {
  it(
    `jobs: ${fmt(soak.jobs)} jobs through ${soak.workers} worker processes, all completed, memory bounded, throughput steady`,
    async () => {
      const db = await createTestDatabase()
      const pool = new pg.Pool({ connectionString: db.directUrl, max: 2 })
      pool.on('error', () => undefined)
      const queue = await JobQueue.connect({ pg: pool })
      const workers: Child[] = []
      try {
        for (let i = 0; i < soak.workers; i++) workers.push(spawnFixture('soak-worker.ts', { url: db.directUrl }))
        await Promise.all(workers.map((w) => w.waitForLine(/^ready$/, 60_000)))
        const run = await drainJobs(pool, queue, workers)
        const exits = await Promise.all(workers.map((w) => stop(w)))
        const audit = await auditJobs(pool)
        const handled = workers.reduce((a, w) => a + closedDone(w), 0)
        const samples = workers.map((w) => samplesOf(w.lines))
        const trends = new Map(samples.map((s, i) => [`worker ${i + 1}`, memoryTrend(s)]))
        keepSamples('jobs', new Map(workers.map((w, i) => [`worker ${i + 1}`, w])))
        const rate = throughput(samples, soak.jobs, run.started)
        const unrecorded = Math.max(0, handled - audit.attempts)
        record('jobs', {
          work: `${fmt(audit.jobs)} jobs, ${fmt(handled)} runs, ${soak.workers} workers`,
          lost: soak.jobs - audit.completed,
          duplicates: audit.attempts - audit.jobs,
          unrecorded,
          durationMs: run.durationMs,
          details: {
            'jobs enqueued': run.enqueued,
            'jobs: seconds': (run.durationMs / 1_000).toFixed(1),
            'jobs: load average (1 min), start → end': run.load,
            'jobs per worker': workers.map(closedDone).map(fmt).join(' / '),
            ...merge([...trends].map(([name, t]) => memoryDetails(name, t))),
            ...throughputDetails('jobs', rate),
          },
        })

        expect({ enqueued: run.enqueued, jobs: audit.jobs, completed: audit.completed, unrecorded, exits }).toEqual({
          enqueued: soak.jobs,
          jobs: soak.jobs,
          completed: soak.jobs,
          unrecorded: 0,
          exits: workers.map(() => 0),
        })
        expectSteady(trends, rate)
      } finally {
        await Promise.all(workers.map((w) => stop(w, 5_000)))
        await queue.close()
        await pool.end()
        await db.drop()
      }
    },
    timeoutOf(soak.jobs) + 300_000,
  )

  it(
    `streaming: ${fmt(soak.events)} events to a sink of ${soak.consumers} processes, all acked, memory bounded, throughput steady`,
    async () => {
      const tag = `soak-${randomUUID().slice(0, 8)}`
      const names: Names = { tag, stream: `${tag}-events`, sink: `${tag}-sink` }
      const raw = new Redis(redisUrl(), { maxRetriesPerRequest: 1 })
      const config = { url: redisUrl(), stream: names.stream, sink: names.sink, prefix: tag, maxLen: soak.maxLen }
      const consumers: Child[] = []
      try {
        for (let i = 0; i < soak.consumers; i++) consumers.push(spawnFixture('soak-sink.ts', config))
        await Promise.all(consumers.map((c) => c.waitForLine(/^ready /, 60_000)))
        const run = await produceAndConsume(raw, names, consumers)
        const exits = await Promise.all([...consumers, run.producer].map((c) => stop(c)))
        const book = await ledger(raw, names)
        const samples = consumers.map((c) => samplesOf(c.lines))
        const trends = new Map(samples.map((s, i) => [`consumer ${i + 1}`, memoryTrend(s)]))
        trends.set('producer', memoryTrend(samplesOf(run.producer.lines)))
        keepSamples(
          'streaming',
          new Map([...consumers.map((c, i) => [`consumer ${i + 1}`, c] as const), ['producer', run.producer]]),
        )
        const rate = throughput(samples, soak.events, run.started)
        const handled = consumers.reduce((a, c) => a + closedDone(c), 0)
        record('streaming', {
          work: `${fmt(soak.events)} events, ${fmt(handled)} deliveries, ${soak.consumers} consumers`,
          lost: soak.events - book.recorded + book.pending,
          duplicates: book.duplicates,
          unrecorded: book.unrecorded,
          durationMs: run.durationMs,
          details: {
            'events: seconds': (run.durationMs / 1_000).toFixed(1),
            'events: load average (1 min), start → end': run.load,
            'events per consumer': consumers.map(closedDone).map(fmt).join(' / '),
            'events redelivered': book.redelivered,
            ...merge([...trends].map(([name, t]) => memoryDetails(name, t))),
            ...throughputDetails('events', rate),
          },
        })

        expect({ recorded: book.recorded, pending: book.pending, unrecorded: book.unrecorded, exits }).toEqual({
          recorded: soak.events,
          pending: 0,
          unrecorded: 0,
          exits: [...consumers, run.producer].map(() => 0),
        })
        expectSteady(trends, rate)
      } finally {
        await Promise.all(consumers.map((c) => stop(c, 5_000)))
        await cleanUp(raw, names)
        await raw.quit()
      }
    },
    timeoutOf(soak.events) + 300_000,
  )
})
