/**
 * The `jobs` workload on Pulse: a `JobQueue` in a schema of its own (`pulse_loadgen`, made fresh for
 * each round and dropped after it), a no-op handler, `enqueueMany` in chunks of 1,000 (bulk) or one
 * `enqueue` per job (`--rate`); a job is done at its durable completion (the `completed` event). What it
 * opens goes on a `DisposeStack`: `close()` releases all of it, even when a step fails, and once.
 */
import { JobQueue } from '../../../actors/jobs/index.js'
import { DisposeStack } from '../../../runtime/lifecycle.js'
import { dropSchema } from '../sql.js'
import { type Stamped, stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext } from '../types.js'

export const kPulseJobsSchema = 'pulse_loadgen'
const kName = 'loadgen'

export async function pulseJobs(context: TargetContext): Promise<LoadTarget> {
  const url = context.databaseUrl
  await dropSchema(url, kPulseJobsSchema)
  const stack = new DisposeStack()
  stack.defer(() => dropSchema(url, kPulseJobsSchema))
  const queue = stack.use(await JobQueue.connect({ pg: url, schema: kPulseJobsSchema, actor: 'pulse loadgen' }))
  let completed = 0
  return {
    batch: 1_000,
    async start(delivered) {
      queue.register(kName, (args: Stamped) => {
        const t = stampOf(args)
        if (t !== undefined) delivered(t)
      })
      queue.events.on('completed', () => completed++)
      await queue.start({ concurrency: context.concurrency, runtime: await context.runtime() })
    },
    async send(t, count) {
      if (count === 1) await queue.enqueue(kName, { t })
      else await queue.enqueueMany(Array.from({ length: count }, () => ({ name: kName, args: { t } })))
    },
    completed: () => Promise.resolve(completed),
    close: () => stack.disposeAsync(),
  }
}
