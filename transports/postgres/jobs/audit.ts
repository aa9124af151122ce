/**
 * The audit log: one append-only row per operator action (who, what, on what, why, when). Callers
 * append in the transaction of the action itself, so an action and its record commit together.
 */
import type { Queryable } from './queryable.js'

export interface AuditEntry {
  /** Who acted: a user, a service, 'api', 'cli'… */
  actor: string
  /** What they did, as `area.verb`: 'dispatch.pause', 'job.cancel', 'schedule.create'… */
  action: string
  /** What it was done to: 'job:42', 'schedule:7', 'dispatch'. */
  target?: string | undefined
  reason?: string | undefined
  /** Details, as JSON. */
  data?: unknown
}

export interface AuditRecord {
  id: string
  at: Date
  actor: string
  action: string
  target: string | undefined
  reason: string | undefined
  data: unknown
}

interface AuditRow {
  id: string
  at: Date
  actor: string
  action: string
  target: string | null
  reason: string | null
  data: unknown
}

function toRecord(row: AuditRow): AuditRecord {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    action: row.action,
    target: row.target ?? undefined,
    reason: row.reason ?? undefined,
    data: row.data ?? undefined,
  }
}

export async function appendAudit(db: Queryable, q: string, entry: AuditEntry): Promise<AuditRecord> {
  const { rows } = await db.query<AuditRow>(
    `INSERT INTO ${q}.audit_log (actor, action, target, reason, data) VALUES ($1, $2, $3, $4, $5::jsonb)
     RETURNING id::text, at, actor, action, target, reason, data`,
    [
      entry.actor,
      entry.action,
      entry.target ?? null,
      entry.reason ?? null,
      entry.data === undefined ? null : JSON.stringify(entry.data),
    ],
  )
  const row = rows[0]
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row')
  return toRecord(row)
}

export interface AuditQuery {
  limit: number
  /** Only entries older than this id (paging). */
  before?: string | undefined
  /** Only entries of these actions. */
  actions?: readonly string[] | undefined
}

/** Entries, newest first. */
export async function listAudit(db: Queryable, q: string, query: AuditQuery): Promise<AuditRecord[]> {
  const { rows } = await db.query<AuditRow>(
    `SELECT id::text, at, actor, action, target, reason, data FROM ${q}.audit_log
      WHERE ($1::bigint IS NULL OR id < $1) AND ($3::text[] IS NULL OR action = ANY($3::text[]))
      ORDER BY audit_log.id DESC LIMIT $2`,
    [query.before ?? null, query.limit, query.actions ?? null],
  )
  return rows.map(toRecord)
}
