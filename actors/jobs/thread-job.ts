/**
 * The trampoline a `HandlerPool` thread runs for a job handler registered with `thread: { module }`:
 * it imports the user's module (once per thread: `import()` caches it) and calls the export with the
 * same `(args, job)` signature as a handler on the caller's event loop.
 *
 * In a thread, `job.signal` aborts as it does elsewhere (lease lost, `timeoutMs`, shutdown), and
 * `job.heartbeat()` resolves at once: leases are renewed by the watchdog whatever the handler does.
 * `job.progress()` needs the caller's pool and rejects here; report progress from a handler on the
 * event loop instead.
 *
 * With `trace` (the attempt's `process` span, injected on the caller's thread), the handler runs in
 * that span's context as the thread's propagator reads it: the spans it makes nest under the attempt
 * when the module installs an SDK in this thread (a thread has none of the caller's).
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { runInCarrier } from './tracing.js'

export interface ThreadJobPayload {
  module: string
  export: string
  args: unknown
  job: { id: string; name: string; attempt: number; maxAttempts: number; priority: number }
  /** The attempt's trace context (a propagation carrier); absent without an SDK. */
  trace?: Record<string, string>
}

type JobFunction = (args: unknown, job: unknown) => unknown

export async function runJob(payload: ThreadJobPayload, { signal }: { signal: AbortSignal }): Promise<unknown> {
  const namespace = (await import(payload.module)) as Record<string, unknown>
  const fn = namespace[payload.export]
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(`job handler module ${payload.module} has no function export "${payload.export}"`, {
      data: { module: payload.module, export: payload.export },
    })
  }
  const job = {
    ...payload.job,
    signal,
    heartbeat: () => Promise.resolve(),
    progress: () => Promise.reject(new InvalidArgumentError('job.progress() is not available in a thread handler')),
  }
  return runInCarrier(payload.trace, () => (fn as JobFunction)(payload.args, job))
}
