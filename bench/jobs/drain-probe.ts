/**
 * Drain probe: the bulk phase alone (20,000 no-op jobs, concurrency 50) for pulse (with a prefetch) and
 * the bare SQL loop, alternating, with the CPU each side used per job, and where it went: each thread of
 * this process and each PostgreSQL backend (named by its application and last statement, sampled every
 * 20 ms while it lives), from /proc. On a box shared with other work, CPU per job is steadier than
 * jobs/s. Also the share of both cores that was busy (from /proc/stat) over the phase.
 *
 *   npx tsx bench/jobs/drain-probe.ts [prefetch] [jobs] [claimBatchMax|-] [rounds]     # OWN_RUNTIME=1: a runtime per phase
 */
import { readdirSync, readFileSync } from 'node:fs'

import pg from 'pg'

import { cpuMicros, postgresCpuMicros, postgresPids } from '../lib/proc-cpu.js'
import type { JobsAdapter } from './adapter.js'
import { bareAdapter } from './bare.js'
import { pulseAdapter } from './pulse.js'
import { openServer } from './server.js'

const prefetch = Number(process.argv[2] ?? 0)
const n = Number(process.argv[3] ?? 20_000)
const claimBatchMax = process.argv[4] === undefined || process.argv[4] === '-' ? undefined : Number(process.argv[4])
const rounds = Number(process.argv[5] ?? 3)

const threadCpu = (): Map<string, number> => new Map(readdirSync('/proc/self/task').map((t) => [t, cpuMicros(`/proc/self/task/${t}/stat`)]))
function threadName(tid: string): string {
  try {
    return `${readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()} ${tid}`
  } catch {
    return tid
  }
}
/** Busy and total ticks of all CPUs so far. */
function cpuTicks(): { busy: number; total: number } {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
  const total = fields.reduce((a, b) => a + b, 0)
  return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total }
}

/** Per-backend CPU while `run` runs: backends come and go with the phase, so they are sampled. */
async function backendCpu<T>(admin: pg.Client, run: () => Promise<T>): Promise<{ result: T; backends: Map<string, number> }> {
  const first = new Map(postgresPids().map((p) => [p, cpuMicros(`/proc/${p}/stat`)]))
  const last = new Map<number, number>()
  const labels = new Map<number, string>()
  const sample = (): void => {
    for (const p of postgresPids()) {
      if (!first.has(p)) first.set(p, 0)
      last.set(p, cpuMicros(`/proc/${p}/stat`))
    }
    void admin
      .query<{ pid: number; label: string }>(
        "SELECT pid, concat_ws(' ', nullif(application_name, ''), backend_type, left(regexp_replace(query, '\\s+', ' ', 'g'), 32)) AS label FROM pg_stat_activity",
      )
      .then(({ rows }) => rows.forEach((r) => labels.set(r.pid, r.label)))
      .catch(() => undefined)
  }
  const timer = setInterval(sample, 20)
  try {
    const result = await run()
    sample()
    const backends = new Map<string, number>()
    for (const [p, us] of last) {
      const label = labels.get(p) ?? `pid ${p}`
      backends.set(label, (backends.get(label) ?? 0) + us - (first.get(p) ?? 0))
    }
    return { result, backends }
  } finally {
    clearInterval(timer)
  }
}

const server = await openServer()
const admin = new pg.Client({ connectionString: server.url('postgres') })
try {
  await admin.connect()
  const sides: JobsAdapter[] = [pulseAdapter(await server.createDatabase('probe_drain'), prefetch, { claimBatchMax, ownRuntime: process.env.OWN_RUNTIME === '1' }), bareAdapter(await server.createDatabase('probe_bare'))]
  for (const a of sides) {
    await a.setup()
    await a.bulk(5_000, 50)
  }
  const perJob = (us: number): string => `${(us / n).toFixed(1)} µs`
  for (let i = 0; i < rounds; i++) {
    for (const a of sides) {
      const cpu0 = process.cpuUsage()
      const threads0 = threadCpu()
      const pg0 = postgresCpuMicros()
      const ticks0 = cpuTicks()
      const { result: r, backends } = await backendCpu(admin, () => a.bulk(n, 50))
      const ticks1 = cpuTicks()
      const cpu = process.cpuUsage(cpu0)
      const pgCpu = postgresCpuMicros() - pg0
      const threads = [...threadCpu()].map(([t, us]) => [threadName(t), us - (threads0.get(t) ?? 0)] as const)
      const busy = (100 * (ticks1.busy - ticks0.busy)) / Math.max(1, ticks1.total - ticks0.total)
      const top = (entries: Iterable<readonly [string, number]>): string =>
        [...entries]
          .filter(([, us]) => us / n >= 0.5)
          .sort((x, y) => y[1] - x[1])
          .map(([k, us]) => `${k}: ${perJob(us)}`)
          .join('; ')
      process.stderr.write(
        `${a.name} (prefetch ${prefetch}, claimBatchMax ${claimBatchMax ?? 'default'}): e2e ${r.e2e.toFixed(0)} jobs/s, submit ${r.submit.toFixed(0)} jobs/s; CPU per job: node ${perJob(cpu.user + cpu.system)}, postgres ${perJob(pgCpu)} (with the clean-up before the phase); both cores ${busy.toFixed(0)}% busy\n` +
          `    threads: ${top(threads)}\n    backends: ${top(backends)}\n`,
      )
    }
  }
  for (const a of sides) await a.teardown()
} finally {
  await admin.end().catch(() => undefined)
  await server.close()
}
