/**
 * Cycle probe: the database cost of one dispatcher cycle at batch B (pulse: the claim of batch k + 1 and
 * the ack of batch k, `claimJobs` + `completeJobs`, two statements) against the bare loop's fused
 * statement (ack and claim in one), on one connection each, interleaved cycle by cycle (so a loaded box
 * slows both alike), plus the enqueue of the jobs (1,000 per statement). pulse runs its statements and
 * schema as the library has them, unpatched. Reports ms per 1,000 jobs and WAL bytes per job.
 *
 *   npx tsx bench/jobs/probes/cycle-probe.ts [jobs] [batch]      # DATABASE_URL or a LocalPostgres of its own
 */
import pg from 'pg'

import { JobQueue } from '../../../actors/jobs/queue.js'
import { insertJobs } from '../../../transports/postgres/jobs/enqueue.js'
import { claimJobs, completeJobs, type LeaseRef } from '../../../transports/postgres/jobs/hot-path.js'
import { quoteSchema } from '../../../transports/postgres/jobs/queryable.js'
import { bareAdapter } from '../bare.js'
import { openServer } from '../server.js'

const n = Number(process.argv[2] ?? 20_000)
const batch = Number(process.argv[3] ?? 500)
const server = await openServer()

async function lsn(c: pg.Client): Promise<bigint> {
  const { rows } = await c.query<{ b: string }>(
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint::text AS b`,
  )
  return BigInt(rows[0]?.b ?? '0')
}

interface Side {
  name: string
  c: pg.Client
  enqueue(): Promise<void>
  cycle(): Promise<number>
  enqueueMs: number
  cycleMs: number
  wal: bigint
}

async function pulseSide(): Promise<Side> {
  const url = await server.createDatabase('probe_pulse')
  await (await JobQueue.connect({ pg: url })).close()
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  const q = quoteSchema('pulse')
  let acks: LeaseRef[] = []
  const items = Array.from({ length: 1000 }, () => ({ name: 'noop', args: {} }))
  return {
    name: 'pulse',
    c,
    enqueueMs: 0,
    cycleMs: 0,
    wal: 0n,
    enqueue: async () => void (await insertJobs(c, q, items)),
    cycle: async () => {
      const [claimed] = await Promise.all([
        claimJobs(c, q, { owner: 'probe', names: ['noop'], limit: batch, leaseTtlMs: 30_000 }),
        completeJobs(c, q, acks),
      ])
      acks = claimed.map((j) => ({ id: j.id, leaseToken: j.leaseToken }))
      return claimed.length
    },
  }
}

async function bareSide(): Promise<Side> {
  const url = await server.createDatabase('probe_bare')
  const adapter = bareAdapter(url)
  await adapter.setup()
  await adapter.teardown()
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  let acks: string[] = []
  const payloads = Array.from({ length: 1000 }, () => '{}')
  return {
    name: 'bare SQL',
    c,
    enqueueMs: 0,
    cycleMs: 0,
    wal: 0n,
    enqueue: async () =>
      void (await c.query('INSERT INTO bare_jobs (queue, payload) SELECT $1, unnest($2::jsonb[])', ['noop', payloads])),
    cycle: async () => {
      const { rows } = await c.query<{ id: string }>(
        `WITH acked AS (UPDATE bare_jobs SET status = 2 WHERE id = ANY($3::bigint[]))
         UPDATE bare_jobs SET status = 1, locked_by = $1, locked_at = now(), attempts = attempts + 1
          WHERE id IN (SELECT id FROM bare_jobs WHERE queue = $2 AND status = 0 ORDER BY id FOR UPDATE SKIP LOCKED LIMIT ${batch})
         RETURNING id, payload`,
        ['probe', 'noop', acks],
      )
      acks = rows.map((r) => r.id)
      return rows.length
    },
  }
}

try {
  const sides = [await bareSide(), await pulseSide()]
  // WAL is global: measure each side's phases alone, but interleave the sides phase by phase.
  for (let i = 0; i < n; i += 1000) {
    for (const s of sides) {
      const w0 = await lsn(s.c)
      const t = performance.now()
      await s.enqueue()
      s.enqueueMs += performance.now() - t
      s.wal += (await lsn(s.c)) - w0
    }
  }
  const open = new Set(sides)
  while (open.size > 0) {
    for (const s of [...open]) {
      const w0 = await lsn(s.c)
      const t = performance.now()
      const got = await s.cycle()
      s.cycleMs += performance.now() - t
      s.wal += (await lsn(s.c)) - w0
      if (got === 0) open.delete(s)
    }
  }
  const bare = sides[0] as Side
  const rows = sides.map((s) => {
    const total = s.enqueueMs + s.cycleMs
    return `| ${s.name} | ${((s.enqueueMs * 1000) / n).toFixed(1)} | ${((s.cycleMs * 1000) / n).toFixed(1)} | ${((total * 1000) / n).toFixed(1)} | ${(total / (bare.enqueueMs + bare.cycleMs)).toFixed(2)}× | ${(Number(s.wal) / n).toFixed(0)} |`
  })
  process.stdout.write(
    [
      `${n} jobs, cycles of ${batch} (ack + claim in one statement), one connection each, interleaved`,
      '',
      '| side | enqueue ms / 1k jobs | cycles ms / 1k jobs | total ms / 1k jobs | ÷ bare | WAL bytes / job |',
      '|---|---:|---:|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  )
  for (const s of sides) await s.c.end()
} finally {
  await server.close()
}
