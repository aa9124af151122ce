/**
 * What the recent transitions say, from `job_events` over a time window: completions, failures and
 * dead-letters per minute, the dead-letter trend, and the wait and run latency of the newest completed
 * attempts. Every read is a range of `at`, which the BRIN index `job_events_at` (migration 10) narrows
 * to the pages written in the window, so its cost follows the window's events, not the table's.
 */
import type { Queryable } from './queryable.js'

export interface MinuteCounts {
  /** The minute's start. */
  at: Date
  completed: number
  failed: number
  dead: number
}

/**
 * Completed, failed and dead events per minute, for the `minutes` minutes up to now (the last one is
 * the current, partial minute), oldest first; minutes without events are zeros.
 */
export async function eventsPerMinute(db: Queryable, q: string, minutes: number): Promise<MinuteCounts[]> {
  const { rows } = await db.query<{ minute: Date; completed: number; failed: number; dead: number }>(
    `WITH span AS (SELECT date_trunc('minute', now()) - ($1 - 1) * interval '1 minute' AS first),
          counts AS (
       SELECT date_trunc('minute', at) AS minute,
              count(*) FILTER (WHERE type = 'completed')::int AS completed,
              count(*) FILTER (WHERE type = 'failed')::int AS failed,
              count(*) FILTER (WHERE type = 'dead')::int AS dead
         FROM ${q}.job_events
        WHERE at >= (SELECT first FROM span) AND type IN ('completed', 'failed', 'dead')
        GROUP BY 1
     )
     SELECT m.minute, coalesce(c.completed, 0) AS completed, coalesce(c.failed, 0) AS failed,
            coalesce(c.dead, 0) AS dead
       FROM generate_series((SELECT first FROM span), date_trunc('minute', now()), interval '1 minute') AS m(minute)
       LEFT JOIN counts c ON c.minute = m.minute
      ORDER BY m.minute`,
    [minutes],
  )
  return rows.map((r) => ({ at: r.minute, completed: r.completed, failed: r.failed, dead: r.dead }))
}

export interface DeadLetterTrend {
  /** Jobs dead-lettered in the last `windowMs`. */
  recent: number
  /** In the `windowMs` before that. */
  previous: number
}

export async function deadLetterTrend(db: Queryable, q: string, windowMs: number): Promise<DeadLetterTrend> {
  const { rows } = await db.query<DeadLetterTrend>(
    `SELECT count(*) FILTER (WHERE at >= now() - $1 * interval '1 millisecond')::int AS recent,
            count(*) FILTER (WHERE at < now() - $1 * interval '1 millisecond')::int AS previous
       FROM ${q}.job_events
      WHERE type = 'dead' AND at >= now() - 2 * $1 * interval '1 millisecond'`,
    [windowMs],
  )
  return rows[0] ?? { recent: 0, previous: 0 }
}

export interface Percentiles {
  p50: number
  p90: number
  p99: number
}

export interface LatencyRecord {
  /** Completed attempts measured. */
  attempts: number
  /** From due (`run_at`: the enqueue's time, its `runAt`, or the retry's time) to the attempt's start. */
  waitMs: Percentiles | undefined
  /** From the attempt's start to its completion. */
  runMs: Percentiles | undefined
}

function percentiles(values: number[] | null): Percentiles | undefined {
  if (values === null || values.length === 0) return undefined
  const [p50 = 0, p90 = 0, p99 = 0] = values
  return { p50, p90, p99 }
}

/**
 * Percentiles of the newest `sample` completed attempts of the last `sinceMs` ('completed' events with
 * their start, migration 8; the job row gives the time it was due, which a completed job keeps). The
 * job rows are read one by one through the primary key, by a subquery per event: as a join, the
 * planner would read the whole jobs table to hash it.
 */
export async function completedLatency(
  db: Queryable,
  q: string,
  sinceMs: number,
  sample: number,
): Promise<LatencyRecord> {
  const { rows } = await db.query<{ n: number; wait: number[] | null; run: number[] | null }>(
    `SELECT count(*)::int AS n,
            percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY s.wait_ms) AS wait,
            percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY s.run_ms) AS run
       FROM (SELECT greatest(0, extract(epoch FROM e.started_at - (SELECT j.run_at FROM ${q}.jobs j WHERE j.id = e.job_id)) * 1000)::float8 AS wait_ms,
                    greatest(0, extract(epoch FROM e.at - e.started_at) * 1000)::float8 AS run_ms
               FROM (SELECT job_id, at, started_at FROM ${q}.job_events
                      WHERE at >= now() - $1 * interval '1 millisecond' AND type = 'completed'
                        AND started_at IS NOT NULL
                      ORDER BY at DESC LIMIT $2) e) s`,
    [sinceMs, sample],
  )
  const row = rows[0]
  if (row === undefined || row.n === 0) return { attempts: 0, waitMs: undefined, runMs: undefined }
  return { attempts: row.n, waitMs: percentiles(row.wait), runMs: percentiles(row.run) }
}
