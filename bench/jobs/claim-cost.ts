/**
 * Cost of pulse's claim statement (`claimJobs`, batch 50) at a backlog of 1 k and of 1 M ready jobs:
 * the jobs are inserted with one INSERT … SELECT generate_series into the pulse schema's `jobs`, the
 * table is VACUUM ANALYZEd once, then each round times ~200 claims are timed one by one (each commits: the claimed rows pile
 * up as 'running', as in a real drain); 50 fresh jobs are inserted after each claim, untimed, so the
 * backlog stays put. The plan of the claim is read with EXPLAIN first.
 */
import pg from 'pg'

import { claimJobs } from '../../transports/postgres/jobs/hot-path.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { kPulseSchema } from './pulse.js'

export interface ClaimCost {
  readonly backlog: number
  readonly claims: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly meanMs: number
  /** Index names in the claim's plan. */
  readonly indexes: string
  readonly loadSeconds: number
}

/** Fills the (migrated, empty) pulse schema of `url` with `backlog` ready jobs; returns the seconds it took. */
export async function loadBacklog(url: string, backlog: number): Promise<number> {
  const s = kPulseSchema
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`TRUNCATE ${s}.jobs, ${s}.job_events RESTART IDENTITY`)
    const t0 = performance.now()
    await client.query(
      `INSERT INTO ${s}.jobs (name, args) SELECT 'noop', '{}'::jsonb FROM generate_series(1, $1::int)`,
      [backlog],
    )
    await client.query(`VACUUM ANALYZE ${s}.jobs`)
    return (performance.now() - t0) / 1000
  } finally {
    await client.end()
  }
}

/**
 * Times `claims` claims on a table loaded by `loadBacklog` (called once: later rounds find the claimed
 * rows of the earlier ones still there, as a long drain would).
 */
export async function claimCost(
  url: string,
  backlog: number,
  claims: number,
  loadSeconds: number,
  batch = 50,
): Promise<ClaimCost> {
  const s = kPulseSchema
  const q = quoteSchema(s)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows: plan } = await client.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM ${s}.jobs
        WHERE status IN ('pending', 'retrying') AND run_at <= now() AND name = ANY($1::text[])
          AND NOT (SELECT paused FROM ${s}.dispatch_state WHERE id = 1)
        ORDER BY priority DESC, run_at, id LIMIT 50 FOR UPDATE SKIP LOCKED`,
      [['noop']],
    )
    const indexes =
      [
        ...new Set(
          plan.flatMap((r) =>
            [
              ...r['QUERY PLAN'].matchAll(
                /(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)/g,
              ),
            ].map((m) => m[1]),
          ),
        ),
      ].join(', ') || 'none (seq scan)'
    const options = { owner: 'bench', names: ['noop'], limit: batch, leaseTtlMs: 30_000 }
    const refill = (): Promise<unknown> =>
      client.query(`INSERT INTO ${s}.jobs (name, args) SELECT 'noop', '{}'::jsonb FROM generate_series(1, $1::int)`, [
        batch,
      ])
    for (let i = 0; i < 10; i++) {
      await claimJobs(client, q, options)
      await refill()
    }
    const times: number[] = []
    for (let i = 0; i < claims; i++) {
      const t = performance.now()
      const got = await claimJobs(client, q, options)
      times.push(performance.now() - t)
      if (got.length !== batch) throw new Error(`claim returned ${got.length} jobs, wanted ${batch}`)
      await refill()
    }
    times.sort((a, b) => a - b)
    const at = (p: number): number => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] as number
    return {
      backlog,
      claims,
      p50Ms: at(50),
      p99Ms: at(99),
      meanMs: times.reduce((a, b) => a + b, 0) / times.length,
      indexes,
      loadSeconds,
    }
  } finally {
    await client.end()
  }
}
