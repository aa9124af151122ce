/**
 * The job queue's spans (helpers and attribute names in runtime/tracing.ts):
 *
 *   send <name>      PRODUCER, per `enqueue` and per `enqueueMany` call (a batch: `send` alone when its
 *                    jobs have several names, `messaging.batch.message_count`), in the caller's context
 *   process <name>   CONSUMER, per attempt, a new trace linked to the send; the handler runs in it
 *
 * The send's context goes into the job row, comes back with the claim and crosses to the worker with
 * the job. A carrier that is a W3C `traceparent` alone (the W3C propagator's, without a `tracestate`)
 * is stored as its 25 bytes (`trace_parent`, migration 13) and comes back as their 50 hex digits; any
 * other carrier is stored as JSON (`trace_context`, migration 11) and comes back as that text, as do the
 * rows written before migration 13. Without an SDK the span context is invalid: the inserts keep their
 * statements (without the columns), the claim returns a NULL, and a batch without any trace context
 * sends no column of them across the ring.
 */
import {
  ATTR,
  commonDestination,
  endSend,
  endSpan,
  extractContext,
  injectCarrier,
  parseTraceparent,
  runInExtracted,
  runInSpan,
  type Span,
  type SpanContext,
  startProcess,
  startSend,
} from '../../runtime/tracing.js'
import type { NewJob } from '../../transports/postgres/jobs/enqueue.js'
import type { ClaimedJob } from '../../transports/postgres/jobs/hot-path.js'

/** An enqueue's send span and the trace context its jobs carry: one of the two forms, or none. */
export interface EnqueueTrace {
  readonly span: Span
  /** The `traceparent`'s 25 bytes as `\x` and 50 hex digits (bytea input), when the carrier is that alone. */
  readonly traceParent: string | undefined
  /** Any other carrier, as JSON text. */
  readonly traceContext: string | undefined
}

export function startEnqueue(name: string): EnqueueTrace {
  return enqueueTrace(startSend(name))
}

export function startEnqueueMany(jobs: readonly { readonly name: string }[]): EnqueueTrace {
  return enqueueTrace(startSend(commonDestination(jobs.map((job) => job.name)), jobs.length))
}

/** A W3C `traceparent` of version 00: trace id, span id, flags. */
const kTraceparent00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

function enqueueTrace(span: Span): EnqueueTrace {
  const carrier = injectCarrier(span)
  if (carrier === undefined) return { span, traceParent: undefined, traceContext: undefined }
  const compact = Object.keys(carrier).length === 1 ? kTraceparent00.exec(carrier['traceparent'] ?? '') : null
  if (compact === null) return { span, traceParent: undefined, traceContext: JSON.stringify(carrier) }
  return { span, traceParent: `\\x${compact[1]}${compact[2]}${compact[3]}`, traceContext: undefined }
}

/** Gives `job` its enqueue's trace context, in the form the enqueue has it (none without an SDK). */
export function carryTrace(job: NewJob, send: EnqueueTrace): void {
  if (send.traceParent !== undefined) job.traceParent = send.traceParent
  else if (send.traceContext !== undefined) job.traceContext = send.traceContext
}

/** Ends a send span once its insert settled: with the job's id (a single enqueue), or the error. */
export const endEnqueue = endSend

/** The `process` span of an attempt of `job`, linked to its enqueue's span when the row carried one. */
export function startAttempt(job: ClaimedJob): Span {
  const span = startProcess(job.name, producerContext(job.traceContext))
  if (span.isRecording()) {
    span.setAttribute(ATTR.messageId, job.id)
    span.setAttribute(ATTR.jobAttempt, job.attempt)
  }
  return span
}

let lastHex: string | undefined
let lastContext: SpanContext | undefined

/**
 * The producer's span context in a claimed job's trace context: 50 hex digits (migration 13) or JSON
 * (migration 11). The last hex form read is kept: the jobs of one `enqueueMany` carry the same one and
 * come in a row.
 */
function producerContext(text: string | null): SpanContext | undefined {
  if (text === null || text.startsWith('{')) return extractContext(text)
  if (text === lastHex) return lastContext
  lastContext = parseTraceparent(`00-${text.slice(0, 32)}-${text.slice(32, 48)}-${text.slice(48)}`)
  lastHex = text
  return lastContext
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
