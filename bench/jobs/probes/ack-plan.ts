/**
 * Ack plan probe: the completion statement (`completeJobs`) by batch size, on the dispatcher's two ack
 * sessions — planned per execution (`ack`, `force_custom_plan`) and on the generic plan (`smallAck`) —
 * one connection, one statement at a time, the two sessions alternating per batch size. Wall time and
 * the backend's CPU (from /proc) per statement: where planning costs more than comparing each acked row
 * with every token, which sets the dispatcher's `kGenericAckMax`.
 *
 *   npx tsx bench/jobs/probes/ack-plan.ts [statements=200] [rounds=2]     # DATABASE_URL or a LocalPostgres of its own
 *
 * `statements` per batch size and session: the CPU figure is good to 10 ms over all of them (/proc ticks).
 */
import { DISPATCHER_SESSION_SQL } from '../../../actors/jobs/dispatcher.actor.js'
import { claimJobs, completeJobs, type LeaseRef } from '../../../transports/postgres/jobs/hot-path.js'
import { preparedStatement, type Queryable, quoteSchema } from '../../../transports/postgres/jobs/queryable.js'
import { cpuMicros } from '../../lib/proc-cpu.js'
import { openServer, pulseProbeClient } from '../server.js'

const statements = Number(process.argv[2] ?? 200)
const rounds = Number(process.argv[3] ?? 2)
const kBatches = [1, 4, 16, 64, 256, 500]
const kSessions = ['ack', 'smallAck'] as const
const q = quoteSchema('pulse')

const server = await openServer()
try {
  const { client: c, pid } = await pulseProbeClient(server, 'probe_ack_plan')
  const needed = rounds * kSessions.length * kBatches.reduce((sum, batch) => sum + batch * (statements + 1), 0)
  await c.query(`INSERT INTO ${q}.jobs (name, args) SELECT 'work', '{}' FROM generate_series(1, ${needed})`)
  await c.query(`VACUUM ANALYZE ${q}.jobs`)
  const db: Queryable = { query: (text, values) => c.query(preparedStatement(text, values)) }
  process.stdout.write(
    '| batch | session | round | wall µs/statement | backend CPU µs/statement |\n|---|---|---|---|---|\n',
  )
  for (let round = 1; round <= rounds; round++) {
    for (const batch of kBatches) {
      for (const session of kSessions) {
        await c.query(DISPATCHER_SESSION_SQL[session])
        const leases: LeaseRef[][] = []
        for (let i = 0; i <= statements; i++)
          leases.push(await claimJobs(c, q, { owner: 'probe', names: ['work'], limit: batch, leaseTtlMs: 60_000 }))
        await completeJobs(db, q, leases.pop() ?? []) // prepares the statement on this session
        const cpu0 = cpuMicros(`/proc/${pid}/stat`)
        const t0 = performance.now()
        for (const batchLeases of leases) await completeJobs(db, q, batchLeases)
        const wall = ((performance.now() - t0) * 1000) / leases.length
        const cpu = (cpuMicros(`/proc/${pid}/stat`) - cpu0) / leases.length
        process.stdout.write(`| ${batch} | ${session} | ${round} | ${wall.toFixed(0)} | ${cpu.toFixed(0)} |\n`)
      }
    }
  }
  await c.end()
} finally {
  await server.close()
}
