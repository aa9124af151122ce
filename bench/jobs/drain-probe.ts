/**
 * Drain probe: the bulk phase alone (20,000 no-op jobs, concurrency 50) for pulse (with a prefetch) and
 * the bare SQL loop, alternating, with the CPU each side used per job: this process (all its threads)
 * and the PostgreSQL server (all its processes, from /proc). On a box shared with other work, CPU per
 * job is steadier than jobs/s.
 *
 *   npx tsx bench/jobs/drain-probe.ts [prefetch] [jobs] [claimBatchMax|-] [rounds]     # OWN_RUNTIME=1: a runtime per phase
 */
import { postgresCpuMicros } from '../lib/proc-cpu.js'
import type { JobsAdapter } from './adapter.js'
import { bareAdapter } from './bare.js'
import { pulseAdapter } from './pulse.js'
import { openServer } from './server.js'

const prefetch = Number(process.argv[2] ?? 0)
const n = Number(process.argv[3] ?? 20_000)
const claimBatchMax = process.argv[4] === undefined || process.argv[4] === '-' ? undefined : Number(process.argv[4])
const rounds = Number(process.argv[5] ?? 3)
const server = await openServer()
try {
  const sides: JobsAdapter[] = [pulseAdapter(await server.createDatabase('probe_drain'), prefetch, { claimBatchMax, ownRuntime: process.env.OWN_RUNTIME === '1' }), bareAdapter(await server.createDatabase('probe_bare'))]
  for (const a of sides) {
    await a.setup()
    await a.bulk(5_000, 50)
  }
  for (let i = 0; i < rounds; i++) {
    for (const a of sides) {
      const cpu0 = process.cpuUsage()
      const pg0 = postgresCpuMicros()
      const r = await a.bulk(n, 50)
      const cpu = process.cpuUsage(cpu0)
      const pgCpu = postgresCpuMicros() - pg0
      const nodeUs = (cpu.user + cpu.system) / n
      process.stderr.write(
        `${a.name} (prefetch ${prefetch}, claimBatchMax ${claimBatchMax ?? 'default'}): e2e ${r.e2e.toFixed(0)} jobs/s, submit ${r.submit.toFixed(0)} jobs/s; CPU per job: node ${nodeUs.toFixed(1)} µs, postgres ${(pgCpu / n).toFixed(1)} µs\n`,
      )
    }
  }
  for (const a of sides) await a.teardown()
} finally {
  await server.close()
}
