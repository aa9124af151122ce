/**
 * Reading jobs: one job with its history, pages of jobs, and counts.
 *
 * - `getJob` reads the row and its history (`job_history`: the 'enqueued' entry made from the row, then
 *   the `job_events` of its transitions, ordered by `seq`) in one statement, so the history matches the
 *   row's state.
 * - `listJobs` pages by keyset on `id`, newest first: a page is `id < cursor`, so inserts and
 *   transitions never shift the pages (no OFFSET). With a name, args containment or a creation time
 *   range, it walks the primary key newest first and filters (no name, args or time index: migration 4
 *   keeps the hot path lean); dead and canceled jobs come from their partial index (migration 9), the
 *   waiting and running ones from the claim and lease indexes. Callers bound it in time (bounded.ts).
 * - `jobStats` counts per name × status (a full aggregate: an operator's read, not a hot one) and the
 *   age of the oldest job waiting to be claimed.
 */
import type { Queryable } from './queryable.js'
import type { JobStatus } from './status.js'

/** A job as stored. Absent values are `undefined`. */
export interface JobRecord {
  id: string
  name: string
  /** The JSON args, or a `Buffer` when the job was enqueued with bytes. */
  args: unknown
  status: JobStatus
  priority: number
  /** Attempts started so far (0 until the first claim; back to 0 after a requeue). */
  attempt: number
  maxAttempts: number
  /** When the job is (or was) due: its first run, or its next retry. */
  runAt: Date
  /** The last failure as an error record (`toWire`), if any. */
  lastError: unknown
  /** The last progress a handler reported, if any. */
  progress: unknown
  /** The schedule that spawned the job (lineage; kept after the schedule is deleted). */
  scheduleId: string | undefined
  /** The schedule's occurrence the job stands for. */
  occurrence: Date | undefined
  idempotencyKey: string | undefined
  createdAt: Date
  updatedAt: Date
}

/** One entry of a job's history: its creation, or a transition as `job_events` holds it. */
export interface JobEventRecord {
  /** 1, 2, 3…: unique and gap-free per job. */
  seq: number
  /** 'enqueued', 'started', 'completed', 'failed', 'retrying', 'dead', 'canceled', 'requeued', … */
  type: string
  /** The job's attempt at the time. */
  attempt: number
  at: Date
  data: unknown
}

export interface JobWithHistory extends JobRecord {
  history: JobEventRecord[]
}

const kColumns = `j.id::text, j.name, j.args, j.args_bytes, j.status, j.priority, j.attempt, j.max_attempts, j.run_at,
  j.last_error, j.progress, j.schedule_id::text, j.occurrence, j.idempotency_key, j.created_at, j.updated_at`

interface JobRow {
  id: string
  name: string
  args: unknown
  args_bytes: Buffer | null
  status: JobStatus
  priority: number
  attempt: number
  max_attempts: number
  run_at: Date
  last_error: unknown
  progress: unknown
  schedule_id: string | null
  occurrence: Date | null
  idempotency_key: string | null
  created_at: Date
  updated_at: Date
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    name: row.name,
    args: row.args_bytes ?? row.args,
    status: row.status,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runAt: row.run_at,
    lastError: row.last_error ?? undefined,
    progress: row.progress ?? undefined,
    scheduleId: row.schedule_id ?? undefined,
    occurrence: row.occurrence ?? undefined,
    idempotencyKey: row.idempotency_key ?? undefined,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

interface EventJson {
  seq: number
  type: string
  attempt: number
  at: number
  data: unknown
}

/** The job with its history, or `undefined` when no job has this id. */
export async function getJob(db: Queryable, q: string, id: string): Promise<JobWithHistory | undefined> {
  const { rows } = await db.query<JobRow & { history: EventJson[] }>(
    `SELECT ${kColumns},
            coalesce((SELECT jsonb_agg(jsonb_build_object('seq', e.seq, 'type', e.type, 'attempt', e.attempt,
                                                          'at', floor(extract(epoch FROM e.at) * 1000), 'data', e.data)
                                       ORDER BY e.seq)
                        FROM ${q}.job_history e WHERE e.job_id = j.id), '[]'::jsonb) AS history
       FROM ${q}.jobs j WHERE j.id = $1`,
    [id],
  )
  const row = rows[0]
  if (row === undefined) return undefined
  const history = row.history.map((e) => ({
    seq: e.seq,
    type: e.type,
    attempt: e.attempt,
    at: new Date(e.at),
    data: e.data ?? undefined,
  }))
  return { ...toRecord(row), history }
}

export interface ListJobsQuery {
  /** Only jobs in one of these statuses. */
  statuses?: readonly JobStatus[] | undefined
  name?: string | undefined
  /** Only the job of this id. */
  id?: string | undefined
  /** Only jobs whose JSON args contain this JSON text (`@>`). */
  argsContain?: string | undefined
  /** Only jobs created at or after this time. */
  createdAfter?: Date | undefined
  /** Only jobs created before this time. */
  createdBefore?: Date | undefined
  /** Most jobs on the page. */
  limit: number
  /** Only jobs older than this id (the previous page's cursor). */
  before?: string | undefined
}

export interface JobPage {
  /** Newest first. */
  jobs: JobRecord[]
  /** The `before` of the next page; `undefined` on the last page. */
  next: string | undefined
}

export async function listJobs(db: Queryable, q: string, query: ListJobsQuery): Promise<JobPage> {
  const { rows } = await db.query<JobRow>(
    `SELECT ${kColumns} FROM ${q}.jobs j
      WHERE ($1::text[] IS NULL OR j.status = ANY($1::text[]))
        AND ($2::text IS NULL OR j.name = $2)
        AND ($3::bigint IS NULL OR j.id < $3)
        AND ($5::bigint IS NULL OR j.id = $5)
        AND ($6::jsonb IS NULL OR j.args @> $6::jsonb)
        AND ($7::timestamptz IS NULL OR j.created_at >= $7)
        AND ($8::timestamptz IS NULL OR j.created_at < $8)
      ORDER BY j.id DESC
      LIMIT $4`,
    [
      query.statuses ?? null,
      query.name ?? null,
      query.before ?? null,
      query.limit + 1,
      query.id ?? null,
      query.argsContain ?? null,
      query.createdAfter ?? null,
      query.createdBefore ?? null,
    ],
  )
  const page = rows.slice(0, query.limit).map(toRecord)
  return { jobs: page, next: rows.length > query.limit ? page.at(-1)?.id : undefined }
}

export interface JobCounts {
  name: string
  status: JobStatus
  count: number
}

export interface JobStatsRecord {
  counts: JobCounts[]
  /**
   * How long the oldest job waiting to be claimed (pending, or retrying past its retry time) has been
   * due, in ms; `undefined` when none waits.
   */
  oldestPendingAgeMs: number | undefined
}

export async function jobStats(db: Queryable, q: string): Promise<JobStatsRecord> {
  const { rows } = await db.query<{ counts: [string, JobStatus, number][]; oldest: number | null }>(
    `SELECT coalesce((SELECT jsonb_agg(jsonb_build_array(name, status, n) ORDER BY name, status)
                        FROM (SELECT name, status, count(*) AS n FROM ${q}.jobs GROUP BY name, status) s), '[]'::jsonb) AS counts,
            (SELECT floor(extract(epoch FROM now() - min(run_at)) * 1000)::float8
               FROM ${q}.jobs WHERE status IN ('pending', 'retrying') AND run_at <= now()) AS oldest`,
  )
  const row = rows[0]
  return {
    counts: (row?.counts ?? []).map(([name, status, count]) => ({ name, status, count })),
    oldestPendingAgeMs: row?.oldest ?? undefined,
  }
}
