/**
 * The streaming feature's spans (helpers and attribute names in runtime/tracing.ts):
 *
 *   send <stream>      PRODUCER, per `add` and per `addMany` call (`messaging.batch.message_count`), in
 *                      the caller's context
 *   process <stream>   CONSUMER, per event a reader's or sink's subscription takes, a new trace linked to
 *                      the add; it ends when that subscription asks for its next event or leaves (an
 *                      iterator: the consumer's loop body is not run inside it)
 *
 * The add's context travels in the entry's `x` field (transports/redis/streaming/entry.ts), to a sink
 * across the ring in its batch's `traces`, and stays with the event object here (a WeakMap: an event
 * without one costs nothing).
 */
import { ATTR, endSend, extractContext, type Span, startProcess, startSendTrace } from '../../runtime/tracing.js'
import type { SinkEvent, StreamEvent } from './event.js'

const kTraces = new WeakMap<StreamEvent, string>()

/** Keeps the trace context an event's entry carried (none: nothing kept). */
export function keepTrace(event: StreamEvent, trace: string | null | undefined): void {
  if (trace !== null && trace !== undefined) kTraces.set(event, trace)
}

/** The send span of an add (or of an `addMany`: `batch` events) and the trace context its entries carry. */
export function startAdd(stream: string, batch?: number): { span: Span; trace: string | undefined } {
  const { span, traceContext } = startSendTrace(stream, batch)
  return { span, trace: traceContext }
}

/** Ends an add's span: with the entry id of a single add (none when `onlyIfExists` added nothing), or the error. */
export const endAdd = endSend

/** The `process` span of a delivery (`Fanout.onTake`): linked to the add's span when the entry carried one. */
export function startDelivery(event: StreamEvent | SinkEvent): Span {
  const span = startProcess(event.streamName, extractContext(kTraces.get(event)))
  if (span.isRecording()) {
    span.setAttribute(ATTR.messageId, event.id)
    if ('sinkName' in event) span.setAttribute(ATTR.consumerGroup, event.sinkName)
  }
  return span
}
