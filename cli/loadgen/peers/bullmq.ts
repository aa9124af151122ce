/**
 * BullMQ as a peer of the `jobs` and `sinks` workloads: a `Queue` of its own (obliterated after the
 * round) with `removeOnComplete` / `removeOnFail`, a `Worker` with a no-op processor and
 * `--concurrency`; `addBulk` in chunks of 1,000 (bulk) or one `add` per job (`--rate`). A job is done
 * at the worker's `completed` event. The streaming benchmark (bench/streaming/throughput.ts) connects
 * the same way. What it opens goes on a `DisposeStack`: `close()` releases all of it, last opened first,
 * even when a step fails, and once.
 */
import type { Job, Queue, Worker } from 'bullmq'
import type * as BullMQModule from 'bullmq'

import { DisposeStack } from '../../../runtime/lifecycle.js'
import { stampOf } from '../stamp.js'
import type { LoadTarget, TargetContext, TargetFactory } from '../types.js'

type BullMQ = typeof BullMQModule

export interface BullmqConnection {
  readonly host: string
  readonly port: number
  readonly username?: string
  readonly password?: string
  readonly db: number
  /** What BullMQ requires of a worker's connection. */
  readonly maxRetriesPerRequest: null
}

/** BullMQ's connection options for a `redis://` URL. */
export function bullmqConnection(url: string): BullmqConnection {
  const parsed = new URL(url)
  return {
    host: parsed.hostname,
    port: Number(parsed.port === '' ? 6379 : parsed.port),
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    db: Number(parsed.pathname.slice(1) || 0),
    maxRetriesPerRequest: null,
  }
}

function target(lib: BullMQ, context: TargetContext, workload: string): LoadTarget {
  const connection = bullmqConnection(context.redisUrl)
  const name = `loadgen-${workload}-${context.tag}`
  const stack = new DisposeStack()
  const queue: Queue = new lib.Queue(name, {
    connection,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
  })
  stack.defer(() => queue.close())
  stack.defer(() => queue.obliterate({ force: true }).catch(() => undefined))
  let completed = 0
  return {
    batch: 1_000,
    async start(delivered) {
      await queue.waitUntilReady()
      const process = (job: Job): Promise<void> => {
        const t = stampOf(job.data)
        if (t !== undefined) delivered(t)
        return Promise.resolve()
      }
      const worker: Worker = new lib.Worker(name, process, { connection, concurrency: context.concurrency })
      stack.defer(() => worker.close())
      worker.on('completed', () => completed++)
      await worker.waitUntilReady()
    },
    async send(t, count) {
      if (count === 1) await queue.add('loadgen', { t })
      else await queue.addBulk(Array.from({ length: count }, () => ({ name: 'loadgen', data: { t } })))
    },
    completed: () => Promise.resolve(completed),
    close: () => stack.disposeAsync(),
  }
}

export function bullmqTargets(lib: BullMQ): { jobs: TargetFactory; sinks: TargetFactory } {
  return {
    jobs: (context) => Promise.resolve(target(lib, context, 'jobs')),
    sinks: (context) => Promise.resolve(target(lib, context, 'sinks')),
  }
}
