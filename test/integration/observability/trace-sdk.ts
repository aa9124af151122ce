/**
 * The traces tests' SDK: a `BasicTracerProvider` exporting to memory through a `SimpleSpanProcessor`,
 * the AsyncLocalStorage context manager (context follows awaits) and the W3C propagator, registered
 * globally for the file (the library's tracer is taken once) and emptied before each test.
 */
import { context, propagation, type Span, type SpanContext, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, beforeEach, expect } from 'vitest'

export interface TraceSdk {
  /** The spans ended so far (after a flush of the processor). */
  spans(): Promise<ReadableSpan[]>
  /** The one ended span named `name`; throws when there is none or more than one. */
  span(name: string): Promise<ReadableSpan>
  /** Runs `fn` in a new active span `name`, ended when `fn` settles; resolves `fn`'s result and the span. */
  inSpan<T>(name: string, fn: () => Promise<T>): Promise<{ result: T; span: Span }>
}

export function useTraceSdk(): TraceSdk {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager()
  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable())
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    trace.setGlobalTracerProvider(provider)
  })
  beforeEach(() => exporter.reset())
  afterAll(async () => {
    trace.disable()
    propagation.disable()
    context.disable()
    await provider.shutdown()
  })
  const spans = async () => {
    await provider.forceFlush()
    return exporter.getFinishedSpans()
  }
  return {
    spans,
    async span(name) {
      const found = (await spans()).filter((s) => s.name === name)
      if (found.length !== 1) throw new Error(`${found.length} spans named "${name}"`)
      return found[0] as ReadableSpan
    },
    inSpan(name, fn) {
      return trace.getTracer('test').startActiveSpan(name, async (span) => {
        try {
          return { result: await fn(), span }
        } finally {
          span.end()
        }
      })
    },
  }
}

/** `a` and `b` name the same span. */
export function sameSpan(a: SpanContext | undefined, b: SpanContext | undefined): boolean {
  return a !== undefined && b !== undefined && a.traceId === b.traceId && a.spanId === b.spanId
}

/**
 * The one send span `name`: a PRODUCER child of `parent` with the messaging attributes of a send of
 * message `id` to `destination`.
 */
export async function expectSendSpan(
  sdk: TraceSdk,
  name: string,
  parent: Span,
  destination: string,
  id: string,
): Promise<ReadableSpan> {
  const send = await sdk.span(name)
  expect(send.kind).toBe(SpanKind.PRODUCER)
  expect(sameSpan(send.parentSpanContext, parent.spanContext())).toBe(true)
  expect(send.attributes).toEqual({
    'messaging.system': 'pulse',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'send',
    'messaging.destination.name': destination,
    'messaging.message.id': id,
  })
  return send
}

/** `process` is a CONSUMER span of a trace of its own, linked to `send`. */
export function expectLinkedProcess(process: ReadableSpan, send: ReadableSpan): void {
  expect(process.kind).toBe(SpanKind.CONSUMER)
  expect(process.parentSpanContext).toBeUndefined()
  expect(process.links).toHaveLength(1)
  expect(sameSpan(process.links[0]?.context, send.spanContext())).toBe(true)
}
