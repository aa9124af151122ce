/** Shared by the job queue's storage tests: a queue on the file's database, raw clients, names. */
import { randomUUID } from 'node:crypto'

import pg from 'pg'

import { JobQueue, type JobQueueOptions } from '../../../actors/jobs/index.js'
import { type JobQueueInternals, kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { poolerOptions } from '../../helpers/postgres.js'

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`
}

export function internals(queue: JobQueue): JobQueueInternals {
  return queue[kJobQueueInternals]
}

/**
 * Runs `fn` with a queue on `url` (closed afterwards, whatever happens); through PgBouncer, with what
 * the queue needs there (`poolerOptions`).
 */
export async function withQueue<T>(
  url: string,
  fn: (queue: JobQueue, ctx: JobQueueInternals) => Promise<T>,
  options: Omit<JobQueueOptions, 'pg'> = {},
): Promise<T> {
  const queue = await JobQueue.connect({ pg: url, ...poolerOptions(url), ...options })
  try {
    return await fn(queue, internals(queue))
  } finally {
    await queue.close()
  }
}

/** Runs `fn` with `n` connected `pg.Client`s (ended afterwards). */
export async function withClients<T>(url: string, n: number, fn: (clients: pg.Client[]) => Promise<T>): Promise<T> {
  const clients = Array.from({ length: n }, () => new pg.Client({ connectionString: url }))
  try {
    await Promise.all(clients.map((c) => c.connect()))
    return await fn(clients)
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
  }
}

/** The `type`s of a job's history, in order. */
export async function historyTypes(queue: JobQueue, id: string): Promise<string[]> {
  const job = await queue.getJob(id)
  return job?.history.map((e) => e.type) ?? []
}
