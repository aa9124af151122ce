/**
 * Steady probe: pulse alone at a steady rate (the steady phase of the suite: single enqueues paced by a
 * 1 ms timer), with enqueue → handler-start percentiles and where the CPU went, per job: this process's
 * threads, and each PostgreSQL process (backends named by the statement they last ran), from /proc.
 * Also transactions and insert statements per job (the NOTIFY trigger's calls, `track_functions`); the
 * other transactions are claims, acks and the LISTEN connection's reads of the notification queue.
 *
 *   npx tsx bench/jobs/steady-probe.ts [rate=1000] [seconds=5] [prefetch=0]     # DATABASE_URL or a LocalPostgres of its own
 */
import { readdirSync } from 'node:fs'

import pg from 'pg'

import { cpuMicros, postgresPids } from '../lib/proc-cpu.js'
import { pulseAdapter } from './pulse.js'
import { exec, openServer } from './server.js'

const rate = Number(process.argv[2] ?? 1000)
const seconds = Number(process.argv[3] ?? 5)
const prefetch = Number(process.argv[4] ?? 0)

function threadCpu(): Map<string, number> {
  return new Map(readdirSync('/proc/self/task').map((t) => [t, cpuMicros(`/proc/self/task/${t}/stat`)]))
}

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
  const transactions = (): Promise<number> => count('SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()')
  const inserts = (): Promise<number> => count("SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_user_functions WHERE funcname = 'notify_jobs'")
  const [tx0, ins0] = [await transactions(), await inserts()]
  // Backends come and go with the phase's queue: sample their CPU and last statement while they live.
  const first = new Map(postgresPids().map((p) => [p, cpuMicros(`/proc/${p}/stat`)]))
  const last = new Map<number, number>()
  const labels = new Map<number, string>()
  const sample = (): void => {
    for (const p of postgresPids()) {
      if (!first.has(p)) first.set(p, 0)
      last.set(p, cpuMicros(`/proc/${p}/stat`))
    }
    void admin
      .query<{ pid: number; label: string }>("SELECT pid, coalesce(nullif(left(query, 40), ''), backend_type) AS label FROM pg_stat_activity")
      .then(({ rows }) => rows.forEach((r) => labels.set(r.pid, r.label.replace(/\s+/g, ' '))))
  }
  const threads0 = threadCpu()
  const sampler = setInterval(sample, 100)
  const result = await adapter.steady({ rate, warmupSeconds: 1, seconds, concurrency: 50 })
  clearInterval(sampler)
  const threads1 = threadCpu()
  const jobs = rate * (seconds + 1)
  await new Promise((r) => setTimeout(r, 1000)) // backends report their counters when they go idle
  const tx = ((await transactions()) - tx0) / jobs
  const ins = ((await inserts()) - ins0) / jobs
  const perJob = (us: number): string => `${(us / jobs).toFixed(0)} µs/job`
  const lines = [
    `rate ${rate}/s for ${seconds} s (+1 s warm-up), prefetch ${prefetch}: enqueue → start p50 ${result.p50.toFixed(2)} ms, p95 ${result.p95.toFixed(2)}, p99 ${result.p99.toFixed(2)}; enqueue p50 ${result.enqueueP50.toFixed(2)} ms; not started ${result.missing}`,
    `per job: transactions ${tx.toFixed(3)} (inserts ${ins.toFixed(3)}, others ${(tx - ins).toFixed(3)})`,
  ]
  const nodeThreads = [...threads1].map(([t, us]) => [t, us - (threads0.get(t) ?? 0)] as const).filter(([, us]) => us / jobs >= 5)
  for (const [t, us] of nodeThreads.sort((a, b) => b[1] - a[1])) lines.push(`  node thread ${t}: ${perJob(us)}`)
  let total = 0
  const backends = [...first].map(([p, us0]) => [p, Math.max(cpuMicros(`/proc/${p}/stat`), last.get(p) ?? 0) - us0] as const)
  for (const [p, us] of backends.sort((a, b) => b[1] - a[1])) {
    total += us
    if (us / jobs >= 1) lines.push(`  postgres ${p} (${labels.get(p) ?? '?'}): ${perJob(us)}`)
  }
  lines.push(`node total: ${perJob(nodeThreads.reduce((a, [, us]) => a + us, 0))}; postgres total: ${perJob(total)}`)
  process.stdout.write(lines.join('\n') + '\n')
  await admin.end()
  await adapter.teardown()
} finally {
  await server.close()
}
