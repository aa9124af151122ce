/**
 * Drain probe: the bulk phase alone (20,000 no-op jobs, concurrency 50) for pulse (with a prefetch) and
 * the bare SQL loop, alternating, with the CPU each side used per job, and where it went: each thread of
 * this process and each PostgreSQL backend (named by its application and last statement, sampled every
 * 20 ms while it lives), from /proc. On a box shared with other work, CPU per job is steadier than
 * jobs/s. Also the share of both cores that was busy (from /proc/stat) over the phase.
 *
 *   npx tsx bench/jobs/probes/drain-probe.ts [prefetch] [jobs] [claimBatchMax|-] [rounds] [args: {}|8keys] [sides]     # OWN_RUNTIME=1: a runtime per phase
 *
 * `8keys`: every job's args are an 8-key payload (an array and a nested object among them) instead of `{}`.
 * `sides`: which queues, comma-separated, from pulse, bare, bare+history, bare+history×2 (two loops), graphile, pg-boss (default
 * `pulse,bare`); the peers take `{}` args whatever the fifth argument says.
 */
import pg from 'pg'

import { cpuTicks, postgresCpuMicros } from '../../lib/proc-cpu.js'
import { type JobsAdapter, kEightKeyArgs } from '../adapter.js'
import { backendCpu, perJobList, threadCpu, threadCpuSince } from './backend-cpu.js'
import { bareAdapter } from '../bare.js'
import { graphileAdapter } from '../graphile.js'
import { pgBossAdapter } from '../pgboss.js'
import { pulseAdapter } from '../pulse.js'
import { openServer } from '../server.js'

const prefetch = Number(process.argv[2] ?? 0)
const n = Number(process.argv[3] ?? 20_000)
const claimBatchMax = process.argv[4] === undefined || process.argv[4] === '-' ? undefined : Number(process.argv[4])
const rounds = Number(process.argv[5] ?? 3)
const args = process.argv[6] === '8keys' ? kEightKeyArgs : {}
const sideNames = (process.argv[7] ?? 'pulse,bare').split(',')

const server = await openServer()
const admin = new pg.Client({ connectionString: server.url('postgres') })
try {
  await admin.connect()
  const makers: Record<string, () => Promise<JobsAdapter>> = {
    pulse: async () =>
      pulseAdapter(await server.createDatabase('probe_drain'), prefetch, {
        claimBatchMax,
        ownRuntime: process.env.OWN_RUNTIME === '1',
        args,
      }),
    bare: async () => bareAdapter(await server.createDatabase('probe_bare'), { args }),
    'bare+history': async () => bareAdapter(await server.createDatabase('probe_bare_history'), { history: true, args }),
    'bare+history×2': async () =>
      bareAdapter(await server.createDatabase('probe_bare_history_loops'), { history: true, loops: 2, args }),
    graphile: async () => graphileAdapter(await server.createDatabase('probe_graphile')),
    'pg-boss': async () => pgBossAdapter(await server.createDatabase('probe_pgboss')),
  }
  const sides: JobsAdapter[] = []
  for (const name of sideNames) {
    const make = makers[name]
    if (make === undefined) throw new Error(`unknown side ${name}: one of ${Object.keys(makers).join(', ')}`)
    sides.push(await make())
  }
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
      const threads = threadCpuSince(threads0)
      const busy = (100 * (ticks1.busy - ticks0.busy)) / Math.max(1, ticks1.total - ticks0.total)
      const top = (entries: Map<string, number>): string => perJobList(entries, n).join('; ')
      process.stderr.write(
        `${a.name}${a.name.startsWith('pulse') ? ` (prefetch ${prefetch}, claimBatchMax ${claimBatchMax ?? 'default'})` : ''}: e2e ${r.e2e.toFixed(0)} jobs/s, submit ${r.submit.toFixed(0)} jobs/s; CPU per job: node ${perJob(cpu.user + cpu.system)}, postgres ${perJob(pgCpu)} (with the clean-up before the phase); both cores ${busy.toFixed(0)}% busy\n` +
          `    threads: ${top(threads)}\n    backends: ${top(backends)}\n`,
      )
    }
  }
  for (const a of sides) await a.teardown()
} finally {
  await admin.end().catch(() => undefined)
  await server.close()
}
