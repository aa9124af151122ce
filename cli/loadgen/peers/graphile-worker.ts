/**
 * graphile-worker as a peer of the `jobs` workload, with the configuration of its documentation's
 * Performance page: `localQueue: { size: 500 }`, `completeJobBatchDelay: 0`, `failJobBatchDelay: 0`,
 * `concurrentJobs: --concurrency`, `maxPoolSize: max(10, concurrency + 2)`; `addJobs` in chunks of
 * 1,000 (bulk) or one `addJob` per job (`--rate`), in a schema of its own (`loadgen_graphile_worker`,
 * dropped after the round). Completed jobs are deleted: a job is done when its row is gone. The job
 * benchmark (bench/jobs/graphile.ts) runs it with the same preset. What it opens goes on a
 * `DisposeStack`: `close()` releases all of it, last opened first, even when a step fails, and once.
 */
import type { Logger, Task, WorkerUtils } from 'graphile-worker'
import type * as GraphileModule from 'graphile-worker'

import { DisposeStack } from '../../../runtime/lifecycle.js'
import { count, dropSchema } from '../sql.js'
import { stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext, TargetFactory } from '../types.js'

type Graphile = typeof GraphileModule

const kSchema = 'loadgen_graphile_worker'

export interface GraphileWorkerPreset {
  connectionString: string
  concurrentJobs: number
  maxPoolSize: number
  localQueue: { size: number }
  completeJobBatchDelay: number
  failJobBatchDelay: number
  logger: Logger
  schema?: string
}

/** The worker preset of a throughput run with `concurrency` jobs at once. */
export function graphileWorkerPreset(url: string, concurrency: number, logger: Logger): GraphileWorkerPreset {
  return {
    connectionString: url,
    concurrentJobs: concurrency,
    maxPoolSize: Math.max(10, concurrency + 2),
    localQueue: { size: 500 },
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
    logger,
  }
}

async function target(lib: Graphile, context: TargetContext): Promise<LoadTarget> {
  const url = context.databaseUrl
  const logger = new lib.Logger(() => () => undefined)
  await dropSchema(url, kSchema)
  const stack = new DisposeStack()
  stack.defer(() => dropSchema(url, kSchema))
  const utils: WorkerUtils = await lib.makeWorkerUtils({ connectionString: url, schema: kSchema, logger })
  stack.defer(() => utils.release())
  await utils.migrate().catch(async (error: unknown) => {
    await stack.disposeAsync().catch(() => undefined)
    throw error
  })
  let added = 0
  const left = `SELECT count(*) AS n FROM ${kSchema}._private_jobs`
  return {
    batch: 1_000,
    async start(delivered) {
      const noop: Task = (payload) => {
        const t = stampOf(payload)
        if (t !== undefined) delivered(t)
      }
      const worker = { ...graphileWorkerPreset(url, context.concurrency, logger), schema: kSchema }
      const runner = await lib.run({ noHandleSignals: true, logger, taskList: { noop }, preset: { worker } })
      stack.defer(() => runner.stop())
    },
    async send(t, n) {
      added += n
      if (n === 1) await utils.addJob('noop', { t })
      else await utils.addJobs(Array.from({ length: n }, () => ({ identifier: 'noop', payload: { t } })))
    },
    completed: async () => added - (await count(url, left)),
    close: () => stack.disposeAsync(),
  }
}

export function graphileTargets(lib: Graphile): { jobs: TargetFactory } {
  return { jobs: (context) => target(lib, context) }
}
