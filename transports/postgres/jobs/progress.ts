/**
 * A running job's progress, reported by its handler. Fenced like every other transition: only the
 * holder of the current lease can write it (`id`, `lease_token`, status 'running').
 */
import type { LeaseRef } from './hot-path.js'
import type { Queryable } from './queryable.js'

/** Stores `progress` (any JSON value) on the job; false when the lease is no longer the caller's. */
export async function setJobProgress(db: Queryable, q: string, lease: LeaseRef, progress: unknown): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE ${q}.jobs SET progress = $3::jsonb, updated_at = now()
      WHERE id = $1::bigint AND lease_token = $2::bigint AND status = 'running'`,
    [lease.id, lease.leaseToken, JSON.stringify(progress ?? null)],
  )
  return rowCount === 1
}
