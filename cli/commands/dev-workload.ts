/**
 * The example workload of `pulse dev`: a job queue on the local database with a handler, a batch of
 * jobs at start and a schedule that adds one every few seconds, and a progress line now and then — so
 * that the local deployment shows the queue at work (and `pulse` tools have something to look at).
 */
import { every, JobQueue, type JobQueueOptions } from '../../actors/jobs/index.js'
import type { Runtime } from '../../runtime/index.js'

export interface DemoWorkload {
  close(): Promise<void>
}

const kReportEveryMs = 10_000

export async function startDemoWorkload(
  databaseUrl: string,
  schema: string,
  log: (line: string) => void,
  runtime?: Runtime,
  observers: Pick<JobQueueOptions, 'logger' | 'metrics'> = {},
): Promise<DemoWorkload> {
  const queue = await JobQueue.connect({ pg: databaseUrl, schema, actor: 'pulse dev', ...observers })
  let handled = 0
  queue.register<{ n: number }>('demo:greet', (args, job) => {
    handled++
    return { greeting: `hello #${args.n}`, attempt: job.attempt }
  })
  // On the caller's runtime when given (the dashboard's runtime page shows its actors), else its own.
  await queue.start({ concurrency: 8, ...(runtime === undefined ? {} : { runtime }) })
  await queue.enqueueMany(Array.from({ length: 100 }, (_, n) => ({ name: 'demo:greet', args: { n } })))
  await queue.schedule('demo:greet', { n: -1 }, every(2_000), { name: 'demo:greet every 2 s' })
  log(`workload: a job queue in schema ${schema} runs demo:greet (100 jobs now, then one every 2 s)`)
  const report = setInterval(() => {
    void queue.stats().then(
      (stats) =>
        log(`workload: ${handled} jobs handled here; by status: ${JSON.stringify(stats.byName['demo:greet'] ?? {})}`),
      () => undefined,
    )
  }, kReportEveryMs)
  return {
    async close() {
      clearInterval(report)
      await queue.close()
    },
  }
}
