/** The jobs traces tests' database and queues, and how a job row stores its enqueue's trace context. */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll } from 'vitest'

import { JobQueue } from '../../../actors/jobs/index.js'
import { kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'

/** Runs `fn` with a queue on the file's database (polls every 50 ms, retries after 10 ms), closed after. */
export type WithQueue = (fn: (queue: JobQueue) => Promise<void>) => Promise<void>

/** A database for the test file (made before its tests, dropped after), and `withQueue` on it. */
export function useQueueDatabase(): WithQueue {
  let db: TestDatabase | undefined
  beforeAll(async () => {
    db = await createTestDatabase()
  })
  afterAll(async () => {
    await db?.drop()
  })
  return async (fn) => {
    if (db === undefined) throw new Error('useQueueDatabase: the database is made in beforeAll')
    const queue = await JobQueue.connect({ pg: db.url, pollIntervalMs: 50, backoff: 10 })
    try {
      await fn(queue)
    } finally {
      await queue.close()
    }
  }
}

export interface StoredTrace {
  /** `trace_parent` (migration 13) in hex. */
  parent: string | null
  /** `trace_context` (migration 11), parsed. */
  json: unknown
}

/** Job `id`'s stored trace context. */
export async function storedTrace(queue: JobQueue, id: string): Promise<StoredTrace | undefined> {
  const { rows } = await queue[kJobQueueInternals].pool.pool.query<StoredTrace>(
    "SELECT encode(trace_parent, 'hex') AS parent, trace_context AS json FROM pulse.jobs WHERE id = $1",
    [id],
  )
  return rows[0]
}

/** What a job enqueued in `send` stores when the carrier is its `traceparent` alone: its 25 bytes. */
export function compactOf(send: ReadableSpan): StoredTrace {
  const { traceId, spanId } = send.spanContext()
  return { parent: `${traceId}${spanId}01`, json: null }
}
