/**
 * The tracing the features share: the tracer, the messaging attribute names, the `send` and `process`
 * spans, and the trace context a message carries from its producer to its consumers.
 *
 * It lives in the kernel because the jobs, streaming and bus features all need it and none may import
 * another; `@opentelemetry/api` is a general-purpose library without I/O, as msgpackr and piscina are
 * here. The library never installs an SDK: without one the tracer is a no-op whose spans do not record
 * and have an invalid span context, so no attributes are set, nothing is injected and no message carries
 * a trace context.
 *
 * Spans follow the OpenTelemetry messaging conventions: `send <destination>` (PRODUCER) in the
 * producer's context, `process <destination>` (CONSUMER) as a new trace linked to the send.
 * `messaging.system` is 'pulse': the messaging (leases, acks, consumer groups, dedup) is Pulse's own
 * protocol, and PostgreSQL and Redis are its storage, which their own instrumentations report as
 * databases.
 *
 * A message's trace context is the carrier the global propagator fills (`propagation.inject`: W3C
 * `traceparent` and `tracestate` with the SDK's defaults), as JSON text.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import {
  type Attributes,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api'

export const TRACER_NAME = 'pulse-runtime'
export const MESSAGING_SYSTEM = 'pulse'

/** The attribute names the spans use (OpenTelemetry semantic conventions, and Pulse's own `pulse.*`). */
export const ATTR = {
  system: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destination: 'messaging.destination.name',
  destinationTemplate: 'messaging.destination.template',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  consumerGroup: 'messaging.consumer.group.name',
  errorType: 'error.type',
  jobAttempt: 'pulse.job.attempt',
} as const

let cachedTracer: Tracer | undefined

/**
 * The library's tracer. Taken once: before an SDK is registered it is the API's proxy, which forwards
 * to the provider registered later.
 */
export function tracer(): Tracer {
  return (cachedTracer ??= trace.getTracer(TRACER_NAME, packageVersion()))
}

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) return '0.0.0'
    dir = parent
  }
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

const kProducer: SpanOptions = { kind: SpanKind.PRODUCER }
const kConsumer: SpanOptions = { kind: SpanKind.CONSUMER, root: true }

/**
 * A `send` span in the active context, for `destination` (undefined: a batch to several, named `send`
 * alone). `batch` is the message count of a batch call, undefined for a single message.
 */
export function startSend(destination: string | undefined, batch?: number): Span {
  const span = tracer().startSpan(destination === undefined ? 'send' : `send ${destination}`, kProducer)
  if (span.isRecording()) {
    const attributes: Attributes = {
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.operationType]: 'send',
      [ATTR.operationName]: 'send',
    }
    if (destination !== undefined) attributes[ATTR.destination] = destination
    if (batch !== undefined) attributes[ATTR.batchCount] = batch
    span.setAttributes(attributes)
  }
  return span
}

/**
 * A `process` span: a new trace (the consumer's work is not part of the producer's), linked to the
 * message's send span when there is one (`link`).
 */
export function startProcess(destination: string, link: SpanContext | undefined): Span {
  const options = link === undefined ? kConsumer : { ...kConsumer, links: [{ context: link }] }
  const span = tracer().startSpan(`process ${destination}`, options)
  if (span.isRecording()) {
    span.setAttributes({
      [ATTR.system]: MESSAGING_SYSTEM,
      [ATTR.operationType]: 'process',
      [ATTR.operationName]: 'process',
      [ATTR.destination]: destination,
    })
  }
  return span
}

/** A send span and the trace context its messages carry (undefined: none to carry). */
export interface SendTrace {
  readonly span: Span
  readonly traceContext: string | undefined
}

/** `startSend` with the context its messages carry. */
export function startSendTrace(destination: string | undefined, batch?: number): SendTrace {
  const span = startSend(destination, batch)
  return { span, traceContext: injectContext(span) }
}

/** The destination a batch's messages share, or undefined when they go to several. */
export function commonDestination(destinations: readonly string[]): string | undefined {
  const first = destinations[0]
  return first !== undefined && destinations.every((d) => d === first) ? first : undefined
}

/** Ends a send span: with the message id of a single send (when known), or the error. */
export function endSend(span: Span, outcome: { id: string | undefined } | { error: unknown }): void {
  if ('error' in outcome) {
    endSpan(span, outcome.error)
    return
  }
  if (outcome.id !== undefined && span.isRecording()) span.setAttribute(ATTR.messageId, outcome.id)
  endSpan(span)
}

/** Ends `span`; with an error, it records `error.type` (the error's code, else its name) and status ERROR. */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined && span.isRecording()) {
    span.setAttribute(ATTR.errorType, errorType(error))
    span.setStatus(
      error instanceof Error ? { code: SpanStatusCode.ERROR, message: error.message } : { code: SpanStatusCode.ERROR },
    )
    if (error instanceof Error) span.recordException(error)
  }
  span.end()
}

function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown }
    if (typeof code === 'string' && code !== '') return code
    if (typeof name === 'string' && name !== '') return name
  }
  return '_OTHER'
}

/** Runs `fn` with `span` active (a `process` span: spans made inside nest under it). */
export function runInSpan<T>(span: Span, fn: () => T): T {
  if (!isSpanContextValid(span.spanContext())) return fn()
  return context.with(trace.setSpan(ROOT_CONTEXT, span), fn)
}

/** Runs `fn` in the context a carrier holds (as the global propagator reads it); directly without one. */
export function runInExtracted<T>(carrier: Readonly<Record<string, string>> | undefined, fn: () => T): T {
  if (carrier === undefined) return fn()
  return context.with(propagation.extract(ROOT_CONTEXT, carrier), fn)
}

/**
 * `span`'s context as the global propagator writes it (`base` adds its baggage), or undefined when
 * there is none to carry: no SDK (an invalid span context) or no propagator (nothing written).
 */
export function injectCarrier(span: Span, base = context.active()): Record<string, string> | undefined {
  if (!isSpanContextValid(span.spanContext())) return undefined
  const carrier: Record<string, string> = {}
  propagation.inject(trace.setSpan(base, span), carrier)
  for (const _key in carrier) return carrier
  return undefined
}

/** The trace context a message carries: `injectCarrier` as JSON text. */
export function injectContext(span: Span): string | undefined {
  const carrier = injectCarrier(span)
  return carrier === undefined ? undefined : JSON.stringify(carrier)
}

let lastText: string | undefined
let lastContext: SpanContext | undefined

/**
 * The producer's span context in a message's trace context (JSON text); undefined when there is none or
 * it does not parse. The last one read is kept: the jobs of one `enqueueMany` (and the events of one
 * `addMany`) carry the same text and come in a row.
 */
export function extractContext(text: string | null | undefined): SpanContext | undefined {
  if (text === null || text === undefined || text === '') return undefined
  if (text === lastText) return lastContext
  lastContext = parseContext(text)
  lastText = text
  return lastContext
}

function parseContext(text: string): SpanContext | undefined {
  let carrier: unknown
  try {
    carrier = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof carrier !== 'object' || carrier === null || Array.isArray(carrier)) return undefined
  return extractCarrier(carrier as Record<string, unknown>)
}

/** The span context in a carrier: by the global propagator, else its W3C `traceparent` read here. */
function extractCarrier(carrier: Readonly<Record<string, unknown>>): SpanContext | undefined {
  const extracted = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, carrier))
  if (extracted !== undefined && isSpanContextValid(extracted)) return extracted
  const traceparent = carrier['traceparent']
  return typeof traceparent === 'string' ? parseTraceparent(traceparent) : undefined
}

const kTraceparent = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/**
 * A W3C `traceparent` (`00-<trace id>-<span id>-<flags>`) as a remote span context, or undefined. Read
 * here too, so that a link does not depend on the consumer's propagator.
 */
export function parseTraceparent(text: string): SpanContext | undefined {
  const match = kTraceparent.exec(text.trim())
  if (match === null) return undefined
  const [, version, traceId, spanId, flags, rest] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ]
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined
  const spanContext: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true }
  return isSpanContextValid(spanContext) ? spanContext : undefined
}

export type { Span, SpanContext }
