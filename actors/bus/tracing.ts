/**
 * The bus's spans (helpers and attribute names in runtime/tracing.ts):
 *
 *   send <subject>     PRODUCER, per `put` (a batch: `send <subject>` when its events share one, else
 *                      `send`, with `messaging.batch.message_count`), in the caller's context
 *   process <subject>  CONSUMER, per delivery to a `get` subscription (redeliveries too), a new trace
 *                      linked to the put; it ends when the subscription is asked for its next event or
 *                      ends (an iterator: the consumer's loop body is not run inside it)
 *
 * Inbox subjects (`_bus_.…`: replies, confirmations) get none: a subject per request is request/reply
 * plumbing, not a destination.
 *
 * The put's context travels in the entry's `x` field (transports/redis/bus/entry.ts), not in the
 * record: the reference's `trace_id` is the publisher's own string, kept as given. An event without `x`
 * whose `trace_id` is a W3C `traceparent` (a publisher over HTTP that put its span's there) is linked
 * to that span.
 */
import {
  ATTR,
  commonDestination,
  endSend,
  endSpan,
  extractContext,
  parseTraceparent,
  type SendTrace,
  type Span,
  startProcess,
  startSendTrace,
} from '../../runtime/tracing.js'
import type { BusEntry } from '../../transports/redis/bus/entry.js'

export type PutTrace = SendTrace

export function startPut(subject: string): PutTrace {
  return startSendTrace(subject)
}

export function startPutBatch(events: readonly { readonly subject: string }[]): PutTrace {
  return startSendTrace(commonDestination(events.map((event) => event.subject)), events.length)
}

/** Ends a put's span: with the event id of a single put, or the error. */
export const endPut = endSend

/** The `process` span of a delivery of `entry` to a subscription of `pattern`, linked to its put. */
export function startDelivery(entry: BusEntry, pattern: string): Span {
  const link =
    entry.traceContext !== undefined
      ? extractContext(entry.traceContext)
      : entry.traceId === undefined
        ? undefined
        : parseTraceparent(entry.traceId)
  const span = startProcess(entry.subject, link)
  if (span.isRecording()) {
    span.setAttribute(ATTR.messageId, entry.id)
    span.setAttribute(ATTR.destinationTemplate, pattern)
  }
  return span
}

/** Ends a delivery's span (the consumer moved on). */
export function endDelivery(span: Span): void {
  endSpan(span)
}
