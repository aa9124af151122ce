/** Jobs in the states the dashboard's pages show, made with the hot path's own statements (no worker). */
import type { JobQueue } from '../../../actors/jobs/index.js'
import { kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { claimJobs, failJobs } from '../../../transports/postgres/jobs/hot-path.js'

/** `n` dead jobs named `name` (one attempt by 'worker-7', failed with a stack), in id order. */
export async function deadJobs(
  queue: JobQueue,
  name: string,
  n: number,
  args: (i: number) => unknown = (i) => ({ i }),
): Promise<string[]> {
  const ids = await queue.enqueueMany(Array.from({ length: n }, (_, i) => ({ name, args: args(i), maxAttempts: 1 })))
  const { db, q } = queue[kJobQueueInternals]
  const claimed = await claimJobs(db, q, { owner: 'worker-7', names: [name], limit: n, leaseTtlMs: 30_000 })
  const error = { name: 'Error', message: 'smtp down', stack: 'Error: smtp down\n    at send (mail.js:1:1)' }
  await failJobs(
    db,
    q,
    claimed.map((job) => ({ ...job, error, retryAt: undefined })),
  )
  return ids
}

/** A job named `name`, claimed by `owner`: running. */
export async function runningJob(queue: JobQueue, name: string, owner: string): Promise<string> {
  const id = await queue.enqueue(name, {})
  const { db, q } = queue[kJobQueueInternals]
  await claimJobs(db, q, { owner, names: [name], limit: 1, leaseTtlMs: 30_000 })
  return id
}

/** Sets when job `id` was created (to search by time). */
export async function setCreatedAt(queue: JobQueue, id: string, at: string): Promise<void> {
  await queue[kJobQueueInternals].db.query(`UPDATE pulse.jobs SET created_at = $2 WHERE id = $1`, [id, at])
}
