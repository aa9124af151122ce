/**
 * Operator transitions of every job a filter matches: cancel and requeue in bulk, and the count that
 * tells a caller how many there are before it starts.
 *
 * A call transitions at most `limit` jobs, the oldest ids first, in one statement with the same
 * effects per job as `admin.ts` (the guarded UPDATE, `event_seq` bumped, one `job_events` row each).
 * Rows another transaction holds are skipped (SKIP LOCKED), so a bulk action never waits behind a
 * worker's claim; a caller repeats the call until it transitions none. A job that leaves the filter's
 * statuses meanwhile is not touched: the WHERE clause is the transition's legality, as in `admin.ts`.
 */
import type { OperatorNote } from './admin.js'
import type { Queryable } from './queryable.js'
import type { JobStatus } from './status.js'

/**
 * Which jobs a bulk action takes: those in one of `statuses`, and, when given, named `name`, whose JSON
 * args contain `argsContain` (JSON text, `@>`), created in `[createdAfter, createdBefore)`.
 */
export interface JobFilterQuery {
  statuses: readonly JobStatus[]
  name?: string | undefined
  argsContain?: string | undefined
  createdAfter?: Date | undefined
  createdBefore?: Date | undefined
}

/** The filter's condition: statuses `$1`, name `$2`, then args, created after and before from `$from` on. */
function match(from: number): string {
  const [args, after, before] = [from, from + 1, from + 2]
  return `status = ANY($1::text[]) AND ($2::text IS NULL OR name = $2)
      AND ($${args}::jsonb IS NULL OR args @> $${args}::jsonb)
      AND ($${after}::timestamptz IS NULL OR created_at >= $${after})
      AND ($${before}::timestamptz IS NULL OR created_at < $${before})`
}

/** The values of `match`'s parameters from `$from` on. */
function matchValues(filter: JobFilterQuery): unknown[] {
  return [filter.argsContain ?? null, filter.createdAfter ?? null, filter.createdBefore ?? null]
}

/** How many jobs `filter` matches now. */
export async function countJobs(db: Queryable, q: string, filter: JobFilterQuery): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${q}.jobs WHERE ${match(3)}`, [
    filter.statuses,
    filter.name ?? null,
    ...matchValues(filter),
  ])
  return Number(rows[0]?.n ?? 0)
}

/** Cancels up to `limit` matching jobs (`filter.statuses` must be cancelable ones); resolves to how many. */
export async function cancelMatching(
  db: Queryable,
  q: string,
  filter: JobFilterQuery,
  limit: number,
  note: OperatorNote,
): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `WITH target AS (
       SELECT id, status = 'running' AS ran FROM ${q}.jobs WHERE ${match(6)}
        ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
     ), canceled AS (
       UPDATE ${q}.jobs j
          SET status = 'canceled', lease_token = NULL, lease_expires_at = NULL, event_seq = j.event_seq + 1,
              updated_at = now()
         FROM target t
        WHERE j.id = t.id AND j.status = ANY($1::text[])
       RETURNING j.id, j.event_seq, j.attempt, t.ran, j.started_at, j.lease_owner
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data, started_at, owner)
       SELECT id, event_seq, attempt, 'canceled',
              jsonb_strip_nulls(jsonb_build_object('actor', $4::text, 'reason', $5::text)),
              CASE WHEN ran THEN started_at END, CASE WHEN ran THEN lease_owner END
         FROM canceled
     )
     SELECT count(*)::text AS n FROM canceled`,
    [filter.statuses, filter.name ?? null, limit, note.actor, note.reason ?? null, ...matchValues(filter)],
  )
  return Number(rows[0]?.n ?? 0)
}

/** Requeues up to `limit` matching dead jobs with a fresh attempt budget; resolves to how many. */
export async function requeueMatching(
  db: Queryable,
  q: string,
  filter: JobFilterQuery,
  limit: number,
  note: OperatorNote,
): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    `WITH target AS (
       SELECT id, attempt FROM ${q}.jobs WHERE ${match(6)}
        ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
     ), requeued AS (
       UPDATE ${q}.jobs j
          SET status = 'pending', attempt = 0, run_at = now(), lease_owner = NULL, lease_token = NULL,
              lease_expires_at = NULL, event_seq = j.event_seq + 1, updated_at = now()
         FROM target t
        WHERE j.id = t.id AND j.status = ANY($1::text[])
       RETURNING j.id, j.event_seq, t.attempt AS previous_attempt
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data)
       SELECT id, event_seq, 0, 'requeued',
              jsonb_strip_nulls(jsonb_build_object('actor', $4::text, 'reason', $5::text,
                                                   'previousAttempt', previous_attempt))
         FROM requeued
     )
     SELECT count(*)::text AS n FROM requeued`,
    [filter.statuses, filter.name ?? null, limit, note.actor, note.reason ?? null, ...matchValues(filter)],
  )
  return Number(rows[0]?.n ?? 0)
}
