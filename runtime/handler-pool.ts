/**
 * A pool of threads for user handler code that asks for a thread (CPU-bound work): jobs registered
 * with `thread: { module }`, sinks that encode in bulk. It wraps piscina; what it adds:
 *
 * - **Any module, any export.** One piscina worker module (`handler-worker.ts`) serves every handler:
 *   a task names `{ module, export }`, the thread imports the module once (cached per thread) and calls
 *   `fn(payload, { signal })`.
 * - **Errors keep their class.** The thread answers `{ ok, value | error }` with the error as a `toWire`
 *   record, rebuilt here by `fromWire`: a `LeaseLostError` thrown in the thread is a `LeaseLostError`
 *   with its `code` and `data` here (piscina alone flattens errors: piscinajs/piscina#1143). A module
 *   that fails to load, or lacks the export, rejects with `ActorStartError` (`data: { module, export }`);
 *   the handler did not start, which is what that code means for actors too. A rejection of piscina's
 *   own promise means the thread failed (it exited or crashed): `ActorCrashedError`, and piscina starts
 *   a replacement, so the pool keeps serving.
 * - **Cancellation that does not hurt neighbours.** See the task lifecycle below.
 * - **Spread, then pack.** piscina's default balancer puts a task on a busy thread (up to
 *   `concurrentTasksPerWorker`) before it starts another thread, which serialises CPU-bound handlers
 *   on one core. The balancer here uses an idle thread, else starts a thread (up to `maxThreads`), and
 *   only then shares one.
 * - The close/dispose contract of `lifecycle.ts`, resource tracking, cheap stats (piscina's timing
 *   histograms are off; the thread reports each handler's run time and one HDR histogram records it).
 *
 * Task lifecycle. A task without `signal` or `timeoutMs` is plain: it runs to completion and may share
 * a thread with up to `concurrentTasksPerWorker - 1` others. A cancellable task gets a control word in
 * shared memory (states in handler-worker.ts) and piscina's `signal`, which makes piscina give it a
 * thread of its own, so terminating that thread can only ever hurt that task:
 *
 *   run() ──▶ queued ──a thread starts it──▶ running ──handler settles──▶ resolve / reject (its error)
 *               │                              │
 *               │ abort/timeout                │ abort/timeout: the caller is rejected at once, and
 *               ▼                              ▼ the handler's signal aborts with the same reason
 *           cancelled: the caller is        still running after abortGraceMs: piscina terminates
 *           rejected at once; a thread      its thread (and starts another)
 *           that gets it skips it; still
 *           queued after abortGraceMs:
 *           piscina drops it
 *
 * The caller's promise rejects with the signal's reason, or a `TimeoutError`; it never waits for the
 * thread. A thread that exits while running plain tasks rejects all of them with `ActorCrashedError`
 * (a handler calling `process.exit` takes its thread's other tasks with it).
 *
 * close(): intake stops (`run` rejects `ClosedError`), running and queued tasks finish (aborted ones
 * within `abortGraceMs`), then the threads are stopped. Past `closeTimeoutMs` the pool is destroyed:
 * threads are terminated, pending tasks reject with `ClosedError`, and close() rejects with
 * `CloseTimeoutError`.
 *
 * Defaults: one thread kept warm (minThreads 1); 16 tasks in flight per thread, so a thread never
 * waits idle while a result crosses back to the caller; idle threads above the minimum kept for 60 s;
 * `atomics: 'sync'`; timing off. `maxThreads` is `availableParallelism() - 1` (at least 1): handlers
 * that ask for a thread are CPU-bound, and the main thread needs a core for its event loop. `maxQueue`
 * 10 000 bounds a runaway producer (piscina's default is unbounded). With `atomics: 'sync'` an idle
 * thread blocks in `Atomics.wait`, so anything a handler leaves running after it settles (timers,
 * sockets) is frozen until the thread's next task: handlers await what they start.
 */
import { randomUUID } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'
import { BroadcastChannel, type ResourceLimits } from 'node:worker_threads'

import hdr from 'hdr-histogram-js'
import { Piscina } from 'piscina'

import {
  ActorCrashedError,
  ClosedError,
  coerceError,
  fromWire,
  InvalidArgumentError,
  QueueFullError,
  TimeoutError,
  toWire,
} from './errors.js'
import {
  type AbortMessage,
  type HandlerOutcome,
  type HandlerTask,
  type HandlerWorkerData,
  kTaskCancelled,
  kTaskDone,
  kTaskQueued,
} from './handler-worker.js'
import { Destroyable, onceAsync } from './lifecycle.js'
import {
  checkDurationMs,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkNumber,
  checkSignal,
  checkString,
  resolveOptions,
} from './options.js'
import { trackResource } from './resource-tracker.js'
import { poolWorkerModule } from './thread-boot.js'

/** Which handler to run: an export of a module. */
export interface HandlerRef {
  /** A module URL (`new URL('./resize.js', import.meta.url)`, `import.meta.resolve('pkg/x')`) or an absolute path. */
  module: string | URL
  /** @default 'default' */
  export?: string | undefined
}

export interface HandlerRunOptions {
  /** Cancels the task; `run` rejects with `signal.reason`. */
  signal?: AbortSignal | undefined
  /** Rejects with `TimeoutError` after this many ms (and aborts the handler's signal). */
  timeoutMs?: number | undefined
}

export interface HandlerPoolOptions {
  /** Threads kept running while idle (0: start threads on demand). @default 1 */
  minThreads?: number | undefined
  /** @default max(1, availableParallelism() - 1) */
  maxThreads?: number | undefined
  /** Plain tasks one thread runs at once (their awaits interleave). @default 16 */
  concurrentTasksPerWorker?: number | undefined
  /** How long a thread above `minThreads` stays idle before it stops. @default 60_000 */
  idleTimeoutMs?: number | undefined
  /** Tasks waiting for a thread; `run` rejects `QueueFullError` beyond (`Infinity`: no bound). @default 10_000 */
  maxQueue?: number | undefined
  /** The bound of a graceful `close()`, after which the pool is destroyed. @default 10_000 */
  closeTimeoutMs?: number | undefined
  /** How long an aborted or timed-out handler may keep running before its thread is terminated. @default 1_000 */
  abortGraceMs?: number | undefined
  /** Heap and stack limits of each thread (a thread that exceeds them crashes and is replaced). */
  resourceLimits?: ResourceLimits | undefined
  /**
   * Called with an `ActorCrashedError` when a thread fails while it runs no task (e.g. a handler's stray
   * callback threw after it returned). @default process.emitWarning
   */
  onError?: ((error: Error) => void) | undefined
}

export interface ResolvedHandlerPoolOptions {
  readonly minThreads: number
  readonly maxThreads: number
  readonly concurrentTasksPerWorker: number
  readonly idleTimeoutMs: number
  readonly maxQueue: number
  readonly closeTimeoutMs: number
  readonly abortGraceMs: number
  readonly resourceLimits?: ResourceLimits
  readonly onError?: (error: Error) => void
}

export const DEFAULT_HANDLER_POOL_OPTIONS = {
  minThreads: 1,
  maxThreads: Math.max(1, availableParallelism() - 1),
  concurrentTasksPerWorker: 16,
  idleTimeoutMs: 60_000,
  maxQueue: 10_000,
  closeTimeoutMs: 10_000,
  abortGraceMs: 1_000,
} as const satisfies ResolvedHandlerPoolOptions

export interface HandlerPoolStats {
  /** Threads running or starting. */
  readonly threads: number
  /** Tasks waiting for a thread. */
  readonly queueSize: number
  /** Handlers that ran to the end (returned or threw) since the pool started. */
  readonly completed: number
  /**
   * Handler run time over thread time available since the pool started (piscina's definition). Run
   * times of tasks that share a thread overlap, so it can exceed 1 with async handlers.
   */
  readonly utilization: number
  /** Handler run time, measured in the thread. */
  readonly runTimeUs: { readonly p50: number; readonly p99: number }
}

const kResourceLimitKeys = [
  'maxYoungGenerationSizeMb',
  'maxOldGenerationSizeMb',
  'codeRangeSizeMb',
  'stackSizeMb',
] as const
const kOptionKeys = [...Object.keys(DEFAULT_HANDLER_POOL_OPTIONS), 'resourceLimits', 'onError']
const kWorker = new URL(
  import.meta.url.endsWith('.ts') ? './handler-worker.ts' : './handler-worker.js',
  import.meta.url,
)
/** The HDR histogram's range: 1 µs to 1 h. */
const kMaxRunUs = 3_600_000_000

function noop(): void {}

/**
 * Validates `options` (each failure is an `InvalidArgumentError` naming `<path>.<field>`), applies the
 * defaults and reconciles `minThreads` with `maxThreads`: both given and crossed is an error; one given
 * moves the other's default out of its way.
 */
export function resolveHandlerPoolOptions(
  options: HandlerPoolOptions = {},
  path = 'options',
): Readonly<ResolvedHandlerPoolOptions> {
  checkKnownKeys(options, kOptionKeys, path)
  const { minThreads, maxThreads, maxQueue, resourceLimits, onError } = options
  if (minThreads !== undefined) checkInteger(minThreads, `${path}.minThreads`, { min: 0 })
  if (maxThreads !== undefined) checkInteger(maxThreads, `${path}.maxThreads`, { min: 1 })
  if (options.concurrentTasksPerWorker !== undefined) {
    checkInteger(options.concurrentTasksPerWorker, `${path}.concurrentTasksPerWorker`, { min: 1 })
  }
  if (options.idleTimeoutMs !== undefined) checkDurationMs(options.idleTimeoutMs, `${path}.idleTimeoutMs`)
  if (maxQueue !== undefined && maxQueue !== Number.POSITIVE_INFINITY)
    checkInteger(maxQueue, `${path}.maxQueue`, { min: 1 })
  if (options.closeTimeoutMs !== undefined) checkDurationMs(options.closeTimeoutMs, `${path}.closeTimeoutMs`)
  if (options.abortGraceMs !== undefined) checkDurationMs(options.abortGraceMs, `${path}.abortGraceMs`)
  if (resourceLimits !== undefined) {
    checkKnownKeys(resourceLimits, kResourceLimitKeys, `${path}.resourceLimits`)
    for (const key of kResourceLimitKeys) {
      const value = resourceLimits[key]
      if (value !== undefined) checkNumber(value, `${path}.resourceLimits.${key}`, { min: 0 })
    }
  }
  if (onError !== undefined) checkFunction(onError, `${path}.onError`)

  let min = minThreads ?? DEFAULT_HANDLER_POOL_OPTIONS.minThreads
  let max = maxThreads ?? DEFAULT_HANDLER_POOL_OPTIONS.maxThreads
  if (min > max) {
    if (minThreads !== undefined && maxThreads !== undefined) {
      throw new InvalidArgumentError(`${path}.minThreads (${min}) must be <= ${path}.maxThreads (${max})`, {
        data: { option: `${path}.minThreads` },
      })
    }
    if (minThreads === undefined) min = max
    else max = min
  }
  return resolveOptions<ResolvedHandlerPoolOptions>(DEFAULT_HANDLER_POOL_OPTIONS, {
    ...options,
    minThreads: min,
    maxThreads: max,
  })
}

type PiscinaOptions = NonNullable<ConstructorParameters<typeof Piscina>[0]>
type LoadBalancer = NonNullable<PiscinaOptions['loadBalancer']>
type PoolThread = Parameters<LoadBalancer>[1][number]

/**
 * Spread, then pack: an idle thread if there is one; else, below `maxThreads`, none (piscina then starts
 * a thread and the task waits for it); else the least busy thread with room. A cancellable task only
 * ever gets an idle thread, and a thread running one gets no other task (piscina's own rule: aborting a
 * running task terminates its thread).
 */
function spreadThenPack(maxThreads: number, maxUsage: number): LoadBalancer {
  return (task, threads) => {
    let best: PoolThread | null = null
    for (const thread of threads) {
      if (thread.currentUsage === 0) return thread
      if (task.isAbortable || thread.isRunningAbortableTask || thread.currentUsage >= maxUsage) continue
      if (best === null || thread.currentUsage < best.currentUsage) best = thread
    }
    return threads.length < maxThreads ? null : best
  }
}

/** Normalises `handler` to a module URL and an export name. */
function resolveRef(handler: HandlerRef): { module: string; export: string } {
  if (typeof handler !== 'object' || handler === null) {
    throw new InvalidArgumentError('handler must be an object { module, export? }', { data: { option: 'handler' } })
  }
  const name =
    handler.export === undefined ? 'default' : checkString(handler.export, 'handler.export', { nonEmpty: true })
  if (handler.module instanceof URL) return { module: handler.module.href, export: name }
  const module = checkString(handler.module, 'handler.module', { nonEmpty: true })
  if (isAbsolute(module)) return { module: pathToFileURL(module).href, export: name }
  if (URL.canParse(module)) return { module: new URL(module).href, export: name }
  throw new InvalidArgumentError(`handler.module must be a URL or an absolute path (got ${JSON.stringify(module)})`, {
    data: { option: 'handler.module' },
  })
}

export class HandlerPool extends Destroyable {
  readonly #options: Readonly<ResolvedHandlerPoolOptions>
  readonly #piscina: Piscina<HandlerTask, HandlerOutcome>
  readonly #abortChannel: BroadcastChannel
  readonly #untrack: () => void
  /** Every task piscina holds, as a promise that settles (never rejects) when piscina lets go of it. */
  readonly #tasks = new Set<Promise<void>>()
  readonly #histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: kMaxRunUs,
    numberOfSignificantValueDigits: 2,
  })
  readonly #startedAt = performance.now()
  #nextId = 0
  #completed = 0
  #runUsTotal = 0
  #released = false

  constructor(options: HandlerPoolOptions = {}) {
    const resolved = resolveHandlerPoolOptions(options)
    super({ name: 'handler pool', closeTimeoutMs: resolved.closeTimeoutMs })
    this.#options = resolved
    const boot = poolWorkerModule(kWorker)
    const abortChannel = `pulse:handler-pool:${randomUUID()}`
    this.#piscina = new Piscina<HandlerTask, HandlerOutcome>({
      filename: boot.filename,
      ...(boot.execArgv === undefined ? {} : { execArgv: boot.execArgv }),
      minThreads: resolved.minThreads,
      maxThreads: resolved.maxThreads,
      concurrentTasksPerWorker: resolved.concurrentTasksPerWorker,
      idleTimeout: resolved.idleTimeoutMs,
      atomics: 'sync',
      recordTiming: false,
      // A task the balancer sends back keeps its place at the head of the queue.
      stricterFIFO: true,
      loadBalancer: spreadThenPack(resolved.maxThreads, resolved.concurrentTasksPerWorker),
      workerData: { abortChannel } satisfies HandlerWorkerData,
      ...(resolved.resourceLimits === undefined ? {} : { resourceLimits: resolved.resourceLimits }),
    })
    const onError = resolved.onError ?? ((error: Error) => process.emitWarning(error))
    this.#piscina.on('error', (error: unknown) => {
      onError(
        new ActorCrashedError(`a handler thread failed while running no task: ${coerceError(error).message}`, {
          cause: error,
        }),
      )
    })
    this.#abortChannel = new BroadcastChannel(abortChannel)
    ;(this.#abortChannel as BroadcastChannel & { unref(): void }).unref()
    this.#untrack = trackResource('thread', 'handler pool')
  }

  get options(): Readonly<ResolvedHandlerPoolOptions> {
    return this.#options
  }

  /**
   * Runs `handler` on a pool thread with `payload` (structured-cloned; so is the result). Rejects with
   * the handler's error rebuilt as its class, `ActorStartError` when the module or export cannot be
   * loaded, `ActorCrashedError` when the thread dies, `signal.reason` on abort, `TimeoutError` after
   * `timeoutMs`, `QueueFullError` when `maxQueue` tasks wait, `ClosedError` once closing.
   */
  async run<T = unknown>(handler: HandlerRef, payload: unknown, options: HandlerRunOptions = {}): Promise<T> {
    this.assertOpen('run a handler')
    const ref = resolveRef(handler)
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('options must be an object', { data: { option: 'options' } })
    }
    const signal = options.signal === undefined ? undefined : checkSignal(options.signal, 'options.signal')
    const timeoutMs =
      options.timeoutMs === undefined ? undefined : checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1 })
    signal?.throwIfAborted()
    if (this.#piscina.queueSize >= this.#options.maxQueue) {
      throw new QueueFullError(
        `the handler pool already has maxQueue (${this.#options.maxQueue}) tasks waiting for a thread`,
        {
          data: { maxQueue: this.#options.maxQueue, ...ref },
        },
      )
    }
    const id = ++this.#nextId
    if (signal === undefined && timeoutMs === undefined) {
      const outcome = this.#submit({ id, ...ref, payload }, undefined)
      return outcome.then(
        (result) => this.#unwrap(result) as T,
        (error: unknown) => {
          throw this.#threadFailure(error, ref)
        },
      )
    }
    const control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT))
    const kill = new AbortController()
    const outcome = this.#submit({ id, ...ref, payload, control }, kill.signal)
    return new Promise<T>((resolve, reject) => {
      let done = false
      let timer: NodeJS.Timeout | undefined
      const finish = (): boolean => {
        if (done) return false
        done = true
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        return true
      }
      const giveUp = (reason: Error) => {
        if (!finish()) return
        reject(reason)
        this.#cancel(id, control, kill, reason, outcome)
      }
      // The signal's reason as it is (not necessarily an Error), as `signal.throwIfAborted()` throws it.
      const onAbort = () => giveUp(signal?.reason as Error)
      signal?.addEventListener('abort', onAbort, { once: true })
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          giveUp(
            new TimeoutError(`handler "${ref.export}" of ${ref.module} did not finish within ${timeoutMs} ms`, {
              data: { ...ref, timeoutMs },
            }),
          )
        }, timeoutMs)
      }
      outcome.then(
        (result) => {
          // After a give-up the answer is dropped; its run time still counts.
          if (!finish()) return void this.#record(result)
          try {
            resolve(this.#unwrap(result) as T)
          } catch (error) {
            reject(coerceError(error))
          }
        },
        (error: unknown) => {
          if (finish()) reject(this.#threadFailure(error, ref))
        },
      )
    })
  }

  stats(): HandlerPoolStats {
    const h = this.#histogram
    const elapsedUs = (performance.now() - this.#startedAt) * 1000
    return {
      threads: this.#piscina.threads.length,
      queueSize: this.#piscina.queueSize,
      completed: this.#completed,
      utilization: elapsedUs > 0 ? this.#runUsTotal / (elapsedUs * this.#options.maxThreads) : 0,
      runTimeUs: { p50: h.getValueAtPercentile(50), p99: h.getValueAtPercentile(99) },
    }
  }

  #submit(task: HandlerTask, kill: AbortSignal | undefined): Promise<HandlerOutcome> {
    const outcome = this.#piscina.run(task, kill === undefined ? {} : { signal: kill })
    const held = outcome.then(noop, noop)
    this.#tasks.add(held)
    void held.then(() => this.#tasks.delete(held))
    return outcome
  }

  #record(result: HandlerOutcome): void {
    if (result.runUs <= 0) return
    this.#completed++
    this.#runUsTotal += result.runUs
    this.#histogram.recordValue(Math.min(result.runUs, kMaxRunUs))
  }

  #unwrap(result: HandlerOutcome): unknown {
    this.#record(result)
    if (result.ok) return result.value
    throw fromWire(result.error)
  }

  /**
   * The caller gave up on a task (it has been rejected already): a task not yet started is marked so
   * that the thread skips it; a running one has its handler's signal aborted. Whatever piscina still
   * holds after `abortGraceMs` is killed: dropped from its queue, or its thread terminated (that thread
   * runs nothing else, see `spreadThenPack`). Not killing at once spares a thread that was handed the
   * task but had not started it yet (one still booting, say): it skips the task within microseconds.
   */
  #cancel(
    id: number,
    control: Int32Array,
    kill: AbortController,
    reason: unknown,
    outcome: Promise<HandlerOutcome>,
  ): void {
    if (Atomics.compareExchange(control, 0, kTaskQueued, kTaskCancelled) !== kTaskQueued) {
      if (Atomics.load(control, 0) === kTaskDone || this.#released) return
      this.#abortChannel.postMessage({ id, reason: toWire(reason) } satisfies AbortMessage)
    }
    const grace = setTimeout(() => kill.abort(reason), this.#options.abortGraceMs)
    void outcome.finally(() => clearTimeout(grace)).catch(noop)
  }

  #threadFailure(error: unknown, ref: { module: string; export: string }): Error {
    const err = coerceError(error)
    if (this.state === 'destroyed') {
      return new ClosedError(
        `the handler pool was destroyed while handler "${ref.export}" of ${ref.module} was pending`,
        { cause: err, data: ref },
      )
    }
    if (err.name === 'DataCloneError') {
      return new InvalidArgumentError(`payload cannot be sent to a thread: ${err.message}`, {
        cause: err,
        data: { option: 'payload', ...ref },
      })
    }
    return new ActorCrashedError(
      `the thread running handler "${ref.export}" of ${ref.module} crashed: ${err.message}`,
      { cause: err, data: ref },
    )
  }

  /** Running and queued tasks finish, then the threads stop; see the module comment. */
  protected async onClose(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all(this.#tasks)
    await this.#release()
  }

  /** Terminates the threads now; pending tasks reject with `ClosedError`. */
  protected override onDestroy(): Promise<void> {
    return this.#release()
  }

  readonly #release = onceAsync(async () => {
    this.#released = true
    this.#abortChannel.close()
    try {
      await this.#piscina.destroy()
    } finally {
      this.#untrack()
    }
  })
}
