/**
 * Reads for overviews and dashboards, each bounded in time whatever the tables' size: every statement
 * runs in a transaction under a `statement_timeout` (`withStatementTimeout`), past which the read
 * rejects with `TimeoutError`.
 *
 * - `estimatedStats`: counts per name × status, exact while the table is small, else from a sample of
 *   its pages (`estimated: true`): an exact count of a large table reads all of it.
 * - `throughput`: completed, failed and dead per minute; `latency`: wait and run percentiles of the
 *   newest completed attempts (both from `job_events` by time, migration 10).
 * - `workers`: the workers connected, and the owners of the leases held now.
 * - `oldestWaiting`, `deadLetters`, `stalledNames`: the pieces `insights()` (insights-summary.ts) warns from.
 */
import { checkDurationMs, checkInteger, checkKnownKeys } from '../../runtime/options.js'
import { withStatementTimeout } from '../../transports/postgres/jobs/bounded.js'
import {
  countByNameStatus,
  countJobsUpTo,
  listeningWorkers,
  oldestWaiting as readOldestWaiting,
  runningOwners,
  type StalledNames,
  stalledNames as readStalledNames,
  tablePages,
  tableSize,
} from '../../transports/postgres/jobs/insights.js'
import { completedLatency, deadLetterTrend, eventsPerMinute } from '../../transports/postgres/jobs/insights-events.js'
import type { Queryable } from '../../transports/postgres/jobs/queryable.js'
import { JOB_STATUSES } from '../../transports/postgres/jobs/status.js'
import type { JobQueueInternals } from './internal.js'
import type {
  DeadLetterTrend,
  EstimatedJobStats,
  EstimatedStatsOptions,
  InsightOptions,
  JobLatency,
  JobStatusCounts,
  JobThroughput,
  JobWorkers,
  LatencyOptions,
  ThroughputOptions,
  WaitingJob,
} from './types.js'

export const DEFAULT_INSIGHT_TIMEOUT_MS = 1_000
const kDefaultExactUpTo = 100_000
/** Pages a sample reads (~8 MB): enough for every common name × status, quick on any table. */
const kSamplePages = 1_000
const kMinuteMs = 60_000
const kMaxWindowMs = 24 * 60 * kMinuteMs
const kDefaultWindowMs = 60 * kMinuteMs

export function checkInsightTimeout(options: InsightOptions): number {
  return options.timeoutMs === undefined
    ? DEFAULT_INSIGHT_TIMEOUT_MS
    : checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1, max: 600_000 })
}

export function checkExactUpTo(options: EstimatedStatsOptions): number {
  return options.exactUpTo === undefined
    ? kDefaultExactUpTo
    : checkInteger(options.exactUpTo, 'options.exactUpTo', { min: 0, max: Number.MAX_SAFE_INTEGER - 1 })
}

function checkWindow(value: number | undefined): number {
  return value === undefined
    ? kDefaultWindowMs
    : checkDurationMs(value, 'options.sinceMs', { min: kMinuteMs, max: kMaxWindowMs })
}

/** Runs `fn` under the statement timeout; `what` names the read in a `TimeoutError`. */
export function bounded<T>(
  ctx: JobQueueInternals,
  what: string,
  timeoutMs: number,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  ctx.assertOpen(what)
  return withStatementTimeout(ctx.pool, timeoutMs, what, fn)
}

function zeroCounts(): JobStatusCounts {
  return Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as JobStatusCounts
}

/** The percent of pages to sample, or `undefined` to count every row. */
async function samplePercentOf(db: Queryable, q: string, exactUpTo: number): Promise<number | undefined> {
  const estimate = (await tableSize(db, q)) ?? (await countJobsUpTo(db, q, exactUpTo))
  if (estimate <= exactUpTo) return undefined
  const pages = await tablePages(db, q)
  return Math.min(100, Math.max(0.0001, (100 * kSamplePages) / Math.max(pages, 1)))
}

export async function estimatedStats(
  ctx: JobQueueInternals,
  options: EstimatedStatsOptions = {},
): Promise<EstimatedJobStats> {
  checkKnownKeys(options, ['timeoutMs', 'exactUpTo'])
  const timeoutMs = checkInsightTimeout(options)
  const exactUpTo = checkExactUpTo(options)
  return bounded(ctx, 'estimatedStats', timeoutMs, async (db) => {
    const samplePercent = await samplePercentOf(db, ctx.q, exactUpTo)
    const counts = await countByNameStatus(db, ctx.q, samplePercent)
    // A map first: a job named `__proto__` must not touch a prototype.
    const byName = new Map<string, JobStatusCounts>()
    let total = 0
    for (const { name, status, count } of counts) {
      const entry = byName.get(name) ?? zeroCounts()
      entry[status] = count
      byName.set(name, entry)
      total += count
    }
    return { byName: Object.fromEntries(byName), estimated: samplePercent !== undefined, samplePercent, total }
  })
}

export async function throughput(ctx: JobQueueInternals, options: ThroughputOptions = {}): Promise<JobThroughput> {
  checkKnownKeys(options, ['timeoutMs', 'sinceMs'])
  const timeoutMs = checkInsightTimeout(options)
  const minutes = Math.ceil(checkWindow(options.sinceMs) / kMinuteMs)
  return bounded(ctx, 'throughput', timeoutMs, async (db) => ({
    minutes: await eventsPerMinute(db, ctx.q, minutes),
  }))
}

export async function latency(ctx: JobQueueInternals, options: LatencyOptions = {}): Promise<JobLatency> {
  checkKnownKeys(options, ['timeoutMs', 'sinceMs', 'sample'])
  const timeoutMs = checkInsightTimeout(options)
  const sinceMs = checkWindow(options.sinceMs)
  const sample =
    options.sample === undefined ? 10_000 : checkInteger(options.sample, 'options.sample', { min: 1, max: 100_000 })
  return bounded(ctx, 'latency', timeoutMs, (db) => completedLatency(db, ctx.q, sinceMs, sample))
}

export async function workers(ctx: JobQueueInternals, options: InsightOptions = {}): Promise<JobWorkers> {
  checkKnownKeys(options, ['timeoutMs'])
  const timeoutMs = checkInsightTimeout(options)
  return bounded(ctx, 'workers', timeoutMs, async (db) => ({
    connected: await listeningWorkers(db, ctx.options.schema),
    runningOwners: await runningOwners(db, ctx.q, 100),
  }))
}

export function oldestWaiting(ctx: JobQueueInternals, timeoutMs: number): Promise<WaitingJob | undefined> {
  return bounded(ctx, 'oldestWaiting', timeoutMs, (db) => readOldestWaiting(db, ctx.q))
}

export const DEAD_LETTER_WINDOW_MS = 15 * kMinuteMs

export function deadLetters(ctx: JobQueueInternals, timeoutMs: number): Promise<DeadLetterTrend> {
  return bounded(ctx, 'deadLetters', timeoutMs, async (db) => ({
    ...(await deadLetterTrend(db, ctx.q, DEAD_LETTER_WINDOW_MS)),
    windowMs: DEAD_LETTER_WINDOW_MS,
  }))
}

/** Names waiting a minute or more with no attempt started in 5 minutes (`stalledNames` in SQL). */
export function stalledNames(ctx: JobQueueInternals, timeoutMs: number): Promise<StalledNames> {
  return bounded(ctx, 'stalledNames', timeoutMs, (db) =>
    readStalledNames(db, ctx.q, {
      waitingMs: kMinuteMs,
      startedMs: 5 * kMinuteMs,
      maxWaitingPerPriority: 1_000,
      maxWaiting: 10_000,
      maxStarted: 20_000,
    }),
  )
}
