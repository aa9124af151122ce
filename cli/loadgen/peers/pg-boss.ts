/**
 * pg-boss as a peer of the `jobs` workload, configured for throughput: `useListenNotify: true`, a
 * queue with `{ notify: true }`, `work()` with `batchSize: --concurrency`, `localConcurrency: 1`,
 * `burstWhenBatchFull: true`, `pollingIntervalSeconds: 0.5`; `insert` in chunks of 1,000 (bulk) or
 * one `send` per job (`--rate`), in a schema of its own (`loadgen_pgboss`, dropped after the round).
 * A job is done when its row is `completed`. The job benchmark (bench/jobs/pgboss.ts) works the same.
 * What it opens goes on a `DisposeStack`: `close()` releases all of it, last opened first, even when a
 * step fails, and once.
 */
import type { PgBoss } from 'pg-boss'
import type * as pgBoss from 'pg-boss'

import { DisposeStack } from '../../../runtime/lifecycle.js'
import { count, dropSchema } from '../sql.js'
import { stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext, TargetFactory } from '../types.js'

type PgBossModule = typeof pgBoss

const kSchema = 'loadgen_pgboss'
const kQueue = 'loadgen'

/** The `work()` options of a throughput run with `concurrency` jobs at once. */
export function pgBossWorkOptions(concurrency: number): {
  batchSize: number
  localConcurrency: number
  pollingIntervalSeconds: number
  burstWhenBatchFull: boolean
} {
  return { batchSize: concurrency, localConcurrency: 1, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true }
}

async function target(lib: PgBossModule, context: TargetContext): Promise<LoadTarget> {
  const url = context.databaseUrl
  await dropSchema(url, kSchema)
  const stack = new DisposeStack()
  stack.defer(() => dropSchema(url, kSchema))
  const boss: PgBoss = new lib.PgBoss({ connectionString: url, schema: kSchema, useListenNotify: true })
  boss.on('error', (error) => process.stderr.write(`pulse loadgen: pg-boss: ${String(error)}\n`))
  stack.defer(() => boss.stop({ graceful: false, timeout: 5_000 }))
  try {
    await boss.start()
    await boss.createQueue(kQueue, { notify: true })
  } catch (error) {
    await stack.disposeAsync().catch(() => undefined)
    throw error
  }
  const done = `SELECT count(*) AS n FROM ${kSchema}.job WHERE name = $1 AND state = 'completed'`
  return {
    batch: 1_000,
    async start(delivered) {
      stack.defer(() => boss.offWork(kQueue).catch(() => undefined))
      await boss.work(kQueue, pgBossWorkOptions(context.concurrency), (jobs) => {
        for (const job of jobs) {
          const t = stampOf(job.data)
          if (t !== undefined) delivered(t)
        }
        return Promise.resolve()
      })
    },
    async send(t, n) {
      if (n === 1) await boss.send(kQueue, { t })
      else
        await boss.insert(
          kQueue,
          Array.from({ length: n }, () => ({ data: { t } })),
        )
    },
    completed: () => count(url, done, [kQueue]),
    close: () => stack.disposeAsync(),
  }
}

export function pgBossTargets(lib: PgBossModule): { jobs: TargetFactory } {
  return { jobs: (context) => target(lib, context) }
}
