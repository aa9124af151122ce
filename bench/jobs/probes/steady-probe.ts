/**
 * Steady probe: pulse alone at a steady rate (the steady phase of the suite: single enqueues paced by a
 * 1 ms timer), with enqueue → handler-start percentiles and where the CPU went, per job: this process's
 * threads, and each PostgreSQL process (backends named by the statement they last ran), from /proc.
 * Also transactions and insert statements per job (the NOTIFY trigger's calls, `track_functions`); the
 * other transactions are claims, acks and the LISTEN connection's reads of the notification queue.
 *
 *   npx tsx bench/jobs/probes/steady-probe.ts [rate=1000] [seconds=5] [prefetch=0]     # DATABASE_URL or a LocalPostgres of its own
 */
import pg from 'pg'

import { backendCpu, perJobList, threadCpu, threadCpuSince } from './backend-cpu.js'
import { pulseAdapter } from '../pulse.js'
import { exec, openServer } from '../server.js'

const rate = Number(process.argv[2] ?? 1000)
const seconds = Number(process.argv[3] ?? 5)
const prefetch = Number(process.argv[4] ?? 0)

const server = await openServer()
try {
  const url = await server.createDatabase('probe_steady')
  await exec(url, "ALTER DATABASE probe_steady SET track_functions = 'pl'")
  const adapter = pulseAdapter(url, prefetch)
  await adapter.setup()
  await adapter.steady({ rate, warmupSeconds: 0.5, seconds: 1, concurrency: 50 }) // warms the code up
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  const count = async (sql: string): Promise<number> => Number((await admin.query<{ n: string }>(sql)).rows[0]?.n)
  const transactions = (): Promise<number> =>
    count('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')
  const inserts = (): Promise<number> =>
    count("SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_user_functions WHERE funcname = 'notify_jobs'")
  const [tx0, ins0] = [await transactions(), await inserts()]
  const threads0 = threadCpu()
  const { result, backends } = await backendCpu(
    admin,
    () => adapter.steady({ rate, warmupSeconds: 1, seconds, concurrency: 50 }),
    100,
  )
  const threads = threadCpuSince(threads0)
  const jobs = rate * (seconds + 1)
  await new Promise((r) => setTimeout(r, 1000)) // backends report their counters when they go idle
  const tx = ((await transactions()) - tx0) / jobs
  const ins = ((await inserts()) - ins0) / jobs
  const perJob = (us: number): string => `${(us / jobs).toFixed(0)} µs/job`
  const lines = [
    `rate ${rate}/s for ${seconds} s (+1 s warm-up), prefetch ${prefetch}: enqueue → start p50 ${result.p50.toFixed(2)} ms, p95 ${result.p95.toFixed(2)}, p99 ${result.p99.toFixed(2)}; enqueue p50 ${result.enqueueP50.toFixed(2)} ms; not started ${result.missing}`,
    `per job: transactions ${tx.toFixed(3)} (inserts ${ins.toFixed(3)}, others ${(tx - ins).toFixed(3)})`,
  ]
  for (const line of perJobList(threads, jobs, 5)) lines.push(`  node thread ${line}`)
  for (const line of perJobList(backends, jobs, 1)) lines.push(`  postgres ${line}`)
  const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0)
  lines.push(`node total: ${perJob(sum(threads))}; postgres backends total: ${perJob(sum(backends))}`)
  process.stdout.write(lines.join('\n') + '\n')
  await admin.end()
  await adapter.teardown()
} finally {
  await server.close()
}
