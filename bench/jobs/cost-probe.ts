/**
 * Where pulse's per-job cost goes, without threads: the hot-path statements called directly on one
 * connection (enqueue 1,000 per statement, claim 50, complete 50) against the bare loop's statements
 * (insert 1,000, claim 50 with the previous 50 acked in the same statement), on a fresh database each.
 * Reports per job: WAL bytes (pg_current_wal_lsn delta), statement time, and rows written to indexes.
 *
 *   npx tsx bench/jobs/cost-probe.ts [jobs]      # DATABASE_URL or a LocalPostgres of its own
 */
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/queue.js'
import { insertJobs } from '../../transports/postgres/jobs/enqueue.js'
import { claimJobs, completeJobs } from '../../transports/postgres/jobs/hot-path.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { bareAdapter } from './bare.js'
import { openServer } from './server.js'

const n = Number(process.argv[2] ?? 10_000)
const server = await openServer()

async function lsn(c: pg.Client): Promise<bigint> {
  const { rows } = await c.query<{ b: string }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS b`,
  )
  return BigInt(rows[0]?.b ?? '0')
}

interface Cost {
  walPerJob: number
  enqueueMsPerJob: number
  claimMs: number
  ackMs: number
  indexes: number
}

async function probePulse(): Promise<Cost> {
  const url = await server.createDatabase('probe_pulse')
  await (await JobQueue.connect({ pg: url })).close()
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const q = quoteSchema('pulse')
  const w0 = await lsn(c)
  let t = performance.now()
  for (let i = 0; i < n; i += 1000)
    await insertJobs(
      c,
      q,
      Array.from({ length: 1000 }, () => ({ name: 'noop', args: {} })),
    )
  const enqueueMs = performance.now() - t
  let claimMs = 0
  let ackMs = 0
  for (let i = 0; i < n; i += 50) {
    t = performance.now()
    const jobs = await claimJobs(c, q, { owner: 'probe', names: ['noop'], limit: 50, leaseTtlMs: 30_000 })
    claimMs += performance.now() - t
    t = performance.now()
    await completeJobs(c, q, jobs)
    ackMs += performance.now() - t
  }
  const w1 = await lsn(c)
  const { rows } = await c.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_indexes WHERE schemaname = 'pulse' AND tablename IN ('jobs', 'job_events')`,
  )
  await c.end()
  return {
    walPerJob: Number(w1 - w0) / n,
    enqueueMsPerJob: enqueueMs / n,
    claimMs: claimMs / (n / 50),
    ackMs: ackMs / (n / 50),
    indexes: Number(rows[0]?.n),
  }
}

async function probeBare(): Promise<Cost> {
  const url = await server.createDatabase('probe_bare')
  const adapter = bareAdapter(url)
  await adapter.setup()
  await adapter.teardown()
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const w0 = await lsn(c)
  let t = performance.now()
  const payloads = Array.from({ length: 1000 }, () => '{}')
  for (let i = 0; i < n; i += 1000)
    await c.query('INSERT INTO bare_jobs (queue, payload) SELECT $1, unnest($2::jsonb[])', ['noop', payloads])
  const enqueueMs = performance.now() - t
  let claimMs = 0
  let acks: string[] = []
  for (let i = 0; i <= n; i += 50) {
    t = performance.now()
    const { rows } = await c.query<{ id: string }>(
      `WITH acked AS (UPDATE bare_jobs SET status = 2 WHERE id = ANY($3::bigint[]))
       UPDATE bare_jobs SET status = 1, locked_by = $1, locked_at = now(), attempts = attempts + 1
        WHERE id IN (SELECT id FROM bare_jobs WHERE queue = $2 AND status = 0 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 50)
       RETURNING id`,
      ['probe', 'noop', acks],
    )
    claimMs += performance.now() - t
    acks = rows.map((r) => r.id)
  }
  const w1 = await lsn(c)
  const { rows } = await c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'bare_jobs'`)
  await c.end()
  return {
    walPerJob: Number(w1 - w0) / n,
    enqueueMsPerJob: enqueueMs / n,
    claimMs: claimMs / (n / 50),
    ackMs: 0,
    indexes: Number(rows[0]?.n),
  }
}

try {
  const pulse = await probePulse()
  const bare = await probeBare()
  const f = (x: number): string => x.toFixed(3)
  process.stdout.write(
    [
      `| per job (${n} jobs, one connection, durable) | pulse hot path | bare SQL | pulse ÷ bare |`,
      '|---|---:|---:|---:|',
      `| WAL bytes per job (enqueue + claim + complete) | ${pulse.walPerJob.toFixed(0)} | ${bare.walPerJob.toFixed(0)} | ${(pulse.walPerJob / bare.walPerJob).toFixed(2)}× |`,
      `| enqueue ms per job (1,000 per statement) | ${f(pulse.enqueueMsPerJob)} | ${f(bare.enqueueMsPerJob)} | ${(pulse.enqueueMsPerJob / bare.enqueueMsPerJob).toFixed(2)}× |`,
      `| claim statement ms (batch 50; bare: ack fused in) | ${f(pulse.claimMs)} | ${f(bare.claimMs)} | ${(pulse.claimMs / bare.claimMs).toFixed(2)}× |`,
      `| complete statement ms (batch 50) | ${f(pulse.ackMs)} | (fused) | |`,
      `| claim + ack ms per 50 jobs | ${f(pulse.claimMs + pulse.ackMs)} | ${f(bare.claimMs)} | ${((pulse.claimMs + pulse.ackMs) / bare.claimMs).toFixed(2)}× |`,
      `| indexes written (jobs + job_events / bare_jobs) | ${pulse.indexes} | ${bare.indexes} | |`,
      '',
    ].join('\n'),
  )
} finally {
  await server.close()
}
