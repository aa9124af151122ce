/**
 * Schedules: stored definitions that spawn a job per occurrence.
 *
 * A schedule row holds the job's name and payload, an opaque JSON `spec` (the feature layer builds and
 * interprets it, through the `nextOccurrence` callback) and `next_run_at`, the next occurrence to fire.
 *
 * Firing (`fireDueSchedules`) is exactly once per occurrence, across replicas and restarts, in one
 * transaction:
 * 1. `SELECT … FOR UPDATE SKIP LOCKED` the due, unpaused schedules: concurrent firers get disjoint sets.
 * 2. Insert each occurrence's job with `(schedule_id, occurrence = next_run_at)`, which is unique: a
 *    re-fire of the same occurrence (after a crash between insert and advance, say) inserts nothing and
 *    finds the job that exists.
 * 3. Advance `next_run_at` to the first occurrence after `now` with a compare-and-set on the old value
 *    (`WHERE next_run_at = <old>`), so a stale firer can never move it backwards. Missed occurrences
 *    collapse into the one fire. A schedule with no next occurrence (a one-off `at`) is deleted.
 *
 * Deleting a schedule leaves its jobs, whose `schedule_id` keeps the lineage.
 */
import type pg from 'pg'

import { mapPgError } from '../errors.js'
import { PgPool } from '../pool.js'
import { holdClient } from './actor-pool.js'
import { insertJobs } from './enqueue.js'
import type { Queryable } from './queryable.js'

export interface ScheduleRecord {
  id: string
  /** Unique: creating a schedule under an existing name updates that one. */
  name: string
  /** The name of the jobs it spawns. */
  jobName: string
  /** The jobs' args: JSON, or a `Buffer` when given as bytes. */
  args: unknown
  /** The occurrence rule, as JSON. */
  spec: unknown
  /** The next occurrence to fire; `undefined` when there is none. */
  nextRunAt: Date | undefined
  paused: boolean
  createdAt: Date
  updatedAt: Date
}

export interface NewSchedule {
  name: string
  jobName: string
  args?: unknown
  argsBytes?: Uint8Array | undefined
  spec: unknown
  /** The first occurrence, used unless an existing schedule of this name keeps its own (same spec). */
  nextRunAt: Date | undefined
}

const kColumns = `s.id::text, s.name, s.job_name, s.args, s.args_bytes, s.spec, s.next_run_at, s.paused, s.created_at, s.updated_at`

interface ScheduleRow {
  id: string
  name: string
  job_name: string
  args: unknown
  args_bytes: Buffer | null
  spec: unknown
  next_run_at: Date | null
  paused: boolean
  created_at: Date
  updated_at: Date
}

function toRecord(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    name: row.name,
    jobName: row.job_name,
    args: row.args_bytes ?? row.args,
    spec: row.spec,
    nextRunAt: row.next_run_at ?? undefined,
    paused: row.paused,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/**
 * Creates the schedule, or updates the one with the same name: its job name, payload and spec. An
 * update keeps the schedule's `next_run_at` (and its paused flag) when the spec is unchanged, so that
 * replicas declaring the same schedule at every boot neither reset nor skip its occurrences.
 */
export async function upsertSchedule(
  db: Queryable,
  q: string,
  s: NewSchedule,
): Promise<{ schedule: ScheduleRecord; created: boolean }> {
  const { rows } = await db.query<ScheduleRow & { created: boolean }>(
    `INSERT INTO ${q}.schedules AS s (name, job_name, args, args_bytes, spec, next_run_at)
     VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6)
     ON CONFLICT (name) DO UPDATE
        SET job_name = EXCLUDED.job_name, args = EXCLUDED.args, args_bytes = EXCLUDED.args_bytes, spec = EXCLUDED.spec,
            next_run_at = CASE WHEN s.spec = EXCLUDED.spec AND s.next_run_at IS NOT NULL THEN s.next_run_at ELSE EXCLUDED.next_run_at END,
            updated_at = now()
     RETURNING ${kColumns}, (s.xmax = 0) AS created`,
    [
      s.name,
      s.jobName,
      s.argsBytes === undefined ? JSON.stringify(s.args ?? null) : null,
      s.argsBytes === undefined ? null : Buffer.from(s.argsBytes),
      JSON.stringify(s.spec),
      s.nextRunAt ?? null,
    ],
  )
  const row = rows[0]
  if (row === undefined) throw new Error('INSERT … RETURNING returned no row')
  return { schedule: toRecord(row), created: row.created }
}

/** Every schedule, oldest first. */
export async function listSchedules(db: Queryable, q: string): Promise<ScheduleRecord[]> {
  const { rows } = await db.query<ScheduleRow>(`SELECT ${kColumns} FROM ${q}.schedules s ORDER BY s.id`)
  return rows.map(toRecord)
}

export async function getSchedule(db: Queryable, q: string, id: string): Promise<ScheduleRecord | undefined> {
  const { rows } = await db.query<ScheduleRow>(`SELECT ${kColumns} FROM ${q}.schedules s WHERE s.id = $1`, [id])
  const row = rows[0]
  return row === undefined ? undefined : toRecord(row)
}

/** Pauses or resumes the schedule; `undefined` when it does not exist. Its `next_run_at` is kept. */
export async function setSchedulePaused(
  db: Queryable,
  q: string,
  id: string,
  paused: boolean,
): Promise<ScheduleRecord | undefined> {
  const { rows } = await db.query<ScheduleRow>(
    `UPDATE ${q}.schedules s SET paused = $2, updated_at = now() WHERE s.id = $1 RETURNING ${kColumns}`,
    [id, paused],
  )
  const row = rows[0]
  return row === undefined ? undefined : toRecord(row)
}

/** Deletes the schedule (its jobs stay); `false` when it did not exist. */
export async function deleteSchedule(db: Queryable, q: string, id: string): Promise<boolean> {
  const { rows } = await db.query(`DELETE FROM ${q}.schedules WHERE id = $1 RETURNING id`, [id])
  return rows.length > 0
}

/**
 * Compare-and-set of `next_run_at`: moves it to `next` only if it still is `expected`. Returns whether
 * it moved. `expected` is a `Date`, or the column's own text (exact to the microsecond).
 */
export async function advanceSchedule(
  db: Queryable,
  q: string,
  id: string,
  expected: Date | string,
  next: Date,
): Promise<boolean> {
  const { rows } = await db.query(
    `UPDATE ${q}.schedules SET next_run_at = $3, updated_at = now() WHERE id = $1 AND next_run_at = $2::timestamptz RETURNING id`,
    [id, expected, next],
  )
  return rows.length > 0
}

/** The first occurrence of `spec` strictly after `after`, or `undefined` when there is none. May throw. */
export type NextOccurrence = (spec: unknown, after: Date) => Date | undefined

export interface ScheduleFire {
  scheduleId: string
  name: string
  /** The occurrence fired (the schedule's `next_run_at` before the fire). */
  occurrence: Date
  /** The occurrence's job (an existing one when the occurrence had fired before). */
  jobId: string
  /** Where the schedule moved; `undefined` when it was deleted (no next occurrence). */
  nextRunAt: Date | undefined
}

export interface ScheduleFireFailure {
  scheduleId: string
  name: string
  /** What `nextOccurrence` threw: the schedule was not fired and stays as it is. */
  error: Error
}

export interface FireReport {
  fired: ScheduleFire[]
  failed: ScheduleFireFailure[]
}

export interface FireOptions {
  /**
   * Most schedules fired by one call (the rest wait for the next call).
   * @default 100
   */
  limit?: number | undefined
}

interface DueRow extends ScheduleRow {
  /** `next_run_at` as the server prints it, for an exact compare-and-set. */
  next_run_at_text: string
}

/** Where `fireDueSchedules` runs its transaction. */
export type TransactionTarget = PgPool | pg.Pool | pg.ClientBase

/**
 * Fires the schedules due at `now` (see the module comment), in one transaction. `db` is a `PgPool`, a
 * `pg.Pool` (a client is checked out for the transaction), or a single connection (`pg.Client`,
 * `pg.PoolClient`) that is not inside a transaction.
 */
export async function fireDueSchedules(
  db: TransactionTarget,
  q: string,
  now: Date,
  nextOccurrence: NextOccurrence,
  options: FireOptions = {},
): Promise<FireReport> {
  const limit = options.limit ?? 100
  return inTransaction(db, async (tx) => {
    const { rows } = await tx.query<DueRow>(
      `SELECT ${kColumns}, s.next_run_at::text AS next_run_at_text FROM ${q}.schedules s
        WHERE s.next_run_at <= $1 AND NOT s.paused
        ORDER BY s.next_run_at, s.id
        LIMIT $2
        FOR UPDATE SKIP LOCKED`,
      [now, limit],
    )
    const due: { row: DueRow; occurrence: Date; next: Date | undefined }[] = []
    const failed: ScheduleFireFailure[] = []
    for (const row of rows) {
      const occurrence = row.next_run_at ?? now
      try {
        const next = nextOccurrence(row.spec, now)
        if (next !== undefined && !(next.getTime() > now.getTime()))
          throw new Error(`nextOccurrence returned ${next.toISOString()}, not after ${now.toISOString()}`)
        due.push({ row, occurrence, next })
      } catch (error) {
        failed.push({ scheduleId: row.id, name: row.name, error: mapPgError(error) })
      }
    }
    if (due.length === 0) return { fired: [], failed }

    const jobIds = await insertJobs(
      tx,
      q,
      due.map(({ row, occurrence }) => ({
        name: row.job_name,
        ...(row.args_bytes === null ? { args: row.args } : { argsBytes: row.args_bytes }),
        scheduleId: row.id,
        occurrence,
      })),
    )
    await tx.query(
      `WITH v AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS v(id, old, next)
       ), advanced AS (
         UPDATE ${q}.schedules s SET next_run_at = v.next, updated_at = now()
           FROM v WHERE s.id = v.id AND v.next IS NOT NULL AND s.next_run_at = v.old::timestamptz
         RETURNING s.id
       ), deleted AS (
         DELETE FROM ${q}.schedules s USING v
          WHERE s.id = v.id AND v.next IS NULL AND s.next_run_at = v.old::timestamptz
         RETURNING s.id
       )
       SELECT (SELECT count(*) FROM advanced) + (SELECT count(*) FROM deleted) AS n`,
      [due.map((d) => d.row.id), due.map((d) => d.row.next_run_at_text), due.map((d) => d.next ?? null)],
    )
    const fired = due.map(({ row, occurrence, next }, i) => ({
      scheduleId: row.id,
      name: row.name,
      occurrence,
      jobId: jobIds[i] ?? '',
      nextRunAt: next,
    }))
    return { fired, failed }
  })
}

function isPgPool(db: pg.Pool | pg.ClientBase): db is pg.Pool {
  return typeof (db as Partial<pg.Pool>).totalCount === 'number'
}

async function inTransaction<T>(db: TransactionTarget, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  if (db instanceof PgPool) return db.withTransaction(fn)
  if (isPgPool(db)) {
    let client: pg.PoolClient
    try {
      client = await db.connect()
    } catch (error) {
      throw mapPgError(error)
    }
    const held = holdClient(client)
    let failure: Error | undefined
    try {
      return await inTransaction(client, fn)
    } catch (error) {
      failure = error instanceof Error ? error : undefined
      throw error
    } finally {
      // A client whose ROLLBACK may not have run, or whose connection died, is not handed to anyone else.
      held.release(failure)
    }
  }
  await db.query('BEGIN')
  try {
    const result = await fn(db)
    await db.query('COMMIT')
    return result
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined)
    throw mapPgError(error)
  }
}
