/**
 * Ack cost against the running jobs of other workers: the dispatcher's completion statement
 * (`completeJobs`, on a connection with the ack session) acking batches of this worker's jobs while
 * another owner holds 0, 2,000 or 20,000 leases, beside the statement as it was before migration 6
 * (it named `status = 'running'`, and the planner read every running row through `jobs_leases`).
 * Each side has a database of its own, loaded alike; the two alternate ack by ack.
 *
 *   npx tsx bench/jobs/ack-scale.ts [batch] [acks]      # DATABASE_URL or a LocalPostgres of its own
 */
import { DISPATCHER_SESSION_SQL } from '../../actors/jobs/dispatcher.actor.js'
import { openActorPool, preparedQueryable } from '../../transports/postgres/jobs/actor-pool.js'
import { JobQueue } from '../../actors/jobs/queue.js'
import { claimJobs, completeJobs, type LeaseRef } from '../../transports/postgres/jobs/hot-path.js'
import { type Queryable, quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { exec, openServer } from './server.js'
import { completionText, kCompletionGuard, swap } from './statement-text.js'

const batch = Number(process.argv[2] ?? 440)
const acks = Number(process.argv[3] ?? 40)
const kOthers = [0, 2_000, 20_000]

const q = quoteSchema('pulse')
/** The completion as it was before migration 6: joined to its pairs, and naming the status. */
const kBefore = swap(
  await completionText(q),
  kCompletionGuard,
  `FROM unnest($1::bigint[], $2::bigint[]) AS r(id, token)\n        WHERE j.id = r.id AND j.lease_token = r.token AND j.status = 'running'`,
)
const server = await openServer()

interface Side {
  name: string
  db: Queryable
  end(): Promise<void>
  ack(leases: readonly LeaseRef[]): Promise<unknown>
  ms: number
}

async function side(name: string, others: number, before: boolean): Promise<Side> {
  const url = await server.createDatabase(`ack_scale_${before ? 'before' : 'now'}`)
  await (await JobQueue.connect({ pg: url })).close()
  await exec(
    url,
    `INSERT INTO ${q}.jobs (name, args) SELECT 'noop', '{}' FROM generate_series(1, ${others + batch * acks})`,
  )
  const pool = openActorPool(url, 1, 'ack-scale', DISPATCHER_SESSION_SQL.ack)
  const db = preparedQueryable(pool)
  if (others > 0) await claimJobs(db, q, { owner: 'others', names: ['noop'], limit: others, leaseTtlMs: 3_600_000 })
  await exec(url, `VACUUM ANALYZE ${q}.jobs`)
  const ack = before
    ? (leases: readonly LeaseRef[]) => db.query(kBefore, [leases.map((l) => l.id), leases.map((l) => l.leaseToken)])
    : (leases: readonly LeaseRef[]) => completeJobs(db, q, leases)
  return { name, db, ack, ms: 0, end: () => pool.end() }
}

try {
  const lines = [
    `acks of ${batch} jobs (${acks} per side), the ack session's plans; µs of wall time per acked job`,
    '',
    "| other workers' running jobs | now | before migration 6 | before ÷ now |",
    '|---:|---:|---:|---:|',
  ]
  for (const others of kOthers) {
    const sides = [await side('now', others, false), await side('before', others, true)]
    for (let i = 0; i < acks; i++) {
      for (const s of sides) {
        const leases = await claimJobs(s.db, q, { owner: 'mine', names: ['noop'], limit: batch, leaseTtlMs: 60_000 })
        const t = performance.now()
        await s.ack(leases)
        s.ms += performance.now() - t
      }
    }
    const [now, before] = sides.map((s) => (s.ms * 1000) / (batch * acks)) as [number, number]
    lines.push(
      `| ${others.toLocaleString('en')} | ${now.toFixed(1)} | ${before.toFixed(1)} | ${(before / now).toFixed(2)}× |`,
    )
    for (const s of sides) await s.end()
  }
  process.stdout.write(`${lines.join('\n')}\n`)
} finally {
  await server.close()
}
