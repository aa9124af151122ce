/**
 * The job queue's hot path in SQL: claim a batch, complete and fail batches, renew and reap leases.
 *
 * Every statement takes the schema as a quoted identifier (`q`, from `quoteSchema`) and is a guarded
 * UPDATE whose WHERE clause is the transition's legality: a claim takes only ready rows it could lock
 * (FOR UPDATE SKIP LOCKED, so racing dispatchers get disjoint batches); complete, fail and renew match
 * `(id, lease_token)`, so a stale worker's late report changes nothing (fencing): each claimed row takes
 * a new token from a sequence (migration 7), so no earlier holder's token matches a later lease.
 * A token is set exactly while the job runs (a constraint since migration 6), so they need not name
 * the status, and must not:
 * `status = 'running'` let the planner read every running job of every worker through `jobs_leases` to
 * find the few acked (a cost that grew with the cluster's running jobs); `id = ANY($1)` leads it to the
 * primary key, one lookup per acked job.
 * A claim locks its rows in a sub-select over `jobs_ready` and updates them by `id = ANY(ARRAY(…))`:
 * one primary-key lookup per row at any table size (written `id IN (…)`, the planner hash-joined a
 * sequential scan of the whole table on small or freshly truncated tables, a cost that grew with
 * every dead row version during a bulk run).
 * Each transition bumps `event_seq` and appends its `job_events` row in the same statement — but for
 * the claim (migration 8): it stamps `started_at` on the job (the owner is `lease_owner`), and the row
 * that ends the attempt carries both, from which `job_history` shows the 'started' entry at the seq the
 * claim took. So the claim writes the job's new version only, and an attempt leaves one event row.
 * `lease_owner` and `started_at` stay after the attempt: the owner and start of the last lease.
 */
import { bigintArray, idList, type Queryable, regclassLiteral, textPerSchema } from './queryable.js'

export interface ClaimedJob {
  id: string
  name: string
  /**
   * The args as the server's JSON text, parsed where the handler runs (`parseArgs`); null for a job
   * whose args are bytes. Parsed on the jobs thread, they crossed the ring as an object: packed there
   * and unpacked on the caller's thread, which cost more than the text's copy and one `JSON.parse`.
   */
  argsJson: string | null
  argsBytes: Buffer | null
  attempt: number
  maxAttempts: number
  priority: number
  leaseToken: string
  /**
   * The trace context its enqueue stored: the W3C `traceparent`'s 25 bytes (`trace_parent`, migration
   * 13) as 50 hex digits, or the carrier's JSON text (`trace_context`, migration 11: other carriers, and
   * rows written before 13); null when none was.
   */
  traceContext: string | null
  /** Milliseconds from the job's due time (`run_at`) to this claim; only from a claim `withWait`. */
  waitMs?: number
}

export interface ClaimOptions {
  owner: string
  names: readonly string[]
  limit: number
  leaseTtlMs: number
  /** Return each job's `waitMs` too (for metrics). @default false */
  withWait?: boolean | undefined
}

/**
 * One `FOR UPDATE SKIP LOCKED` pick over the ready rows ($1 owner, $2 lease ms, $3 names, $4 limit),
 * leased and stamped `started_at` in the same UPDATE (the attempt's 'started' entry, see the top of the
 * module). A row per job, not the batch as one JSON text: that would move work from the jobs thread to
 * the server, the one resource every worker shares, and put a whole batch of large args in one string.
 * The variant `withWait` also returns how long each job waited since it was due.
 */
function claimText(q: string, withWait: boolean): string {
  return `WITH claimed AS (
       UPDATE ${q}.jobs j
          SET status = 'running', attempt = j.attempt + 1, lease_owner = $1, lease_token = nextval(${regclassLiteral(q, 'jobs_lease_token_seq')}),
              lease_expires_at = now() + $2 * interval '1 millisecond', event_seq = j.event_seq + 1, started_at = now(), updated_at = now()
        WHERE j.id = ANY(ARRAY(
          SELECT id FROM ${q}.jobs
           WHERE status IN ('pending', 'retrying') AND run_at <= now() AND name = ANY($3::text[])
             AND NOT (SELECT paused FROM ${q}.dispatch_state WHERE id = 1)
           ORDER BY priority DESC, run_at, id
           LIMIT $4
           FOR UPDATE SKIP LOCKED))
       RETURNING j.id, j.name, j.args, j.args_bytes, j.attempt, j.max_attempts, j.priority, j.lease_token, j.trace_parent, j.trace_context${withWait ? ', j.run_at' : ''}
     )
     SELECT id::text, name, args::text AS args_json, args_bytes, attempt, max_attempts, priority, lease_token::text, coalesce(encode(trace_parent, 'hex'), trace_context::text) AS trace_context${withWait ? ', (extract(epoch FROM now() - run_at) * 1000)::float8 AS wait_ms' : ''} FROM claimed
     ORDER BY claimed.priority DESC, claimed.id`
}
const claimSql = textPerSchema((q) => claimText(q, false))
const claimWithWaitSql = textPerSchema((q) => claimText(q, true))

/** A claimed job's args: its bytes, or its JSON parsed. */
export function parseArgs(job: Pick<ClaimedJob, 'argsJson' | 'argsBytes'>): unknown {
  if (job.argsBytes !== null) return job.argsBytes
  return job.argsJson === null ? null : (JSON.parse(job.argsJson) as unknown)
}

/** Claims up to `limit` ready jobs of `names` (none while dispatch is paused), in priority order. */
export async function claimJobs(
  db: Queryable,
  q: string,
  { owner, names, limit, leaseTtlMs, withWait = false }: ClaimOptions,
): Promise<ClaimedJob[]> {
  if (limit <= 0 || names.length === 0) return []
  const text = withWait ? claimWithWaitSql(q) : claimSql(q)
  const { rows } = await db.query<ClaimRow>(text, [owner, leaseTtlMs, names, limit])
  return withWait ? rows.map(claimedJobWithWait) : rows.map(claimedJob)
}

function claimedJobWithWait(r: ClaimRow): ClaimedJob {
  const job = claimedJob(r)
  if (r.wait_ms !== undefined) job.waitMs = Math.max(0, r.wait_ms)
  return job
}

function claimedJob(r: ClaimRow): ClaimedJob {
  return {
    id: r.id,
    name: r.name,
    argsJson: r.args_json,
    argsBytes: r.args_bytes,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    priority: r.priority,
    leaseToken: r.lease_token,
    traceContext: r.trace_context,
  }
}

interface ClaimRow {
  id: string
  name: string
  args_json: string | null
  args_bytes: Buffer | null
  attempt: number
  max_attempts: number
  priority: number
  lease_token: string
  trace_context: string | null
  wait_ms?: number
}

/**
 * The guard of the lease-fenced statements: job `j` is one of the ids $1 and its lease token one of the
 * tokens $2 — so it runs (see the top of the module). A token is never given to two leases (a
 * sequence), so it names one lease of one job: the pairs need no join. Failures join `r`, the unnested
 * pairs with their errors, by the same token.
 */
const kLeaseHeld = 'j.id = ANY($1::bigint[]) AND j.lease_token = ANY($2::bigint[])'

export interface LeaseRef {
  id: string
  /** The fencing token of the lease: a bigint (from `jobs_lease_token_seq`, migration 7) as text. */
  leaseToken: string
}

/** The `$1` ids and `$2` tokens of the lease-guarded statements. */
function leaseArrays(jobs: readonly LeaseRef[]): [ids: string | readonly string[], tokens: string | readonly string[]] {
  return [bigintArray(jobs.map((j) => j.id)), bigintArray(jobs.map((j) => j.leaseToken))]
}

const completeSql = textPerSchema(
  (q) => `WITH done AS (
       UPDATE ${q}.jobs j
          SET status = 'completed', lease_token = NULL, lease_expires_at = NULL, event_seq = j.event_seq + 1, updated_at = now()
        WHERE ${kLeaseHeld}
       RETURNING j.id, j.event_seq, j.attempt, j.started_at, j.lease_owner
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, started_at, owner)
       SELECT id, event_seq, attempt, 'completed', started_at, lease_owner FROM done
     )
     SELECT string_agg(id::text, ',') AS ids FROM done`,
)

/** Completes the jobs whose lease is still theirs; returns the ids that were completed (in no order). */
export async function completeJobs(db: Queryable, q: string, jobs: readonly LeaseRef[]): Promise<string[]> {
  if (jobs.length === 0) return []
  const { rows } = await db.query<{ ids: string | null }>(completeSql(q), leaseArrays(jobs))
  return idList(rows[0]?.ids)
}

export interface FailedJob extends LeaseRef {
  /** The error as a JSON record (`toWire`). */
  error: unknown
  /** When to try again; undefined to dead-letter (no attempts left). */
  retryAt: Date | undefined
}

export interface FailOutcome {
  id: string
  status: 'retrying' | 'dead'
  attempt: number
}

/** Fails the jobs whose lease is still theirs: retrying at `retryAt`, or dead with the last error. */
export function failJobs(db: Queryable, q: string, jobs: readonly FailedJob[]): Promise<FailOutcome[]> {
  return failWhere(db, failSql(q), jobs)
}

/** The failure statement; `guard` narrows the jobs it may fail further. */
const failText = (q: string, guard: string): string => `WITH failed AS (
       UPDATE ${q}.jobs j
          SET status = CASE WHEN r.retry_at IS NULL THEN 'dead' ELSE 'retrying' END,
              run_at = coalesce(r.retry_at, j.run_at), last_error = r.error, lease_token = NULL, lease_expires_at = NULL,
              event_seq = j.event_seq + 2, updated_at = now()
         FROM unnest($1::bigint[], $2::bigint[], $3::jsonb[], $4::timestamptz[]) AS r(id, token, error, retry_at)
        WHERE ${kLeaseHeld} AND j.lease_token = r.token ${guard}
       RETURNING j.id, j.event_seq, j.attempt, j.status, j.started_at, j.lease_owner, r.error, r.retry_at
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data, started_at, owner)
       SELECT id, event_seq - 1, attempt, 'failed', jsonb_build_object('error', error), started_at, lease_owner FROM failed
       UNION ALL
       SELECT id, event_seq, attempt, status, CASE WHEN retry_at IS NULL THEN NULL ELSE jsonb_build_object('retryAt', retry_at) END, NULL, NULL
         FROM failed
     )
     SELECT id::text, status, attempt FROM failed`

const failSql = textPerSchema((q) => failText(q, ''))
/** Guarded again on expiry: a renewal that landed since the reaper's SELECT keeps the job with its worker. */
const reapSql = textPerSchema((q) => failText(q, 'AND j.lease_expires_at < now()'))

async function failWhere(db: Queryable, text: string, jobs: readonly FailedJob[]): Promise<FailOutcome[]> {
  if (jobs.length === 0) return []
  const { rows } = await db.query<FailOutcome>(text, [
    ...leaseArrays(jobs),
    jobs.map((j) => JSON.stringify(j.error ?? null)),
    jobs.map((j) => j.retryAt ?? null),
  ])
  return rows
}

const renewSql = textPerSchema(
  (q) => `UPDATE ${q}.jobs j SET lease_expires_at = now() + $3 * interval '1 millisecond'
      WHERE ${kLeaseHeld}
     RETURNING j.id::text`,
)

/** Extends the leases still held; returns the ids whose lease is no longer this holder's. */
export async function renewLeases(
  db: Queryable,
  q: string,
  jobs: readonly LeaseRef[],
  leaseTtlMs: number,
): Promise<string[]> {
  if (jobs.length === 0) return []
  const { rows } = await db.query<{ id: string }>(renewSql(q), [...leaseArrays(jobs), leaseTtlMs])
  const held = new Set(rows.map((r) => r.id))
  return jobs.filter((j) => !held.has(j.id)).map((j) => j.id)
}

/**
 * Reaps lapsed leases (at most `limit`): each job goes to retrying at `retryAt(attempt)` or, with no
 * attempts left, to dead, with a "lease expired" error. Rows another reaper holds are skipped.
 */
export async function reapExpiredLeases(
  db: Queryable,
  q: string,
  limit: number,
  retryAt: (attempt: number) => Date,
): Promise<FailOutcome[]> {
  const { rows } = await db.query<{ id: string; attempt: number; max_attempts: number; lease_token: string }>(
    `SELECT id::text, attempt, max_attempts, lease_token::text FROM ${q}.jobs
      WHERE status = 'running' AND lease_expires_at < now()
      ORDER BY lease_expires_at LIMIT $1`,
    [limit],
  )
  const error = {
    name: 'LeaseLostError',
    code: 'PULSE_ERR_JOB_LEASE_LOST',
    message: 'lease expired: the worker stopped renewing it',
  }
  return failWhere(
    db,
    reapSql(q),
    rows.map((r) => ({
      id: r.id,
      leaseToken: r.lease_token,
      error,
      retryAt: r.attempt >= r.max_attempts ? undefined : retryAt(r.attempt),
    })),
  )
}
