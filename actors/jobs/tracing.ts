/**
 * The job queue's spans (helpers and attribute names in runtime/tracing.ts):
 *
 *   send <name>      PRODUCER, per `enqueue` and per `enqueueMany` call (a batch: `send` alone when its
 *                    jobs have several names, `messaging.batch.message_count`), in the caller's context
 *   process <name>   CONSUMER, per attempt, a new trace linked to the send; the handler runs in it
 *
 * The send's context goes into the job row (`trace_context`, migration 11), comes back with the claim
 * and crosses to the worker with the job. Without an SDK the span context is invalid: the inserts keep
 * their statements (without the column), the claim returns a NULL, and a batch without any trace context
 * sends no column of them across the ring.
 */
import {
  ATTR,
  endSpan,
  extractContext,
  injectCarrier,
  injectContext,
  runInExtracted,
  runInSpan,
  type Span,
  startProcess,
  startSend,
} from '../../runtime/tracing.js'
import type { ClaimedJob } from '../../transports/postgres/jobs/hot-path.js'

/** The send span of one enqueue call and the trace context its jobs carry (undefined: none). */
export interface SendTrace {
  readonly span: Span
  readonly traceContext: string | undefined
}

export function startEnqueue(name: string): SendTrace {
  const span = startSend(name)
  return { span, traceContext: injectContext(span) }
}

export function startEnqueueMany(jobs: readonly { readonly name: string }[]): SendTrace {
  const first = jobs[0]?.name
  const one = first !== undefined && jobs.every((job) => job.name === first)
  const span = startSend(one ? first : undefined, jobs.length)
  return { span, traceContext: injectContext(span) }
}

/** Ends a send span once its insert settled: with the job's id (a single enqueue), or the error. */
export function endEnqueue(span: Span, outcome: { id: string | undefined } | { error: unknown }): void {
  if ('error' in outcome) {
    endSpan(span, outcome.error)
    return
  }
  if (outcome.id !== undefined && span.isRecording()) span.setAttribute(ATTR.messageId, outcome.id)
  endSpan(span)
}

/** The `process` span of an attempt of `job`, linked to its enqueue's span when the row carried one. */
export function startAttempt(job: ClaimedJob): Span {
  const span = startProcess(job.name, extractContext(job.traceContext))
  if (span.isRecording()) {
    span.setAttribute(ATTR.messageId, job.id)
    span.setAttribute(ATTR.jobAttempt, job.attempt)
  }
  return span
}

/** Runs the handler inside the attempt's span. */
export const runAttempt = runInSpan

/** Ends an attempt's span: with the error that failed it (its code or name as `error.type`), if any. */
export function endAttempt(span: Span, error: Error | undefined): void {
  endSpan(span, error)
}

/** The attempt's context for a handler on a pool thread (`runInCarrier` there), or undefined without an SDK. */
export function threadCarrier(span: Span): Record<string, string> | undefined {
  return injectCarrier(span)
}

/** On a pool thread: runs the handler in the attempt's context, as this thread's propagator reads it. */
export const runInCarrier = runInExtracted
