/**
 * The jobs scenario's schedule, read from the queue's database after the run: an `every(periodMs)`
 * schedule fires each occurrence once, as one job carrying `(schedule_id, occurrence)`.
 *
 * An occurrence fired twice is a defect. An occurrence of the grid between the first and the last one
 * fired that never fired is a collapse: the fire of the occurrence before it came so late that it was
 * already due, and the schedule moved on to the first occurrence after that fire (README, "Schedules").
 * A collapse is explained when the late fire overlaps a window in which the schedulers could not reach
 * the database (a restart, an outage, a black hole), or the scheduler tick after one.
 */
import type pg from 'pg'

/** A window (epoch ms) in which the schedulers could not reach the database. */
export interface FaultWindow {
  readonly from: number
  readonly to: number
}

export interface ScheduleAudit {
  /** Occurrences fired. */
  readonly fired: number
  /** Occurrences fired more than once. */
  readonly firedTwice: number
  /** Occurrences fired whose job did not complete. */
  readonly notCompleted: number
  /** Occurrences of the grid, between the first and the last fired, that collapsed into an earlier fire. */
  readonly collapsed: number
  /** Collapsed occurrences that no fault window explains, or that a fire skipped although it was not late. */
  readonly unexplained: number
  /** The latest an occurrence fired, in ms after it was due. */
  readonly latestFireMs: number
  readonly samples: readonly string[]
}

interface OccurrenceRow {
  occurrence: number
  jobs: number
  fired: number
  done: boolean
}

async function readOccurrences(pool: pg.Pool, scheduleId: string, schema: string): Promise<OccurrenceRow[]> {
  const { rows } = await pool.query<OccurrenceRow>(
    `SELECT extract(epoch FROM occurrence)::float8 * 1000 AS occurrence, count(*)::int AS jobs,
            min(extract(epoch FROM created_at)::float8 * 1000) AS fired, bool_and(status = 'completed') AS done
       FROM ${schema}.jobs WHERE schedule_id = $1 GROUP BY occurrence ORDER BY occurrence`,
    [scheduleId],
  )
  return rows
}

/** `tickMs`: the scheduler's tick, allowed after a window before the first fire gets through. */
export async function auditSchedule(
  pool: pg.Pool,
  options: { scheduleId: string; periodMs: number; tickMs: number; windows: readonly FaultWindow[] },
  schema = 'pulse',
): Promise<ScheduleAudit> {
  const { periodMs, tickMs, windows } = options
  const rows = await readOccurrences(pool, options.scheduleId, schema)
  const samples: string[] = []
  const note = (what: string) => {
    if (samples.length < 10) samples.push(what)
  }
  let collapsed = 0
  let unexplained = 0
  for (const [i, row] of rows.entries()) {
    const next = rows[i + 1]
    if (row.jobs > 1) note(`occurrence ${new Date(row.occurrence).toISOString()} fired ${row.jobs} times`)
    if (next === undefined) continue
    const skipped = Math.round((next.occurrence - row.occurrence) / periodMs) - 1
    if (skipped <= 0) continue
    collapsed += skipped
    // The fire moved the schedule to the first occurrence after it: only those up to the fire collapse.
    const late = row.fired >= next.occurrence - periodMs
    const windowed = windows.some((w) => w.from <= row.fired && w.to + tickMs >= row.occurrence)
    if (late && windowed) continue
    unexplained += skipped
    note(
      `${skipped} occurrences after ${new Date(row.occurrence).toISOString()} skipped (fired ${Math.round(row.fired - row.occurrence)} ms late${windowed ? '' : ', in no fault window'})`,
    )
  }
  return {
    fired: rows.length,
    firedTwice: rows.filter((r) => r.jobs > 1).length,
    notCompleted: rows.filter((r) => !r.done).length,
    collapsed,
    unexplained,
    latestFireMs: Math.max(0, ...rows.map((r) => r.fired - r.occurrence)),
    samples,
  }
}
