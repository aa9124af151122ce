/** The shapes the job queue's storage-facing API takes and returns (spec/jobs.md). */
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

/** Jobs by status and name, for a count or a bulk action. */
export interface JobFilter {
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

export interface ListJobsOptions {
  /** Only jobs in this status (or these). */
  status?: JobStatus | readonly JobStatus[] | undefined
  name?: string | undefined
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

export interface AuditLogOptions {
  /**
   * Most entries returned (1…1000).
   * @default 100
   */
  limit?: number | undefined
  /** Only entries older than this entry id (paging). */
  before?: string | undefined
}

export type AuditLogEntry = AuditRecord
