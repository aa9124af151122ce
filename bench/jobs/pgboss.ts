/**
 * pg-boss 12.38.0 configured for throughput: `useListenNotify: true`, queue `{ notify: true }`,
 * `work()` with the load generator's options (cli/loadgen/peers/pg-boss.ts: `batchSize: C`,
 * `localConcurrency: 1`, `burstWhenBatchFull: true`, `pollingIntervalSeconds: 0.5`); `insert` in chunks
 * of 1,000 / `send`. Durable completion = the queue's rows in state 'completed' polled (every 20 ms) up
 * to n.
 */
import { PgBoss } from 'pg-boss'
import pg from 'pg'

import { pgBossWorkOptions } from '../../cli/loadgen/peers/pg-boss.js'
import { type BulkResult, type JobsAdapter, type SteadyOptions, type SteadyResult, startCpuReading } from './adapter.js'
import { exec, pollUntil } from './server.js'
import { LatencyRecorder, paced } from './steady.js'

const kQueue = 'noop'

export function pgBossAdapter(url: string): JobsAdapter {
  let boss: PgBoss | undefined
  let probe: pg.Client | undefined

  async function clean(b: PgBoss): Promise<void> {
    await b.deleteQueue(kQueue).catch(() => undefined)
    await b.createQueue(kQueue, { notify: true })
    await exec(url, 'VACUUM ANALYZE pgboss.job')
  }

  function work(b: PgBoss, concurrency: number, onJob: (data: unknown) => void): Promise<string> {
    return b.work(kQueue, pgBossWorkOptions(concurrency), (jobs) => {
      for (const job of jobs) onJob(job.data)
      return Promise.resolve()
    })
  }

  return {
    name: 'pg-boss',
    async setup() {
      boss = new PgBoss({ connectionString: url, useListenNotify: true })
      boss.on('error', (error) => process.stderr.write(`  pg-boss error: ${String(error)}\n`))
      await boss.start()
      probe = new pg.Client({ connectionString: url })
      await probe.connect()
    },
    async bulk(n: number, concurrency: number): Promise<BulkResult> {
      const b = boss as PgBoss
      const client = probe as pg.Client
      await clean(b)
      await work(b, concurrency, () => undefined)
      try {
        const jobs = Array.from({ length: 1000 }, () => ({ data: {} }))
        const t0 = performance.now()
        const cpu = startCpuReading()
        for (let sent = 0; sent < n; sent += 1000)
          await b.insert(kQueue, sent + 1000 <= n ? jobs : jobs.slice(0, n - sent))
        const submitted = performance.now()
        const t1 = await pollUntil(async () => {
          const { rows } = await client.query<{ n: string }>(
            `SELECT count(*) AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'`,
            [kQueue],
          )
          return Number(rows[0]?.n) >= n
        }, 180_000)
        return { e2e: (n * 1000) / (t1 - t0), submit: (n * 1000) / (submitted - t0), drainCpu: cpu() }
      } finally {
        await b.offWork(kQueue)
      }
    },
    async steady(options: SteadyOptions): Promise<SteadyResult> {
      const b = boss as PgBoss
      await clean(b)
      const recorder = new LatencyRecorder()
      await work(b, options.concurrency, (data) => recorder.onStart(data))
      try {
        return await paced(options, recorder, (args) => b.send(kQueue, args))
      } finally {
        await b.offWork(kQueue)
      }
    },
    async teardown() {
      await probe?.end()
      await boss?.stop({ graceful: false, timeout: 5_000 })
    },
  }
}
