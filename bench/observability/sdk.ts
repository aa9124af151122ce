/**
 * The tracing of bench/observability/cost.ts's "on" phases, installed globally as an application
 * installs an SDK: `BasicTracerProvider` with a `BatchSpanProcessor` and an exporter that drops the
 * spans, the AsyncLocalStorage context manager, and the W3C propagator unless
 * `PULSE_BENCH_NO_PROPAGATOR=1` (then no message carries its producer's context).
 */
import { context, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'

/** What "on" turns on: metrics and tracing, or one of them. */
export type Mode = 'both' | 'metrics' | 'tracing'

const kDropAll: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
}

/** Installs the SDK; resolves the returned function's promise once it is shut down and uninstalled. */
export function installTracing(): () => Promise<void> {
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(kDropAll)] })
  const manager = new AsyncLocalStorageContextManager().enable()
  trace.setGlobalTracerProvider(provider)
  context.setGlobalContextManager(manager)
  if (process.env.PULSE_BENCH_NO_PROPAGATOR !== '1') propagation.setGlobalPropagator(new W3CTraceContextPropagator())
  return async () => {
    await provider.shutdown()
    trace.disable()
    context.disable()
    propagation.disable()
  }
}
