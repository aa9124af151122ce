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
  commonDestination,
  endSend,
  endSpan,
  extractContext,
  injectCarrier,
  runInExtracted,
  runInSpan,
  type SendTrace,
  type Span,
  startProcess,
  startSendTrace,
} from '../../runtime/tracing.js'
import type { ClaimedJob } from '../../transports/postgres/jobs/hot-path.js'

export type { SendTrace }

export function startEnqueue(name: string): SendTrace {
  return startSendTrace(name)
}

export function startEnqueueMany(jobs: readonly { readonly name: string }[]): SendTrace {
  return startSendTrace(commonDestination(jobs.map((job) => job.name)), jobs.length)
}

/** Ends a send span once its insert settled: with the job's id (a single enqueue), or the error. */
export const endEnqueue = endSend

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
