/**
 * What a worker runs: the handler of a job name, what it gets besides the job's args (`JobContext`),
 * how it is registered (`RegisterOptions`) and the registration a worker keeps per name: its handler,
 * its own concurrency and timeout, the module of a thread handler, and its attempts running and
 * waiting now (attempts.ts keeps `running + waiting ≤ concurrency` per name).
 */
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkDurationMs, checkFunction, checkInteger, checkKnownKeys, checkString } from '../../runtime/options.js'

/** What a handler gets besides its args. `id` + `attempt` make an idempotency key. */
export interface JobContext {
  readonly id: string
  readonly name: string
  /** 1 on the first delivery. */
  readonly attempt: number
  readonly maxAttempts: number
  readonly priority: number
  /**
   * Aborts when this attempt should stop: its lease was lost (`LeaseLostError`), it overran
   * `timeoutMs` (`JobTimeoutError`), or the worker is shutting down past its bound (`ClosedError`).
   * Its result is discarded then.
   */
  readonly signal: AbortSignal
  /** Stores `value` as the job's progress (fenced by the lease) and fires 'progress'. Bound: it works taken off `job`. */
  readonly progress: (value: number) => Promise<void>
  /** Renews the lease now (optional: the watchdog renews it anyway); rejects `LeaseLostError` if lost. Bound, as `progress`. */
  readonly heartbeat: () => Promise<void>
}

export type JobHandler<Args = unknown> = (args: Args, job: JobContext) => unknown

export interface ThreadHandlerRef {
  /** The module that exports the handler (`new URL('./resize.js', import.meta.url)` or an absolute path). */
  module: URL | string
  /** @default 'default' */
  export?: string
}

export interface RegisterOptions {
  /** Attempts of this name running at once on this worker, within the worker's `concurrency`. @default unbounded */
  concurrency?: number | undefined
  /** An attempt running longer fails with `JobTimeoutError` and its signal aborts. @default none */
  timeoutMs?: number | undefined
  /**
   * Run the handler on a `HandlerPool` thread (CPU-bound work): the export named here, with the same
   * `(args, job)` signature; args and result are structured-cloned. `job.progress()` is not available
   * there. @default false (the caller's event loop)
   */
  thread?: false | ThreadHandlerRef | undefined
}

/** A registered name: its handler and limits, and its attempts on this worker now. */
export interface Registration {
  readonly name: string
  readonly fn: JobHandler | undefined
  readonly concurrency: number
  readonly timeoutMs: number | undefined
  readonly thread: { module: string; export: string } | undefined
  /** Attempts of this name running. */
  running: number
  /** Held jobs of this name waiting for a slot. */
  waiting: number
}

/**
 * The registration of `name` from `register`'s arguments, checked (the caller has checked `name` and
 * that it is not registered yet).
 */
export function registration(name: string, fn: JobHandler | undefined, options: RegisterOptions): Registration {
  checkKnownKeys(options, ['concurrency', 'timeoutMs', 'thread'])
  const concurrency =
    options.concurrency === undefined
      ? Number.POSITIVE_INFINITY
      : checkInteger(options.concurrency, 'options.concurrency', { min: 1 })
  const timeoutMs =
    options.timeoutMs === undefined ? undefined : checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1 })
  const thread = options.thread === undefined || options.thread === false ? undefined : checkThreadRef(options.thread)
  if (thread === undefined) checkFunction(fn, 'fn')
  return { name, fn, concurrency, timeoutMs, thread, running: 0, waiting: 0 }
}

function checkThreadRef(value: unknown): { module: string; export: string } {
  if (typeof value !== 'object' || value === null)
    throw new InvalidArgumentError('options.thread must be false or { module, export? }', {
      data: { option: 'options.thread' },
    })
  checkKnownKeys(value, ['module', 'export'], 'options.thread')
  const { module, export: name } = value as ThreadHandlerRef
  let href: string
  if (module instanceof URL) href = module.href
  else if (typeof module === 'string' && isAbsolute(module)) href = pathToFileURL(module).href
  else if (typeof module === 'string' && URL.canParse(module)) href = new URL(module).href
  else
    throw new InvalidArgumentError('options.thread.module must be a URL or an absolute path', {
      data: { option: 'options.thread.module' },
    })
  return {
    module: href,
    export: name === undefined ? 'default' : checkString(name, 'options.thread.export', { nonEmpty: true }),
  }
}
