/**
 * Herd probe: what idle replicas cost each job. R workers on one schema (`JobQueue.start` on one shared
 * runtime, so their dispatchers share a jobs thread), a producer of single enqueues at a steady rate;
 * per job, PostgreSQL's CPU (every server process, from /proc) and the database's committed transactions
 * (`pg_stat_database`), with enqueue → start latency. Every idle worker claims on every insert's NOTIFY,
 * so the transactions per job grow with R while the jobs do not.
 *
 *   npx tsx bench/jobs/herd-probe.ts [rate=200] [seconds=5] [replicas=1,4,8] [rounds=2]     # DATABASE_URL or a LocalPostgres of its own
 */
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/queue.js'
import { Runtime } from '../../runtime/runtime.js'
import { postgresCpuMicros } from '../lib/proc-cpu.js'
import { openServer } from './server.js'
import { LatencyRecorder, paced } from './steady.js'

const rate = Number(process.argv[2] ?? 200)
const seconds = Number(process.argv[3] ?? 5)
const replicas = (process.argv[4] ?? '1,4,8').split(',').map(Number)
const rounds = Number(process.argv[5] ?? 2)
const kWarmupSeconds = 0.5

/** Transactions the current database committed so far. */
async function commits(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()',
  )
  return Number(rows[0]?.n ?? 0)
}

const server = await openServer()
const runtime = await Runtime.start()
try {
  process.stdout.write(
    '| round | replicas | PostgreSQL CPU µs/job | transactions/job | enqueue → start p50 ms | p99 ms |\n|---|---|---|---|---|---|\n',
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
        const commits0 = await commits(admin)
        const cpu0 = postgresCpuMicros()
        const result = await paced(
          { rate, warmupSeconds: kWarmupSeconds, seconds, concurrency: 10 },
          recorder,
          (args) => producer.enqueue('noop', args),
        )
        const cpu = postgresCpuMicros() - cpu0
        const jobs = rate * (kWarmupSeconds + seconds)
        const xacts = (await commits(admin)) - commits0
        process.stdout.write(
          `| ${round} | ${r} | ${(cpu / jobs).toFixed(0)} | ${(xacts / jobs).toFixed(2)} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} |\n`,
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
