/**
 * Operator transitions of a job: cancel and requeue.
 *
 * Each is one guarded UPDATE whose WHERE clause is its legality, bumping `event_seq` and appending its
 * `job_events` row in the same statement (as the hot path does). When nothing matched, a second read
 * tells an unknown id from a job in a status that does not allow the transition.
 *
 * - cancel: pending | running | retrying → canceled. A running job's lease is dropped, so its worker's
 *   late completion, failure or renewal changes nothing (they are fenced on status and lease token);
 *   the 'canceled' row then ends the attempt, so it carries the attempt's start (hot-path.ts).
 * - requeue: dead → pending, runnable now, with `attempt` back to 0 (a fresh attempt budget); the
 *   'requeued' event keeps the attempt count it had.
 */
import type { Queryable } from './queryable.js'
import { CANCELABLE_STATUSES, type JobStatus, REQUEUABLE_STATUSES } from './status.js'

/** Who asked, and why; recorded in the event's data. */
export interface OperatorNote {
  actor: string
  reason?: string | undefined
}

export type TransitionOutcome =
  /** The transition happened. */
  | { readonly ok: true; readonly id: string; readonly status: JobStatus; readonly attempt: number }
  /** It did not: `status` is the job's status (`undefined` when no job has this id). */
  | { readonly ok: false; readonly status: JobStatus | undefined }

/** Cancels the job unless it already finished (completed, dead, canceled). */
export async function cancelJob(db: Queryable, q: string, id: string, note: OperatorNote): Promise<TransitionOutcome> {
  const { rows } = await db.query<{ id: string; attempt: number }>(
    `WITH target AS (
       SELECT id, status = 'running' AS ran FROM ${q}.jobs WHERE id = $1 AND status = ANY($2::text[]) FOR UPDATE
     ), canceled AS (
       UPDATE ${q}.jobs j
          SET status = 'canceled', lease_token = NULL, lease_expires_at = NULL, event_seq = j.event_seq + 1, updated_at = now()
         FROM target t
        WHERE j.id = t.id AND j.status = ANY($2::text[])
       RETURNING j.id, j.event_seq, j.attempt, t.ran, j.started_at, j.lease_owner
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data, started_at, owner)
       SELECT id, event_seq, attempt, 'canceled', jsonb_strip_nulls(jsonb_build_object('actor', $3::text, 'reason', $4::text)),
              CASE WHEN ran THEN started_at END, CASE WHEN ran THEN lease_owner END
         FROM canceled
     )
     SELECT id::text, attempt FROM canceled`,
    [id, CANCELABLE_STATUSES, note.actor, note.reason ?? null],
  )
  return outcome(db, q, id, rows[0], 'canceled')
}

/** Moves a dead-lettered job back to pending with a fresh attempt budget. */
export async function requeueJob(db: Queryable, q: string, id: string, note: OperatorNote): Promise<TransitionOutcome> {
  const { rows } = await db.query<{ id: string; attempt: number }>(
    `WITH target AS (
       SELECT id, attempt FROM ${q}.jobs WHERE id = $1 AND status = ANY($2::text[]) FOR UPDATE
     ), requeued AS (
       UPDATE ${q}.jobs j
          SET status = 'pending', attempt = 0, run_at = now(), lease_owner = NULL, lease_token = NULL,
              lease_expires_at = NULL, event_seq = j.event_seq + 1, updated_at = now()
         FROM target t
        WHERE j.id = t.id AND j.status = ANY($2::text[])
       RETURNING j.id, j.event_seq, t.attempt AS previous_attempt
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data)
       SELECT id, event_seq, 0, 'requeued',
              jsonb_strip_nulls(jsonb_build_object('actor', $3::text, 'reason', $4::text, 'previousAttempt', previous_attempt))
         FROM requeued
     )
     SELECT id::text, 0 AS attempt FROM requeued`,
    [id, REQUEUABLE_STATUSES, note.actor, note.reason ?? null],
  )
  return outcome(db, q, id, rows[0], 'pending')
}

async function outcome(
  db: Queryable,
  q: string,
  id: string,
  row: { id: string; attempt: number } | undefined,
  status: JobStatus,
): Promise<TransitionOutcome> {
  if (row !== undefined) return { ok: true, id: row.id, status, attempt: row.attempt }
  const { rows } = await db.query<{ status: JobStatus }>(`SELECT status FROM ${q}.jobs WHERE id = $1`, [id])
  return { ok: false, status: rows[0]?.status }
}
