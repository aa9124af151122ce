/** How a job row stores its enqueue's trace context, read back for the traces tests. */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'

import type { JobQueue } from '../../../actors/jobs/index.js'
import { kJobQueueInternals } from '../../../actors/jobs/internal.js'

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
