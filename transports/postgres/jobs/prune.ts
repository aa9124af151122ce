/**
 * Deleting finished jobs: completed, dead or canceled ones last changed before a cutoff, with their
 * event rows, at most `limit` per statement, the oldest ids first. A job that may still run (pending,
 * retrying, running) is never touched, and a row another transaction holds is skipped (it is locked
 * first, and its status and time are what the lock saw). A pruned job's idempotency key is free again.
 */
import type { Queryable } from './queryable.js'
import type { JobStatus } from './status.js'

/** The statuses a job can be pruned from: it will not run again unless an operator requeues it. */
export const PRUNABLE_STATUSES: readonly JobStatus[] = Object.freeze(['completed', 'dead', 'canceled'])

export interface PruneOptions {
  /** Jobs whose status last changed (`updated_at`) before this. */
  before: Date
  statuses: readonly JobStatus[]
  limit: number
}

/** Deletes up to `limit` finished jobs and their events; resolves to how many jobs went. */
export async function pruneJobs(db: Queryable, q: string, { before, statuses, limit }: PruneOptions): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `WITH doomed AS (
       SELECT id FROM ${q}.jobs WHERE status = ANY($1::text[]) AND updated_at < $2 ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED
     ), events AS (
       DELETE FROM ${q}.job_events e USING doomed d WHERE e.job_id = d.id
     ), gone AS (
       DELETE FROM ${q}.jobs j USING doomed d WHERE j.id = d.id RETURNING j.id
     )
     SELECT count(*)::int AS n FROM gone`,
    [statuses, before, limit],
  )
  return rows[0]?.n ?? 0
}
