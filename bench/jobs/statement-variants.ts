/**
 * The hot path's two statements, claim and completion, in variants side by side: what each costs the
 * PostgreSQL backend that runs it (CPU from /proc, per job) and the wall time of the call (the
 * statement plus the driver's parsing of its reply). Each variant has a database of its own, loaded
 * alike (enqueueMany in chunks of 1,000, then VACUUM ANALYZE); the variants take turns cycle by cycle
 * (claim a batch, ack the previous one), each on two connections with the dispatcher's session settings
 * (the claim's generic plan and asynchronous commit, the ack's custom plans), so a busy box slows all
 * alike.
 *
 *   npx tsx bench/jobs/statement-variants.ts [jobs=40000] [batch=250] [rounds=2]    # DATABASE_URL or a LocalPostgres
 *
 * Variants: `now` (the library's claimJobs/completeJobs), `JSON claim` (the batch as one JSON text:
 * tried, b7bba9d, and reverted), `pairs` (acks joined to their (id, token) pairs: before the token
 * match), `uuid tokens` (the same with a gen_random_uuid() per claimed row: before migration 7), `a
 * 'started' row per claim` (before migration 8); and `now` with an index dropped, to price it: the
 * events' primary key, `jobs_leases`.
 */
import type pg from 'pg'

import { openActorPool, preparedQueryable } from '../../transports/postgres/jobs/actor-pool.js'
import { DISPATCHER_SESSION_SQL } from '../../actors/jobs/dispatcher.actor.js'
import { JobQueue } from '../../actors/jobs/queue.js'
import { insertJobs } from '../../transports/postgres/jobs/enqueue.js'
import { claimJobs, completeJobs, type LeaseRef } from '../../transports/postgres/jobs/hot-path.js'
import { type Queryable, quoteSchema, regclassLiteral } from '../../transports/postgres/jobs/queryable.js'
import { cpuMicros } from '../lib/proc-cpu.js'
import { openServer } from './server.js'
import { completionText, kCompletionGuard, statementOf, swap } from './statement-text.js'

const n = Number(process.argv[2] ?? 40_000)
const batch = Number(process.argv[3] ?? 250)
const rounds = Number(process.argv[4] ?? 2)
const q = quoteSchema('pulse')

const kSequenceToken = `nextval(${regclassLiteral(q, 'jobs_lease_token_seq')})`
const kClaim = await statementOf((db) => claimJobs(db, q, { owner: 'probe', names: ['noop'], limit: 1, leaseTtlMs: 1 }))
const kComplete = await completionText(q)

/** The library's claim with the lease token from `token`. */
const claimText = (token: string): string => swap(kClaim, kSequenceToken, token)
/** The library's claim returning the batch as one JSON text, a tuple per job (id and token first). */
const kJsonClaim = swap(
  kClaim,
  `SELECT id::text, name, args::text AS args_json, args_bytes, attempt, max_attempts, priority, lease_token::text FROM claimed
     ORDER BY claimed.priority DESC, claimed.id`,
  `SELECT json_agg(json_build_array(id::text, lease_token::text, name, attempt, max_attempts, priority, args, encode(args_bytes, 'base64'))
                     ORDER BY priority DESC, id)::text AS jobs FROM claimed`,
)
/** The library's completion joined to its `(id, token)` pairs, as before the token match; `type`: the token's SQL type. */
const pairsComplete = (type: string): string =>
  swap(
    kComplete,
    kCompletionGuard,
    `FROM unnest($1::bigint[], $2::${type}[]) AS r(id, token)\n        WHERE j.id = ANY($1::bigint[]) AND j.id = r.id AND j.lease_token = r.token`,
  )

/** The claim and completion before migration 8: a 'started' event row per claimed job, none carried by the completion. */
const kStartedRowClaim = swap(
  swap(kClaim, 'started_at = now(), ', ''),
  `RETURNING j.id, j.name, j.args, j.args_bytes, j.attempt, j.max_attempts, j.priority, j.lease_token
     )`,
  `RETURNING j.id, j.name, j.args, j.args_bytes, j.attempt, j.max_attempts, j.priority, j.lease_token, j.event_seq
     ), events AS (
       INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data)
       SELECT id, event_seq, attempt, 'started', (SELECT jsonb_build_object('owner', $1::text)) FROM claimed
     )`,
)
const kStartedRowComplete = swap(
  swap(
    kComplete,
    'RETURNING j.id, j.event_seq, j.attempt, j.started_at, j.lease_owner',
    'RETURNING j.id, j.event_seq, j.attempt',
  ),
  `INSERT INTO ${q}.job_events (job_id, seq, attempt, type, started_at, owner)
       SELECT id, event_seq, attempt, 'completed', started_at, lease_owner FROM done`,
  `INSERT INTO ${q}.job_events (job_id, seq, attempt, type) SELECT id, event_seq, attempt, 'completed' FROM done`,
)

interface Variant {
  name: string
  /** Run on the variant's database after the migrations. */
  setup?: string
  claim(db: Queryable): Promise<LeaseRef[]>
  complete(db: Queryable, leases: LeaseRef[]): Promise<unknown>
}

const claimArgs = ['probe', 30_000, ['noop'], batch]
const now: Omit<Variant, 'name'> = {
  claim: (db) => claimJobs(db, q, { owner: 'probe', names: ['noop'], limit: batch, leaseTtlMs: 30_000 }),
  complete: (db, leases) => completeJobs(db, q, leases),
}
const pairsVariant = (token: string, type: string): Omit<Variant, 'name'> => ({
  claim: async (db) => {
    const { rows } = await db.query<{ id: string; lease_token: string }>(claimText(token), claimArgs)
    return rows.map((r) => ({ id: r.id, leaseToken: r.lease_token }))
  },
  complete: (db, leases) => db.query(pairsComplete(type), [leases.map((l) => l.id), leases.map((l) => l.leaseToken)]),
})

const startedRows: Omit<Variant, 'name'> = {
  claim: async (db) => {
    const { rows } = await db.query<{ id: string; lease_token: string }>(kStartedRowClaim, claimArgs)
    return rows.map((r) => ({ id: r.id, leaseToken: r.lease_token }))
  },
  complete: (db, leases) => db.query(kStartedRowComplete, [leases.map((l) => l.id), leases.map((l) => l.leaseToken)]),
}

const variants: Variant[] = [
  { name: 'now', ...now },
  {
    name: 'JSON claim',
    claim: async (db) => {
      const { rows } = await db.query<{ jobs: string | null }>(kJsonClaim, claimArgs)
      const tuples = JSON.parse(rows[0]?.jobs ?? '[]') as [string, string][]
      return tuples.map(([id, leaseToken]) => ({ id, leaseToken }))
    },
    complete: now.complete,
  },
  { name: 'pairs', ...pairsVariant(kSequenceToken, 'bigint') },
  {
    name: 'uuid tokens',
    setup: `ALTER TABLE ${q}.jobs ALTER COLUMN lease_token TYPE uuid USING NULL`,
    ...pairsVariant('gen_random_uuid()', 'uuid'),
  },
  { name: "a 'started' row per claim (before migration 8)", ...startedRows },
  { name: 'now, no event primary key', setup: `ALTER TABLE ${q}.job_events DROP CONSTRAINT job_events_pkey`, ...now },
  { name: 'now, no jobs_leases', setup: `DROP INDEX ${q}.jobs_leases`, ...now },
]

interface Side {
  v: Variant
  claimer: Connection
  acker: Connection
  pids: [number, number]
  cpu: [number, number]
  ms: number
  pending: LeaseRef[]
}

/** One connection with a dispatcher session, its statements prepared as the dispatcher's are. */
interface Connection {
  pool: pg.Pool
  db: Queryable
}

async function connect(url: string, session: string): Promise<[Connection, number]> {
  const pool = openActorPool(url, 1, 'statement-variants', session)
  const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return [{ pool, db: preparedQueryable(pool) }, rows[0]?.pid ?? 0]
}

const server = await openServer()
const sides: Side[] = []
try {
  for (const [i, v] of variants.entries()) {
    const url = await server.createDatabase(`statement_variants_${i}`)
    await (await JobQueue.connect({ pg: url })).close()
    const [claimer, cp] = await connect(url, DISPATCHER_SESSION_SQL.claim)
    const [acker, ap] = await connect(url, DISPATCHER_SESSION_SQL.ack)
    if (v.setup !== undefined) await claimer.pool.query(v.setup)
    sides.push({ v, claimer, acker, pids: [cp, ap], cpu: [0, 0], ms: 0, pending: [] })
  }
  const items = Array.from({ length: 1000 }, () => ({ name: 'noop', args: {} }))
  const lines = [
    `${n} jobs, claims of ${batch}, µs per job: backend CPU of the claim and of the completion, wall time of both calls`,
    '',
  ]
  lines.push('| variant | round | claim CPU | completion CPU | wall |', '|---|---:|---:|---:|---:|')
  for (let round = 1; round <= rounds; round++) {
    for (const s of sides) {
      await s.claimer.pool.query(`TRUNCATE ${q}.jobs, ${q}.job_events RESTART IDENTITY`)
      for (let i = 0; i < n; i += 1000) await insertJobs(s.claimer.db, q, items)
      await s.claimer.pool.query(`VACUUM ANALYZE ${q}.jobs, ${q}.job_events`)
      s.cpu = [0, 0]
      s.ms = 0
    }
    const open = new Set(sides)
    while (open.size > 0) {
      for (const s of [...open]) {
        const t = performance.now()
        const c0 = cpuMicros(`/proc/${s.pids[0]}/stat`)
        const claimed = await s.v.claim(s.claimer.db)
        s.cpu[0] += cpuMicros(`/proc/${s.pids[0]}/stat`) - c0
        const a0 = cpuMicros(`/proc/${s.pids[1]}/stat`)
        if (s.pending.length > 0) await s.v.complete(s.acker.db, s.pending)
        s.cpu[1] += cpuMicros(`/proc/${s.pids[1]}/stat`) - a0
        s.ms += performance.now() - t
        s.pending = claimed
        if (claimed.length === 0) open.delete(s)
      }
    }
    for (const s of sides)
      lines.push(
        `| ${s.v.name} | ${round} | ${(s.cpu[0] / n).toFixed(2)} | ${(s.cpu[1] / n).toFixed(2)} | ${((s.ms * 1000) / n).toFixed(2)} |`,
      )
  }
  process.stdout.write(`${lines.join('\n')}\n`)
} finally {
  for (const s of sides) await Promise.all([s.claimer.pool.end(), s.acker.pool.end()])
  await server.close()
}
