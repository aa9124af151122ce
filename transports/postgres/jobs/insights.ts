/**
 * Operators' overview of the jobs table, each read bounded whatever the table's size:
 *
 * - `tableSize`: the rows `jobs` holds as the planner sees them (`pg_class.reltuples` scaled to the
 *   table's pages now, as the planner scales it), free to read; `undefined` before the first ANALYZE.
 * - `countJobsUpTo`: an exact count that stops at a bound (to size a table never analyzed).
 * - `countByNameStatus`: counts per name × status, exact (a full aggregate), or from a sample of the
 *   table's pages (`TABLESAMPLE SYSTEM`), each scaled by 100 / percent.
 * - `oldestWaiting`: the job waiting longest to be claimed, by a loose index scan of `jobs_ready` (one
 *   descent per distinct priority) instead of reading every waiting job.
 * - `listeningWorkers`: the wake-up sessions (one per started worker, wake-session.ts) in
 *   `pg_stat_activity`; `runningOwners`: the lease owners of running jobs.
 * - `stalledNames`: names whose jobs wait for a while with no attempt of the name started lately.
 */
import type { JobStatus } from './status.js'
import type { Queryable } from './queryable.js'
import { wakeStatements } from './wake-session.js'

export async function tableSize(db: Queryable, q: string): Promise<number | undefined> {
  const { rows } = await db.query<{ rows: number | null }>(
    `SELECT CASE WHEN c.relpages > 0 AND c.reltuples >= 0
                 THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int)
            END::float8 AS rows
       FROM pg_class c WHERE c.oid = $1::regclass`,
    [`${q}.jobs`],
  )
  const estimate = rows[0]?.rows
  return estimate === null || estimate === undefined ? undefined : Math.round(estimate)
}

/** `count(*)` of `jobs`, but no more than `bound` + 1 rows are read. */
export async function countJobsUpTo(db: Queryable, q: string, bound: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT FROM ${q}.jobs LIMIT $1) s`, [
    bound + 1,
  ])
  return rows[0]?.n ?? 0
}

export interface NameStatusCount {
  name: string
  status: JobStatus
  count: number
}

/** The pages of `jobs` now (its size on disk over the block size). */
export async function tablePages(db: Queryable, q: string): Promise<number> {
  const { rows } = await db.query<{ pages: number }>(
    `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::float8 AS pages`,
    [`${q}.jobs`],
  )
  return rows[0]?.pages ?? 0
}

/**
 * Counts per name × status: every row when `samplePercent` is undefined, else the rows of that percent
 * of the pages, each count scaled by 100 / percent and rounded (a group the sample missed is absent).
 */
export async function countByNameStatus(
  db: Queryable,
  q: string,
  samplePercent: number | undefined,
): Promise<NameStatusCount[]> {
  const from = samplePercent === undefined ? `${q}.jobs` : `${q}.jobs TABLESAMPLE SYSTEM ($1)`
  const { rows } = await db.query<{ name: string; status: JobStatus; n: number }>(
    `SELECT name, status, count(*)::float8 AS n FROM ${from} GROUP BY name, status ORDER BY name, status`,
    samplePercent === undefined ? [] : [samplePercent],
  )
  const scale = samplePercent === undefined ? 1 : 100 / samplePercent
  return rows.map((r) => ({ name: r.name, status: r.status, count: Math.round(r.n * scale) }))
}

export interface WaitingJobRecord {
  id: string
  name: string
  /** When it became due (its `run_at`). */
  dueAt: Date
  ageMs: number
}

/** Distinct priorities visited at most: the loose scan's bound. */
const kMaxPriorities = 1_000

const waitingRows = (q: string) => `${q}.jobs WHERE status IN ('pending', 'retrying')`

/**
 * `prio`: the distinct priorities of the waiting jobs, highest first, one descent of `jobs_ready` each
 * (a loose index scan: the index is ordered by priority, so each is the first entry below the last).
 */
const priorities = (q: string) => `prio AS (
       SELECT (SELECT priority FROM ${waitingRows(q)} ORDER BY priority DESC LIMIT 1) AS p, 1 AS depth
       UNION ALL
       SELECT (SELECT priority FROM ${waitingRows(q)} AND priority < prio.p ORDER BY priority DESC LIMIT 1), prio.depth + 1
         FROM prio WHERE prio.p IS NOT NULL AND prio.depth < ${kMaxPriorities}
     )`

/** The job due the longest among those waiting to be claimed (pending, or retrying past its time). */
export async function oldestWaiting(db: Queryable, q: string): Promise<WaitingJobRecord | undefined> {
  const { rows } = await db.query<{ id: string; name: string; run_at: Date; age_ms: number }>(
    `WITH RECURSIVE ${priorities(q)}
     SELECT o.id::text, o.name, o.run_at, floor(extract(epoch FROM now() - o.run_at) * 1000)::float8 AS age_ms
       FROM prio CROSS JOIN LATERAL (
         SELECT id, name, run_at FROM ${waitingRows(q)} AND priority = prio.p AND run_at <= now()
          ORDER BY run_at, id LIMIT 1) o
      WHERE prio.p IS NOT NULL
      ORDER BY o.run_at, o.id LIMIT 1`,
  )
  const row = rows[0]
  return row === undefined ? undefined : { id: row.id, name: row.name, dueAt: row.run_at, ageMs: row.age_ms }
}

/**
 * Sessions of this database whose last statement is one of the wake session's of `schema`
 * (`wakeStatements`, wake-session.ts): one per started worker (a `JobQueue` after `start()`), while
 * connected. `pg_stat_activity` shows another role's
 * statements only to superusers and `pg_read_all_stats`; those of the queue's own role always.
 */
export async function listeningWorkers(db: Queryable, schema: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = ANY($1::text[])`,
    [wakeStatements(schema)],
  )
  return rows[0]?.n ?? 0
}

/** The distinct owners (at most `limit`) of the leases held now (running jobs, through `jobs_leases`). */
export async function runningOwners(db: Queryable, q: string, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ owner: string }>(
    `SELECT DISTINCT lease_owner AS owner FROM ${q}.jobs
      WHERE status = 'running' AND lease_expires_at > now() AND lease_owner IS NOT NULL
      ORDER BY 1 LIMIT $1`,
    [limit],
  )
  return rows.map((r) => r.owner)
}

export interface StalledNamesQuery {
  /** A job counts once it has been due this long. */
  waitingMs: number
  /** Attempts started this recently show a worker. */
  startedMs: number
  /** Bounds: the oldest waiting jobs read per priority and in all, and the recently ended attempts read. */
  maxWaitingPerPriority: number
  maxWaiting: number
  maxStarted: number
}

export interface StalledName {
  name: string
  /** Jobs of the name due for `waitingMs` or more, among the oldest waiting jobs read. */
  waiting: number
  oldestAgeMs: number
}

export interface StalledNames {
  names: StalledName[]
  /** False when more attempts ended in the window than were read: names are then not reported. */
  complete: boolean
}

/**
 * Names with jobs due for `waitingMs` and no attempt of the name started within `startedMs`: not
 * running now under a live lease, nor ended in the window with a start in it (`job_events`, whose
 * `started_at` carries the start, migration 8). The candidates are the names of the oldest waiting
 * jobs of each priority (where a stalled name's jobs pile up), read in `jobs_ready` order. Every read
 * is bounded; past `maxStarted` ended attempts the absence of a name proves nothing, so none is
 * reported. The job rows of the ended attempts are read by a subquery each (primary key): as a join,
 * the planner would hash the whole table.
 */
export async function stalledNames(db: Queryable, q: string, query: StalledNamesQuery): Promise<StalledNames> {
  const { rows } = await db.query<{ name: string | null; waiting: number; oldest_ms: number; ended: number }>(
    `WITH RECURSIVE ${priorities(q)}, waiting AS (
       SELECT w.name, count(*)::int AS waiting, min(w.run_at) AS oldest
         FROM (SELECT o.name, o.run_at FROM prio CROSS JOIN LATERAL (
                 SELECT name, run_at FROM ${waitingRows(q)}
                    AND priority = prio.p AND run_at <= now() - $1 * interval '1 millisecond'
                  ORDER BY run_at, id LIMIT $3) o
                WHERE prio.p IS NOT NULL LIMIT $4) w
        GROUP BY w.name
     ), ended AS (
       SELECT job_id FROM ${q}.job_events
        WHERE at >= now() - $2 * interval '1 millisecond' AND started_at >= now() - $2 * interval '1 millisecond'
        LIMIT $5
     ), started AS (
       SELECT (SELECT j.name FROM ${q}.jobs j WHERE j.id = e.job_id) AS name FROM ended e
       UNION
       SELECT name FROM ${q}.jobs WHERE status = 'running' AND lease_expires_at > now()
     ), known AS (SELECT name FROM started WHERE name IS NOT NULL)
     SELECT w.name, w.waiting, floor(extract(epoch FROM now() - w.oldest) * 1000)::float8 AS oldest_ms,
            (SELECT count(*)::int FROM ended) AS ended
       FROM (SELECT NULL) one LEFT JOIN waiting w ON w.name NOT IN (SELECT name FROM known)
      ORDER BY w.oldest NULLS LAST`,
    [query.waitingMs, query.startedMs, query.maxWaitingPerPriority, query.maxWaiting, query.maxStarted],
  )
  const complete = (rows[0]?.ended ?? 0) < query.maxStarted
  if (!complete) return { names: [], complete }
  const names = rows.flatMap((r) =>
    r.name === null ? [] : [{ name: r.name, waiting: r.waiting, oldestAgeMs: r.oldest_ms }],
  )
  return { names, complete }
}
