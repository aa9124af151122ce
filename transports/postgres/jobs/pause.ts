/**
 * The dispatch switch: one `dispatch_state` row. While it says paused, `claimJobs` claims nothing (the
 * claim reads the row in the same statement), on every replica at once; enqueues, running jobs and
 * schedules go on. Resuming clears the reason and keeps `paused_at` as "last paused at". The row is
 * the durable truth, so a pause survives restarts.
 */
import type { Queryable } from './queryable.js'

export interface DispatchState {
  paused: boolean
  /** Why dispatch is paused; `undefined` when running. */
  reason: string | undefined
  /** When dispatch was last paused (kept after a resume); `undefined` if it never was. */
  pausedAt: Date | undefined
}

interface DispatchRow {
  paused: boolean
  reason: string | null
  paused_at: Date | null
}

function toState(row: DispatchRow | undefined): DispatchState {
  return { paused: row?.paused ?? false, reason: row?.reason ?? undefined, pausedAt: row?.paused_at ?? undefined }
}

/**
 * Pauses (with a reason) or resumes dispatch and returns the new state. Pausing again while paused
 * updates the reason and keeps the first `pausedAt`.
 */
export async function setDispatchPaused(
  db: Queryable,
  q: string,
  paused: boolean,
  reason?: string,
): Promise<DispatchState> {
  const { rows } = await db.query<DispatchRow>(
    `INSERT INTO ${q}.dispatch_state AS d (id, paused, reason, paused_at)
     VALUES (1, $1, CASE WHEN $1 THEN $2::text END, CASE WHEN $1 THEN now() END)
     ON CONFLICT (id) DO UPDATE
        SET paused = $1,
            reason = CASE WHEN $1 THEN $2::text END,
            paused_at = CASE WHEN $1 AND NOT d.paused THEN now() ELSE d.paused_at END,
            updated_at = now()
     RETURNING paused, reason, paused_at`,
    [paused, reason ?? null],
  )
  return toState(rows[0])
}

export async function getDispatchState(db: Queryable, q: string): Promise<DispatchState> {
  const { rows } = await db.query<DispatchRow>(`SELECT paused, reason, paused_at FROM ${q}.dispatch_state WHERE id = 1`)
  return toState(rows[0])
}
