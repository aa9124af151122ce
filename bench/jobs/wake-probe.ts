/**
 * Wake probe: what NOTIFY's broadcast costs with several workers on one queue. Single enqueues at a
 * steady rate (paced by a timer, not awaited in sequence), 1, 4 and 8 workers (concurrency 50 each, one
 * process, one runtime); transactions per job from `pg_stat_database` (read a second after the last job
 * started, when the backends have reported). The workers that lose the race for a woken job each send
 * an empty claim.
 *
 *   npx tsx bench/jobs/wake-probe.ts [rate=1000] [jobs=3000] [workers=1,4,8] [rounds=2]     # DATABASE_URL or a LocalPostgres of its own
 */
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/queue.js'
import { Runtime } from '../../runtime/runtime.js'
import { cleanPulse, kPulseSchema } from './pulse.js'
import { openServer, pollUntil } from './server.js'

const rate = Number(process.argv[2] ?? 1000)
const n = Number(process.argv[3] ?? 3000)
const workerCounts = (process.argv[4] ?? '1,4,8').split(',').map(Number)
const rounds = Number(process.argv[5] ?? 2)

const server = await openServer()
const url = await server.createDatabase('probe_wake')
const runtime = await Runtime.start()
const admin = new pg.Client({ connectionString: url })
const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
try {
  await admin.connect()
  const transactions = async (): Promise<number> =>
    Number(
      (
        await admin.query<{ n: string }>(
          'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()',
        )
      ).rows[0]?.n,
    )
  const results = new Map<number, string[]>(workerCounts.map((w) => [w, []]))
  for (let round = 0; round < rounds; round++) {
    for (const workers of workerCounts) {
      await cleanPulse(url).catch(() => undefined)
      const queues: JobQueue[] = []
      let started = 0
      try {
        for (let w = 0; w < workers; w++) {
          const q = await JobQueue.connect({ pg: url, schema: kPulseSchema })
          queues.push(q)
          q.register('noop', () => void started++)
          await q.start({ concurrency: 50, runtime })
        }
        await settle(1_100) // start-up statements reported before the count starts
        const x0 = await transactions()
        const producer = queues[0] as JobQueue
        const t0 = performance.now()
        const pending: Promise<unknown>[] = []
        for (let i = 0; i < n; i++) {
          pending.push(producer.enqueue('noop', {}))
          const wait = t0 + (i * 1000) / rate - performance.now()
          if (wait > 1) await settle(wait)
        }
        await Promise.all(pending)
        await pollUntil(() => Promise.resolve(started >= n), 30_000)
        await settle(1_100) // backends report their counters at most once a second while busy
        results.get(workers)?.push((((await transactions()) - x0) / n).toFixed(2))
      } finally {
        for (const q of queues) await q.close()
      }
    }
  }
  const lines = [
    `${n} single enqueues at ${rate}/s; transactions per job, ${rounds} rounds`,
    '',
    '| workers | transactions per job |',
    '|---:|---|',
  ]
  for (const [workers, values] of results) lines.push(`| ${workers} | ${values.join(' / ')} |`)
  process.stdout.write(`${lines.join('\n')}\n`)
} finally {
  await admin.end().catch(() => undefined)
  await runtime.close()
  await server.close()
}
