/** The shapes the job queue's storage-facing API takes and returns (its shapes are fixed: changing one is a breaking change). */
import type pg from 'pg'

import type { AuditRecord } from '../../transports/postgres/jobs/audit.js'
import type { DispatchState } from '../../transports/postgres/jobs/pause.js'
import type { JobEventRecord, JobRecord } from '../../transports/postgres/jobs/reads.js'
import type { ScheduleRecord } from '../../transports/postgres/jobs/schedules.js'
import type { JobStatus } from '../../transports/postgres/jobs/status.js'
import type { ScheduleSpec } from './schedule-spec.js'

export type { JobStatus } from '../../transports/postgres/jobs/status.js'

/** A statement target inside the caller's transaction: a `pg.PoolClient` or a `pg.Client`. */
export type TransactionClient = Pick<pg.ClientBase, 'query'>

export interface JobOptions {
  /**
   * Higher runs first; equal priorities run in order of `runAt`, then of enqueue.
   * @default 0
   */
  priority?: number | undefined
  /**
   * Not claimed before this time.
   * @default now
   */
  runAt?: Date | undefined
  /** Not claimed before this many ms from now (instead of `runAt`). */
  delayMs?: number | undefined
  /**
   * Attempts before the job is dead-lettered.
   * @default 5
   */
  maxAttempts?: number | undefined
  /** A second enqueue with the same key returns the first job's id and adds nothing. */
  idempotencyKey?: string | undefined
}

export interface EnqueueOptions extends JobOptions {
  /** Enqueue inside the caller's transaction on this client: the job exists if and when it commits. */
  client?: TransactionClient | undefined
}

export interface EnqueueManyItem extends JobOptions {
  name: string
  args: unknown
}

export interface EnqueueManyOptions {
  /** As `EnqueueOptions.client`. */
  client?: TransactionClient | undefined
}

/** Who does an operator action, and why; recorded in the audit log. */
export interface OperatorOptions {
  /** @default the queue's `actor` option */
  actor?: string | undefined
  reason?: string | undefined
}

/** How long an operator's read may take (`listJobs`, `countJobs`, `getJob`, `auditLog`, …). */
export interface ReadOptions {
  /**
   * The database cancels the read past this many ms (1…600,000), and it rejects with `TimeoutError`
   * (`PULSE_ERR_TIMEOUT`): for searches that could scan a large table. Without it, no bound but the pool's.
   */
  timeoutMs?: number | undefined
}

/** Filters of jobs beyond status and name, for a list, a count or a bulk action. */
export interface JobMatch {
  /**
   * Only jobs whose JSON args contain this JSON object or array (PostgreSQL `@>`: `{ to: 'a@b.com' }`
   * matches args holding that key with that value, among others). Jobs enqueued with bytes never match.
   */
  argsContain?: Readonly<Record<string, unknown>> | readonly unknown[] | undefined
  /** Only jobs created at or after this time. */
  createdAfter?: Date | undefined
  /** Only jobs created before this time. */
  createdBefore?: Date | undefined
}

/** Jobs by status, name, args and creation time, for a count or a bulk action. */
export interface JobFilter extends JobMatch {
  /** Only jobs in this status (or these); a bulk action's default is every status it applies to. */
  status?: JobStatus | readonly JobStatus[] | undefined
  name?: string | undefined
}

/** Which jobs `cancelJobs` / `requeueJobs` take, how many at most per call, and who asks. */
export interface BulkActionOptions extends OperatorOptions, JobFilter {
  /** Most jobs one call transitions (1…10,000), the oldest ids first. @default 1_000 */
  limit?: number | undefined
}

/** A schedule's id, and whether `defineSchedule` created it (`false`: it replaced one of that name). */
export interface ScheduleDefinition {
  id: string
  created: boolean
}

/** Which finished jobs `pruneJobs` deletes, and who asks. */
export interface PruneJobsOptions extends OperatorOptions {
  /** Jobs finished (completed, dead or canceled) at least this long ago. */
  olderThanMs: number
  /** @default ['completed', 'dead', 'canceled'] */
  statuses?: readonly ('completed' | 'dead' | 'canceled')[] | undefined
  /** Most jobs deleted by this call (the oldest ids first). @default 10_000 */
  limit?: number | undefined
}

/** One transition in a job's history. */
export type JobHistoryEntry = JobEventRecord

/** A job as listed (`listJobs`). */
export type JobSummary = JobRecord

/** A job with its history (`getJob`). */
export interface JobInfo extends JobRecord {
  /** Every transition, in order (`seq` 1, 2, 3…). */
  history: JobHistoryEntry[]
}

export interface ListJobsOptions extends JobMatch, ReadOptions {
  /** Only jobs in this status (or these). */
  status?: JobStatus | readonly JobStatus[] | undefined
  name?: string | undefined
  /** Only the job of this id (a page of one job, or none). */
  id?: string | undefined
  /**
   * Most jobs on the page (1…1000).
   * @default 100
   */
  limit?: number | undefined
  /** The previous page's `cursor`. */
  cursor?: string | undefined
}

export interface JobList {
  /** Newest first. */
  jobs: JobSummary[]
  /** Pass it as `cursor` for the next page; `undefined` on the last page. */
  cursor: string | undefined
}

export type JobStatusCounts = Record<JobStatus, number>

export interface JobStats {
  /** Counts per job name and status (every status present, 0 when none). */
  byName: Record<string, JobStatusCounts>
  /**
   * How long the oldest job waiting to be claimed (pending, or retrying past its retry time) has been
   * due, in ms; `undefined` when none waits.
   */
  oldestPendingAgeMs: number | undefined
}

export type DispatchStatus = DispatchState

export interface ScheduleOptions {
  /**
   * The schedule's unique name. Scheduling again under a name that exists updates that schedule (its
   * job, payload and spec; the next occurrence is kept when the spec is the same).
   * @default the job name
   */
  name?: string | undefined
  /** @default the queue's `actor` option */
  actor?: string | undefined
}

export interface ScheduleInfo extends Omit<ScheduleRecord, 'spec'> {
  spec: ScheduleSpec
}

export interface AuditLogOptions extends ReadOptions {
  /**
   * Most entries returned (1…1000).
   * @default 100
   */
  limit?: number | undefined
  /** Only entries older than this entry id (paging). */
  before?: string | undefined
  /** Only entries of this action (or these): 'dispatch.pause', 'job.cancel', … */
  action?: string | readonly string[] | undefined
}

export type AuditLogEntry = AuditRecord

// ---- insights: bounded reads for overviews (insights.ts) ----

/** The bound of an insight read's statements. */
export interface InsightOptions {
  /**
   * The database cancels each statement past this many ms (1…600,000), and the read rejects with
   * `TimeoutError` (`PULSE_ERR_TIMEOUT`); `insights()` reports the part as unavailable instead.
   * @default 1_000
   */
  timeoutMs?: number | undefined
}

export interface EstimatedStatsOptions extends InsightOptions {
  /**
   * Counted exactly while the table holds at most this many rows (the planner's estimate, or a bounded
   * count before the first ANALYZE); past it, estimated from a sample of the table's pages.
   * @default 100_000
   */
  exactUpTo?: number | undefined
}

export interface EstimatedJobStats {
  /** Counts per job name and status (every status present, 0 when none); scaled from a sample when `estimated`. */
  byName: Record<string, JobStatusCounts>
  /**
   * The counts come from a sample (`TABLESAMPLE SYSTEM`) of the table's pages, each scaled by 100 /
   * `samplePercent`: a name and status rare in the table may be off, or missing.
   */
  estimated: boolean
  /** The percent of the table's pages read; `undefined` for exact counts. */
  samplePercent: number | undefined
  /** The sum of the counts. */
  total: number
}

export interface ThroughputOptions extends InsightOptions {
  /** The window, in ms, in whole minutes rounded up (1 minute … 24 hours). @default 3_600_000 */
  sinceMs?: number | undefined
}

export interface JobThroughputMinute {
  /** The minute's start. */
  at: Date
  /** Attempts that completed in the minute. */
  completed: number
  /** Attempts that failed (retried or dead-lettered after). */
  failed: number
  /** Jobs dead-lettered (no attempts left). */
  dead: number
}

export interface JobThroughput {
  /** One entry per minute of the window, oldest first; the last is the current, partial minute. */
  minutes: JobThroughputMinute[]
}

export interface LatencyOptions extends InsightOptions {
  /** The window, in ms (1 minute … 24 hours). @default 3_600_000 */
  sinceMs?: number | undefined
  /** Most completed attempts measured, the newest first (1…100,000). @default 10_000 */
  sample?: number | undefined
}

export interface LatencyPercentiles {
  p50: number
  p90: number
  p99: number
}

export interface JobLatency {
  /** Completed attempts measured: the newest of the window, at most `sample`. */
  attempts: number
  /** From due (enqueued, its `runAt`, or its retry's time) to the attempt's start, ms; `undefined` without attempts. */
  waitMs: LatencyPercentiles | undefined
  /** From the attempt's start to its completion, ms. */
  runMs: LatencyPercentiles | undefined
}

export interface JobWorkers {
  /**
   * Workers connected to this queue's schema now: each started `JobQueue` (or `JobWorker`) holds one
   * wake-up connection (`LISTEN`), seen in `pg_stat_activity` — by the queue's database role for its
   * own sessions, by a superuser or `pg_read_all_stats` for every role's. A worker whose LISTEN is off
   * (`transactionPooler` without `listenUrl`) is not counted.
   */
  connected: number
  /** The distinct owners of the leases held now (running jobs), at most 100. */
  runningOwners: string[]
}

/** The job waiting longest to be claimed. */
export interface WaitingJob {
  id: string
  name: string
  /** When it became due (its `runAt`, or its retry's time). */
  dueAt: Date
  ageMs: number
}

export interface DeadLetterTrend {
  /** Jobs dead-lettered in the last `windowMs`. */
  recent: number
  /** Jobs dead-lettered in the `windowMs` before that. */
  previous: number
  windowMs: number
}

/** What an operator should look at now. */
export type JobWarning =
  | { kind: 'dispatch-paused'; reason: string | undefined; since: Date | undefined }
  /** More jobs dead-lettered in the last window than in the one before, and some. */
  | { kind: 'dead-letter-growing'; recent: number; previous: number; windowMs: number }
  /**
   * Jobs of `name` wait for a minute or more and no attempt of the name started in 5 minutes. `waiting`
   * counts them among the oldest waiting jobs read (1,000 per priority, 10,000 in all).
   */
  | { kind: 'no-worker'; name: string; waiting: number; oldestAgeMs: number }

export type InsightPart =
  'counts' | 'oldestWaiting' | 'dispatch' | 'throughput' | 'latency' | 'workers' | 'deadLetters' | 'stalled'

export type InsightsOptions = EstimatedStatsOptions

/** An overview of the queue, each part bounded in time (`InsightOptions.timeoutMs`). */
export interface JobInsights {
  /** When it was read. */
  at: Date
  counts: EstimatedJobStats | undefined
  /** `undefined` when no job waits (or the part is unavailable). */
  oldestWaiting: WaitingJob | undefined
  dispatch: DispatchStatus | undefined
  /** The last hour. */
  throughput: JobThroughput | undefined
  /** The newest 10,000 completed attempts of the last hour. */
  latency: JobLatency | undefined
  workers: JobWorkers | undefined
  /** Dead-letters of the last 15 minutes, and of the 15 before. */
  deadLetters: DeadLetterTrend | undefined
  warnings: JobWarning[]
  /** The parts that did not finish within `timeoutMs`: their fields are `undefined`, their warnings absent. */
  unavailable: InsightPart[]
}
