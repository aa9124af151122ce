/**
 * Herd probe: what idle replicas cost each job. R workers on one schema (`JobQueue.start` on one shared
 * runtime, so their dispatchers share a jobs thread), a producer of single enqueues at a steady rate;
 * per job, PostgreSQL's CPU (every server process, from /proc) and the database's committed and rolled
 * back transactions (`pg_stat_database`), with enqueue → start latency. An insert's NOTIFY wakes one
 * worker (the waker, actors/jobs/wakes.ts), so the transactions per job should not grow with R.
 *
 *   npx tsx bench/jobs/probes/herd-probe.ts [rate=200] [seconds=5] [replicas=1,4,8] [rounds=2]     # DATABASE_URL or a LocalPostgres of its own
 */
import pg from 'pg'

import { JobQueue } from '../../../actors/jobs/queue.js'
import { Runtime } from '../../../runtime/runtime.js'
import { postgresCpuMicros } from '../../lib/proc-cpu.js'
import { openServer } from '../server.js'
import { LatencyRecorder, paced } from '../steady.js'

const rate = Number(process.argv[2] ?? 200)
const seconds = Number(process.argv[3] ?? 5)
const replicas = (process.argv[4] ?? '1,4,8').split(',').map(Number)
const rounds = Number(process.argv[5] ?? 2)
const kWarmupSeconds = 0.5

/**
 * Transactions the current database committed and rolled back so far. The statistics are flushed by
 * each backend at most once a second, so a reading first waits that long.
 */
async function xacts(client: pg.Client): Promise<{ commits: number; rollbacks: number }> {
  await new Promise((resolve) => setTimeout(resolve, 1_100))
  await client.query('SELECT pg_stat_clear_snapshot()')
  const { rows } = await client.query<{ c: string; r: string }>(
    'SELECT xact_commit AS c, xact_rollback AS r FROM pg_stat_database WHERE datname = current_database()',
  )
  return { commits: Number(rows[0]?.c ?? 0), rollbacks: Number(rows[0]?.r ?? 0) }
}

const server = await openServer()
const runtime = await Runtime.start()
try {
  process.stdout.write(
    `| rate/s | round | replicas | PostgreSQL CPU µs/job | transactions/job | rollbacks/job | enqueue → start p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|\n`,
  )
  for (let round = 1; round <= rounds; round++) {
    for (const r of replicas) {
      const url = await server.createDatabase(`probe_herd_${r}`)
      const producer = await JobQueue.connect({ pg: url })
      const workers: JobQueue[] = []
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      try {
        const recorder = new LatencyRecorder()
        for (let i = 0; i < r; i++) {
          const worker = await JobQueue.connect({ pg: url })
          workers.push(worker)
          worker.register('noop', (args) => recorder.onStart(args))
          await worker.start({ concurrency: 10, runtime })
        }
        const x0 = await xacts(admin)
        const cpu0 = postgresCpuMicros()
        const result = await paced(
          { rate, warmupSeconds: kWarmupSeconds, seconds, concurrency: 10 },
          recorder,
          (args) => producer.enqueue('noop', args),
        )
        const cpu = postgresCpuMicros() - cpu0
        const jobs = rate * (kWarmupSeconds + seconds)
        const x1 = await xacts(admin)
        const commits = (x1.commits - x0.commits) / jobs
        const rollbacks = (x1.rollbacks - x0.rollbacks) / jobs
        process.stdout.write(
          `| ${rate} | ${round} | ${r} | ${(cpu / jobs).toFixed(0)} | ${commits.toFixed(2)} | ${rollbacks.toFixed(2)} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} |\n`,
        )
      } finally {
        await admin.end()
        for (const worker of workers) await worker.close()
        await producer.close()
      }
    }
  }
} finally {
  await runtime.close()
  await server.close()
}
