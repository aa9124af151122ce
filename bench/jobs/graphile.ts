/**
 * graphile-worker 0.18.0 with the configuration its documentation's Performance page gives (the load
 * generator's preset, cli/loadgen/peers/graphile-worker.ts: `localQueue: { size: 500 }`, no batch
 * delays, `concurrentJobs: C`, `maxPoolSize: max(10, C + 2)`); `addJobs` in chunks of 1,000 / `addJob`.
 * Completed jobs are deleted: durable completion = `_private_jobs` polled empty (every 20 ms).
 */
import { Logger, makeWorkerUtils, run, type Runner, type Task, type WorkerUtils } from 'graphile-worker'
import pg from 'pg'

import { graphileWorkerPreset } from '../../cli/loadgen/peers/graphile-worker.js'
import { type BulkResult, type JobsAdapter, type SteadyOptions, type SteadyResult, startCpuReading } from './adapter.js'
import { exec, pollUntil } from './server.js'
import { LatencyRecorder, paced } from './steady.js'

const silent = new Logger(() => () => undefined)

export function graphileAdapter(url: string): JobsAdapter {
  let utils: WorkerUtils | undefined
  let probe: pg.Client | undefined

  async function clean(): Promise<void> {
    await exec(url, 'TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues CASCADE')
    await exec(url, 'VACUUM ANALYZE graphile_worker._private_jobs')
  }

  function start(concurrency: number, noop: Task): Promise<Runner> {
    return run({
      noHandleSignals: true,
      logger: silent,
      taskList: { noop },
      preset: { worker: graphileWorkerPreset(url, concurrency, silent) },
    })
  }

  return {
    name: 'graphile-worker',
    async setup() {
      utils = await makeWorkerUtils({ connectionString: url, logger: silent })
      await utils.migrate()
      probe = new pg.Client({ connectionString: url })
      await probe.connect()
    },
    async bulk(n: number, concurrency: number): Promise<BulkResult> {
      const u = utils as WorkerUtils
      const client = probe as pg.Client
      await clean()
      const runner = await start(concurrency, () => undefined)
      try {
        const spec = Array.from({ length: 1000 }, () => ({ identifier: 'noop', payload: {} }))
        const t0 = performance.now()
        const cpu = startCpuReading()
        for (let sent = 0; sent < n; sent += 1000) await u.addJobs(sent + 1000 <= n ? spec : spec.slice(0, n - sent))
        const submitted = performance.now()
        const t1 = await pollUntil(async () => {
          const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM graphile_worker._private_jobs')
          return rows[0]?.n === '0'
        }, 120_000)
        return { e2e: (n * 1000) / (t1 - t0), submit: (n * 1000) / (submitted - t0), drainCpu: cpu() }
      } finally {
        await runner.stop()
      }
    },
    async steady(options: SteadyOptions): Promise<SteadyResult> {
      const u = utils as WorkerUtils
      await clean()
      const recorder = new LatencyRecorder()
      const runner = await start(options.concurrency, (payload) => recorder.onStart(payload))
      try {
        return await paced(options, recorder, (args) => u.addJob('noop', args))
      } finally {
        await runner.stop()
      }
    },
    async teardown() {
      await probe?.end()
      await utils?.release()
    },
  }
}
