/**
 * `JobWorker`: the execution side of the job queue, on the caller's thread. It runs the handlers; the
 * protocol work runs in three actors on a runtime thread of their own (`pulse-jobs:<schema>`): the
 * dispatcher (claims and acks), the watchdog (lease renewal and reaping) and the scheduler.
 *
 * A job's way through a worker:
 *
 *   claimed by the dispatcher (one credit spent; from now on the watchdog renews its lease)
 *     └─▶ received ──a slot free (global and per name)──▶ running ──settles──▶ result sent ──acked──▶ events
 *           │  (else waiting, in claim order)                │      (slot + credit back)   (with the next claim)
 *           │ lease lost: dropped (credit back)               │ lease lost: signal aborts (LeaseLostError),
 *           │ close: released at once                         │   result discarded (credit back when it settles)
 *           ▼                                                 │ timeoutMs: signal aborts (JobTimeoutError), the
 *        released (fail, retry now)                           │   attempt fails at once
 *                                                             │ close bound passed: signal aborts (ClosedError),
 *                                                             ▼   released (retry now)
 *                                                 its slot comes back when the handler's promise settles
 *
 * Backpressure. The worker grants the dispatcher `concurrency + prefetch` credits (the claim window:
 * prefetch `'auto'`, the default, sizes itself from the handlers' run time, claim-window.ts). A job
 * holds its credit from its claim until its handler settles (or it is dropped or
 * released), and the dispatcher never claims past its credits: this worker never holds more than
 * `concurrency + prefetch` unfinished jobs. The credit comes back with the result, before the
 * database confirmed it, so the next claim does not wait for the ack (acks go in batches of their
 * own, beside the claims). The dispatcher claims no further while the unfinished jobs and the finished
 * ones whose ack is on its way would pass 2 × (concurrency + prefetch): the database never shows more
 * running jobs of this worker (dispatcher.actor.ts). A job waiting here for a slot has its lease renewed, so it is never
 * reaped unstarted, and so has a finished one until its ack lands. A name registered with its own
 * `concurrency` leaves the claimable names while it is saturated.
 *
 * Results are batched: everything that settles within one turn of the event loop goes to the
 * dispatcher in one message, with the credits it frees, and the dispatcher acks them in one statement
 * (failures beside it) with the others of the next few milliseconds. Events fire once the database confirmed the transition: 'completed', 'failed' then 'retrying' or 'dead', 'progress';
 * also 'started' when a handler starts, and 'warning' for errors the worker recovers from by itself
 * (a database that is down: claims, acks and renewals retry). The 'failed' + 'retrying' / 'dead'
 * events of a lapsed lease come from the watchdog that reaped it, which may be another worker's.
 */
import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { isAbsolute } from 'node:path'
import { pathToFileURL } from 'node:url'

import type pg from 'pg'

import type { ActorRef } from '../../runtime/actor-ref.js'
import {
  ClosedError,
  coerceError,
  fromWire,
  InvalidArgumentError,
  JobTimeoutError,
  LeaseLostError,
  PulseError,
  toWire,
  type WireError,
} from '../../runtime/errors.js'
import { HandlerPool, type HandlerPoolOptions } from '../../runtime/handler-pool.js'
import { abortable, withTimeout } from '../../runtime/lifecycle.js'
import { checkRegistry, childOf, type MetricsRegistry } from '../../runtime/metrics.js'
import {
  checkBoolean,
  checkDurationMs,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkNumber,
  checkSignal,
  checkString,
} from '../../runtime/options.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import type { Span } from '../../runtime/tracing.js'
import { checkPrefetch, ClaimWindow, type PrefetchOption } from './claim-window.js'
import { Runtime } from '../../runtime/runtime.js'
import {
  type ClaimedJob,
  type FailedJob,
  type LeaseRef,
  parseArgs,
  renewLeases,
} from '../../transports/postgres/jobs/hot-path.js'
import { setJobProgress } from '../../transports/postgres/jobs/progress.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { type Backoff, backoffDelayMs, backoffTable, checkBackoff, DEFAULT_BACKOFF_UNIT_MS } from './backoff.js'
import {
  type ConnectionConfig,
  connectionOf,
  type DispatcherArgs,
  type DispatcherMsg,
  type DispatcherOut,
  fromJobColumns,
  type SchedulerArgs,
  type SchedulerMsg,
  type SchedulerOut,
  type WatchdogArgs,
  type WatchdogMsg,
  type WatchdogOut,
  toLeaseColumns,
} from './protocol.js'
import type { JobQueueInternals } from './internal.js'
import { type ClaimCounts, type JobMetrics, jobMetrics } from './metrics.js'
import type { ThreadJobPayload } from './thread-job.js'
import { endAttempt, runAttempt, startAttempt, threadCarrier } from './tracing.js'

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

export interface JobWorkerOptions {
  /** The caller's pool, for `job.progress()` and `job.heartbeat()` on this thread. */
  pool: pg.Pool
  /**
   * How the actors connect (they run on another thread and open their own small pools).
   * @default the plain config of `pool` (`pool.options` without functions and pool settings)
   */
  connection?: ConnectionConfig | undefined
  /**
   * `connection` goes through a transaction-mode pooler (PgBouncer's `pool_mode = transaction`): the
   * actors keep no session state there (actor-pg.ts) and LISTEN only on `listenConnection`.
   * @default false
   */
  transactionPooler?: boolean | undefined
  /**
   * Where the dispatcher LISTENs for new jobs: a direct or session-pooled connection.
   * @default `connection`; none with `transactionPooler` (LISTEN is off: the poll finds new jobs, and
   * `start` emits a 'warning' saying so)
   */
  listenConnection?: ConnectionConfig | undefined
  /** @default 'pulse' */
  schema?: string | undefined
  /** @default 30_000 */
  leaseTtlMs?: number | undefined
  /** The claim poll, a fallback for missed notifications and for jobs that become due. @default 1_000 */
  pollIntervalMs?: number | undefined
  /** Unit of `attempt² × unit` in ms, or `(attempt) => delayMs`. @default 1_000 */
  backoff?: Backoff | undefined
  /** Most jobs one claim statement takes (1–10,000). @default 500 */
  claimBatchMax?: number | undefined
  /** How often lapsed leases are reaped. @default min(leaseTtlMs, 5_000) */
  sweepIntervalMs?: number | undefined
  /** The scheduler's tick. @default 1_000 */
  scheduleTickMs?: number | undefined
  /** Names this worker's leases (`lease_owner`). @default `<hostname>/<pid>/<random>` */
  owner?: string | undefined
  /** The drain bound of `close()` when it is called without `timeoutMs`. @default 10_000 */
  closeTimeoutMs?: number | undefined
  /** Counts jobs, claims and lost leases there (metrics.ts), with the actors of the runtime it starts. */
  metrics?: MetricsRegistry | undefined
}

export interface JobWorkerStartOptions {
  /** Handlers running at once. @default 50 */
  concurrency?: number | undefined
  /**
   * Jobs claimed beyond `concurrency`, waiting on this side for a slot (their leases are renewed, so
   * they are never reaped while they wait). A job counts as claimed until its handler settles; the
   * claim batch is at most `concurrency + prefetch` (and `claimBatchMax`), so a prefetch buys bigger
   * batches — fewer statements per job — for short jobs. `'auto'` sizes it from the handlers' mean run
   * time: enough held jobs to keep every slot busy for ~100 ms, at most `claimBatchMax − concurrency`,
   * none for long jobs (claim-window.ts).
   * @default 'auto'
   */
  prefetch?: PrefetchOption | undefined
  /** Closes the worker when aborted. */
  signal?: AbortSignal | undefined
  /** Spawn the actors on this runtime (not closed by `close()`); by default the worker starts its own. */
  runtime?: Runtime | undefined
  /** Run a scheduler actor (fires due schedules). @default true */
  schedules?: boolean | undefined
  /** Options of the `HandlerPool` made for handlers registered with `thread`. */
  handlerPool?: HandlerPoolOptions | undefined
}

export interface JobWorkerCloseOptions {
  /** How long running handlers may take to finish before they are aborted and released. @default 10_000 */
  timeoutMs?: number | undefined
}

export interface JobEvent {
  id: string
  name: string
  attempt: number
}

export interface JobWorkerEventMap {
  started: [JobEvent]
  completed: [JobEvent]
  failed: [JobEvent & { error: WireError; willRetry: boolean }]
  retrying: [JobEvent & { error: WireError; retryAt: Date | undefined }]
  dead: [JobEvent & { error: WireError }]
  progress: [JobEvent & { progress: number }]
  warning: [{ message: string; error: Error }]
}

export interface ResolvedJobWorkerOptions {
  readonly schema: string
  readonly leaseTtlMs: number
  readonly pollIntervalMs: number
  readonly backoff: Backoff
  readonly claimBatchMax: number
  readonly sweepIntervalMs: number
  readonly scheduleTickMs: number
  readonly owner: string
  readonly closeTimeoutMs: number
}

export const DEFAULT_JOB_WORKER_OPTIONS = {
  schema: 'pulse',
  leaseTtlMs: 30_000,
  pollIntervalMs: 1_000,
  backoff: DEFAULT_BACKOFF_UNIT_MS,
  claimBatchMax: 500,
  scheduleTickMs: 1_000,
} as const

export const DEFAULT_JOB_CONCURRENCY = 50
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000

/** Bounds of the close steps that only wait for the jobs thread (stop claiming, flush the last acks). */
const kActorStepMs = 5_000
const kSchemaPattern = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/
const kReleasedError: WireError = { name: 'ClosedError', code: 'PULSE_ERR_CLOSED', message: 'released at shutdown' }
/** The error a reaped job gets (what `reapExpiredLeases` stores). */
const kLeaseExpiredError: WireError = {
  name: 'LeaseLostError',
  code: 'PULSE_ERR_JOB_LEASE_LOST',
  message: 'lease expired: the worker stopped renewing it',
}
const kThreadJob = new URL(import.meta.url.endsWith('.ts') ? './thread-job.ts' : './thread-job.js', import.meta.url)

function actorModule(name: string): URL {
  return new URL(import.meta.url.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, import.meta.url)
}

interface Registration {
  readonly name: string
  readonly fn: JobHandler | undefined
  readonly concurrency: number
  readonly timeoutMs: number | undefined
  readonly thread: { module: string; export: string } | undefined
  running: number
  /** Held jobs of this name waiting for a slot. */
  waiting: number
}

/** A job this worker holds: claimed, its handler not settled yet. */
interface Held {
  readonly job: ClaimedJob
  readonly reg: Registration
  state: 'waiting' | 'running'
  /** Made on first use (the handler reads `job.signal`, or the attempt is aborted): most never need one. */
  controller: AbortController | undefined
  /**
   * 'sent': its result (or its release) went to the dispatcher for the next ack;
   * 'dropped': its lease was lost, so there is nothing to ack.
   * Either way nothing more is reported for it; its credit comes back when it leaves `#held`.
   */
  outcome: 'none' | 'sent' | 'dropped'
  /** `performance.now()` at the handler's start, with metrics only. */
  startedAt: number
  /** The attempt's `process` span, from its start until its outcome is known (tracing.ts). */
  span: Span | undefined
}

/** A result sent to the dispatcher, kept until acked (to fire its events, or to send it again). */
interface Unacked {
  readonly job: ClaimedJob
  /** The failure sent; undefined for a completion. */
  readonly failure: FailedJob | undefined
  readonly error: WireError | undefined
  readonly retryAt: Date | undefined
}

/** The event fields of a job (a fresh object: listeners may keep it). */
function eventOf(job: JobEvent): JobEvent {
  return { id: job.id, name: job.name, attempt: job.attempt }
}

/** What an attempt's context asks of its worker. */
interface AttemptHooks {
  signal(held: Held): AbortSignal
  progress(held: Held, value: number): Promise<void>
  heartbeat(held: Held): Promise<void>
}

/**
 * The `job` a handler gets: one object per attempt, without a closure per attempt. `progress` and
 * `heartbeat` are made (bound to the attempt) on first read, so `const { progress } = job` works too.
 */
class AttemptContext implements JobContext {
  readonly id: string
  readonly name: string
  readonly attempt: number
  readonly maxAttempts: number
  readonly priority: number
  readonly #held: Held
  readonly #hooks: AttemptHooks
  #progress: ((value: number) => Promise<void>) | undefined
  #heartbeat: (() => Promise<void>) | undefined

  constructor(held: Held, hooks: AttemptHooks) {
    const { job } = held
    this.id = job.id
    this.name = job.name
    this.attempt = job.attempt
    this.maxAttempts = job.maxAttempts
    this.priority = job.priority
    this.#held = held
    this.#hooks = hooks
  }

  get signal(): AbortSignal {
    return this.#hooks.signal(this.#held)
  }

  get progress(): (value: number) => Promise<void> {
    return (this.#progress ??= this.#hooks.progress.bind(this.#hooks, this.#held))
  }

  get heartbeat(): () => Promise<void> {
    return (this.#heartbeat ??= this.#hooks.heartbeat.bind(this.#hooks, this.#held))
  }
}

export class JobWorker {
  readonly events = new EventEmitter<JobWorkerEventMap>()
  readonly options: ResolvedJobWorkerOptions
  readonly #pool: pg.Pool
  /** Given, or derived from the pool at `start` (a pool that cannot cross a thread fails there). */
  #connection: ConnectionConfig | undefined
  /** The actors' connection goes through a transaction-mode pooler. */
  readonly #transactionPooler: boolean
  /** Where the dispatcher LISTENs, when given (see `#listenTo`). */
  readonly #listenConnection: ConnectionConfig | undefined
  readonly #q: string
  readonly #handlers = new Map<string, Registration>()
  readonly #held = new Map<string, Held>()
  /** Held jobs waiting for a slot, in claim order. */
  #waiting: Held[] = []
  #runningCount = 0
  readonly #unacked = new Map<string, Unacked>()
  /** Handlers running (their promise not settled), for the drain at close. */
  readonly #running = new Set<Promise<void>>()
  readonly #hooks: AttemptHooks = {
    signal: (held) => this.#signal(held),
    progress: (held, value) => this.#progress(held, value),
    heartbeat: (held) => this.#heartbeat(held),
  }
  #runtime: Runtime | undefined
  #ownsRuntime = false
  #dispatcher: ActorRef<DispatcherMsg, unknown, DispatcherOut> | undefined
  #watchdog: ActorRef<WatchdogMsg, unknown, WatchdogOut> | undefined
  #scheduler: ActorRef<SchedulerMsg, unknown, SchedulerOut> | undefined
  #handlerPool: HandlerPool | undefined
  #handlerPoolOptions: HandlerPoolOptions | undefined
  #unsubscribe: (() => void)[] = []
  #concurrency = DEFAULT_JOB_CONCURRENCY
  /** The claim window (claim-window.ts), made at `start`. */
  #window: ClaimWindow | undefined
  #starting: Promise<void> | undefined
  #closing: Promise<void> | undefined
  readonly #drainCut = new AbortController()
  #stopClaiming = false
  // Outbox to the dispatcher, sent once per turn of the event loop.
  #completed: LeaseRef[] = []
  #failed: FailedJob[] = []
  #credit = 0
  #sentNames: string[] | undefined
  /** Some name has a `concurrency` of its own (its saturation changes the claimable names). */
  #limitedNames = false
  #outbox: DispatcherMsg[] = []
  #flushImmediate: NodeJS.Immediate | undefined
  #flushTimer: NodeJS.Timeout | undefined
  #flushSeq = 0
  readonly #flushWaiters = new Map<number, () => void>()
  #closedWaiter: (() => void) | undefined
  #untrack: (() => void) | undefined
  readonly #registry: MetricsRegistry | undefined
  readonly #metrics: JobMetrics | undefined

  constructor(options: JobWorkerOptions) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidArgumentError('options must be an object', { data: { option: 'options' } })
    checkKnownKeys(options, [
      'pool',
      'connection',
      'schema',
      'leaseTtlMs',
      'pollIntervalMs',
      'backoff',
      'claimBatchMax',
      'sweepIntervalMs',
      'scheduleTickMs',
      'owner',
      'closeTimeoutMs',
      'metrics',
      'transactionPooler',
      'listenConnection',
    ])
    const pool = options.pool as unknown
    if (
      typeof pool !== 'object' ||
      pool === null ||
      typeof (pool as pg.Pool).query !== 'function' ||
      typeof (pool as pg.Pool).options !== 'object'
    ) {
      throw new InvalidArgumentError('options.pool must be a pg.Pool', { data: { option: 'options.pool' } })
    }
    this.#pool = options.pool
    const schema =
      options.schema === undefined
        ? DEFAULT_JOB_WORKER_OPTIONS.schema
        : checkString(options.schema, 'options.schema', { pattern: kSchemaPattern })
    const leaseTtlMs =
      options.leaseTtlMs === undefined
        ? DEFAULT_JOB_WORKER_OPTIONS.leaseTtlMs
        : checkDurationMs(options.leaseTtlMs, 'options.leaseTtlMs', { min: 30 })
    const pollIntervalMs =
      options.pollIntervalMs === undefined
        ? DEFAULT_JOB_WORKER_OPTIONS.pollIntervalMs
        : checkDurationMs(options.pollIntervalMs, 'options.pollIntervalMs', { min: 1 })
    const backoff =
      options.backoff === undefined
        ? DEFAULT_JOB_WORKER_OPTIONS.backoff
        : checkBackoff(options.backoff, 'options.backoff')
    const claimBatchMax =
      options.claimBatchMax === undefined
        ? DEFAULT_JOB_WORKER_OPTIONS.claimBatchMax
        : checkInteger(options.claimBatchMax, 'options.claimBatchMax', { min: 1, max: 10_000 })
    const sweepIntervalMs =
      options.sweepIntervalMs === undefined
        ? Math.min(leaseTtlMs, 5_000)
        : checkDurationMs(options.sweepIntervalMs, 'options.sweepIntervalMs', { min: 1 })
    const scheduleTickMs =
      options.scheduleTickMs === undefined
        ? DEFAULT_JOB_WORKER_OPTIONS.scheduleTickMs
        : checkDurationMs(options.scheduleTickMs, 'options.scheduleTickMs', { min: 1, max: 1_000 })
    const owner =
      options.owner === undefined
        ? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`
        : checkString(options.owner, 'options.owner', { nonEmpty: true })
    this.#connection = options.connection === undefined ? undefined : checkConnection(options.connection)
    this.#transactionPooler =
      options.transactionPooler === undefined
        ? false
        : checkBoolean(options.transactionPooler, 'options.transactionPooler')
    this.#listenConnection =
      options.listenConnection === undefined
        ? undefined
        : checkConnection(options.listenConnection, 'options.listenConnection')
    this.#registry = options.metrics === undefined ? undefined : checkRegistry(options.metrics)
    this.#metrics = this.#registry === undefined ? undefined : jobMetrics(this.#registry)
    this.#q = quoteSchema(schema)
    const closeTimeoutMs =
      options.closeTimeoutMs === undefined
        ? DEFAULT_CLOSE_TIMEOUT_MS
        : checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
    this.options = Object.freeze({
      schema,
      leaseTtlMs,
      pollIntervalMs,
      backoff,
      claimBatchMax,
      sweepIntervalMs,
      scheduleTickMs,
      owner,
      closeTimeoutMs,
    })
  }

  /** Registers the handler of jobs named `name` (before or after `start`; once per name). */
  register<Args = unknown>(name: string, fn: JobHandler<Args> | undefined, options: RegisterOptions = {}): void {
    this.#assertOpen('register')
    checkString(name, 'name', { nonEmpty: true })
    if (this.#handlers.has(name))
      throw new InvalidArgumentError(`a handler for "${name}" is registered already`, { data: { option: 'name' } })
    checkKnownKeys(options, ['concurrency', 'timeoutMs', 'thread'])
    const concurrency =
      options.concurrency === undefined
        ? Number.POSITIVE_INFINITY
        : checkInteger(options.concurrency, 'options.concurrency', { min: 1 })
    const timeoutMs =
      options.timeoutMs === undefined ? undefined : checkDurationMs(options.timeoutMs, 'options.timeoutMs', { min: 1 })
    const thread = options.thread === undefined || options.thread === false ? undefined : checkThreadRef(options.thread)
    if (thread === undefined) checkFunction(fn, 'fn')
    this.#handlers.set(name, {
      name,
      fn: fn as JobHandler | undefined,
      concurrency,
      timeoutMs,
      thread,
      running: 0,
      waiting: 0,
    })
    if (Number.isFinite(concurrency)) this.#limitedNames = true
    if (thread !== undefined && this.#runtime !== undefined)
      this.#handlerPool ??= new HandlerPool(this.#handlerPoolOptions)
    this.#syncNames()
  }

  /** Spawns the actors and starts claiming. Rejects when called twice or after `close()`. */
  start(options: JobWorkerStartOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return Promise.reject(new ClosedError('cannot start: the job worker is closed'))
    if (this.#starting !== undefined) return Promise.reject(new InvalidArgumentError('the worker is started already'))
    this.#starting = this.#start(options)
    return this.#starting
  }

  /**
   * Stops claiming, lets running handlers finish within `timeoutMs`, then aborts the rest and releases
   * their jobs (retry at once, error 'released at shutdown'), acks what is left and stops the actors
   * (closing the runtime the worker started). Idempotent and memoised; bounded by `timeoutMs` plus a
   * few seconds when the database is unreachable.
   */
  close(options: JobWorkerCloseOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    const timeoutMs =
      options.timeoutMs === undefined
        ? this.options.closeTimeoutMs
        : checkDurationMs(options.timeoutMs, 'options.timeoutMs')
    this.#closing = this.#shutdown(timeoutMs)
    return this.#closing
  }

  /**
   * Forceful: like `close()`, but running handlers are aborted and released at once instead of being
   * waited for. Joins a `close()` in progress (cutting its drain short).
   */
  destroy(): Promise<void> {
    this.#drainCut.abort()
    return this.close({ timeoutMs: 0 })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Jobs held (claimed and not settled) and running now; for stats and tests. */
  get load(): { held: number; running: number; unacked: number } {
    return { held: this.#held.size, running: this.#runningCount, unacked: this.#unacked.size }
  }

  #assertOpen(what: string): void {
    if (this.#closing !== undefined) throw new ClosedError(`cannot ${what}: the job worker is closed`)
  }

  async #start(options: JobWorkerStartOptions): Promise<void> {
    checkKnownKeys(options, ['concurrency', 'prefetch', 'signal', 'runtime', 'schedules', 'handlerPool'])
    this.#concurrency =
      options.concurrency === undefined
        ? DEFAULT_JOB_CONCURRENCY
        : checkInteger(options.concurrency, 'options.concurrency', { min: 1, max: 1_000_000 })
    const prefetch = options.prefetch === undefined ? 'auto' : checkPrefetch(options.prefetch, 'options.prefetch')
    this.#window = new ClaimWindow(this.#concurrency, prefetch, this.options.claimBatchMax)
    const signal = options.signal === undefined ? undefined : checkSignal(options.signal, 'options.signal')
    if (options.runtime !== undefined && !(options.runtime instanceof Runtime)) {
      throw new InvalidArgumentError('options.runtime must be a Runtime', { data: { option: 'options.runtime' } })
    }
    this.#handlerPoolOptions = options.handlerPool
    this.#connection ??= connectionOf(this.#pool)
    this.#untrack = trackResource('other', `JobWorker ${this.options.schema} ${this.options.owner}`)
    this.#ownsRuntime = options.runtime === undefined
    const rt =
      options.runtime ??
      (await Runtime.start({
        closeTimeoutMs: kActorStepMs,
        ...(this.#registry === undefined ? {} : { metrics: this.#registry }),
      }))
    this.#runtime = rt
    try {
      await this.#spawn(rt, options.schedules !== false)
    } catch (error) {
      await this.#stopActors().catch(() => undefined)
      for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
      this.#dispatcher = this.#watchdog = this.#scheduler = this.#runtime = undefined
      this.#untrack()
      throw error
    }
    if ([...this.#handlers.values()].some((reg) => reg.thread !== undefined))
      this.#handlerPool ??= new HandlerPool(this.#handlerPoolOptions)
    this.#credit += this.#window.size
    this.#sentNames = undefined
    this.#syncNames()
    this.#flushNow()
    if (signal !== undefined) {
      const onAbort = () => void this.close().catch(() => undefined)
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
      this.#unsubscribe.push(() => signal.removeEventListener('abort', onAbort))
    }
  }

  async #spawn(rt: Runtime, schedules: boolean): Promise<void> {
    const { schema, owner, leaseTtlMs } = this.options
    const connection = this.#connection as ConnectionConfig
    const thread = `pulse-jobs:${schema}`
    const prefix = `pulse-jobs:${schema}:${owner}`
    const dispatcherArgs: DispatcherArgs = {
      connection,
      transactionPooler: this.#transactionPooler,
      listenConnection: this.#listenTo(connection),
      schema,
      owner,
      leaseTtlMs,
      pollIntervalMs: this.options.pollIntervalMs,
      claimBatchMax: this.options.claimBatchMax,
      window: (this.#window as ClaimWindow).size,
      metrics: this.#metrics !== undefined,
    }
    const watchdogArgs: WatchdogArgs = {
      connection,
      transactionPooler: this.#transactionPooler,
      schema,
      owner,
      leaseTtlMs,
      sweepIntervalMs: this.options.sweepIntervalMs,
      backoffTable: backoffTable(this.options.backoff),
    }
    if (this.#ownsRuntime) {
      const onError = (error: Error) => this.#warn('the jobs runtime gave up', error)
      rt.on('error', onError)
      this.#unsubscribe.push(() => rt.off('error', onError))
    }
    const onRestart = ({ name }: { name: string }) => this.#onActorRestart(name)
    rt.on('restart', onRestart)
    this.#unsubscribe.push(() => rt.off('restart', onRestart))

    const dispatcher = await rt.spawn<DispatcherMsg, unknown, DispatcherArgs>(actorModule('dispatcher.actor'), {
      name: `${prefix}:dispatcher`,
      args: dispatcherArgs,
      thread,
    })
    this.#dispatcher = dispatcher as ActorRef<DispatcherMsg, unknown, DispatcherOut>
    this.#unsubscribe.push(this.#dispatcher.onMessage((msg) => this.#onDispatcher(msg)))
    if (this.#metrics !== undefined) this.#unsubscribe.push(this.#metrics.dispatchers.add(() => this.#claimCounts()))
    const watchdog = await rt.spawn<WatchdogMsg, unknown, WatchdogArgs>(actorModule('watchdog.actor'), {
      name: `${prefix}:watchdog`,
      args: watchdogArgs,
      thread,
    })
    this.#watchdog = watchdog as ActorRef<WatchdogMsg, unknown, WatchdogOut>
    this.#unsubscribe.push(this.#watchdog.onMessage((msg) => this.#onWatchdog(msg)))
    if (schedules) {
      const schedulerArgs: SchedulerArgs = { connection, schema, tickMs: this.options.scheduleTickMs }
      const scheduler = await rt.spawn<SchedulerMsg, unknown, SchedulerArgs>(actorModule('scheduler.actor'), {
        name: `${prefix}:scheduler`,
        args: schedulerArgs,
        thread,
      })
      this.#scheduler = scheduler as ActorRef<SchedulerMsg, unknown, SchedulerOut>
      this.#unsubscribe.push(this.#scheduler.onMessage((msg) => this.#onScheduler(msg)))
    }
  }

  /**
   * Where the dispatcher LISTENs: `listenConnection`, else `connection` — but not through a
   * transaction pooler, whose sessions are not the worker's: LISTEN is off then (null), which the
   * worker's 'warning' says once.
   */
  #listenTo(connection: ConnectionConfig): ConnectionConfig | null {
    if (this.#listenConnection !== undefined) return this.#listenConnection
    if (!this.#transactionPooler) return connection
    const { pollIntervalMs } = this.options
    const message = `LISTEN is off: the connection goes through a transaction pooler (transactionPooler) and no listenUrl (listenConnection) is given, so new jobs are found by polling every ${pollIntervalMs} ms`
    this.#warn(message, new PulseError('PULSE_ERR_JOB_LISTEN_OFF', message, { data: { pollIntervalMs } }))
    return null
  }

  /** The dispatcher's claim counts since the last scrape (metrics.ts). */
  async #claimCounts(): Promise<ClaimCounts> {
    const dispatcher = this.#dispatcher
    if (dispatcher === undefined) return { claims: 0, empty: 0 }
    return (await dispatcher.ask({ t: 'stats' }, { timeoutMs: kActorStepMs })) as ClaimCounts
  }

  /** After a restart an actor has lost its state: tell it again what it needs to know. */
  #onActorRestart(name: string): void {
    if (this.#closing !== undefined) return
    if (name === this.#dispatcher?.name) {
      // Its credits and the results it had not acked died with it: results are sent again (acks are
      // fenced, so twice is harmless) and credits start over from the jobs this side holds.
      this.#credit = 0
      this.#outbox = []
      this.#completed = []
      this.#failed = []
      for (const { job, failure } of this.#unacked.values()) {
        if (failure === undefined) this.#completed.push(job)
        else this.#failed.push(failure)
      }
      const window = this.#window as ClaimWindow
      this.#outbox.push({ t: 'credit', n: window.restart(this.#held.size), window: window.size, reset: true })
      this.#sentNames = undefined
      this.#syncNames()
    } else if (name === this.#watchdog?.name) {
      const jobs = [
        ...[...this.#held.values()].map(({ job }) => ({ id: job.id, leaseToken: job.leaseToken })),
        ...[...this.#unacked.values()].map(({ job }) => ({ id: job.id, leaseToken: job.leaseToken })),
      ]
      if (jobs.length > 0 && this.#watchdog.tell({ t: 'running', jobs }) !== true)
        this.#warn('could not hand the leases to the restarted watchdog', new Error('mailbox full'))
    }
    this.#scheduleFlush()
  }

  // ---- from the actors ----

  #onDispatcher(msg: DispatcherOut): void {
    switch (msg.t) {
      case 'jobs':
        for (const job of fromJobColumns(msg.jobs)) this.#receive(job)
        this.#syncNames()
        this.#scheduleFlush()
        return
      case 'acked':
        this.#onAcked(msg.completed, msg.failed)
        for (const token of msg.fenced) this.#unacked.delete(token)
        // A refused ack is a lease lost before its result landed (the watchdog's report of it skipped it).
        if (msg.fenced.length > 0) this.#metrics?.leasesLost.inc(msg.fenced.length)
        return
      case 'closed':
        this.#closedWaiter?.()
        return
      case 'flushed':
        this.#flushWaiters.get(msg.seq)?.()
        return
      case 'warning':
        this.#warn(msg.message, fromWire(msg.error))
        return
    }
  }

  #onWatchdog(msg: WatchdogOut): void {
    switch (msg.t) {
      case 'lost':
        if (this.#metrics !== undefined)
          this.#metrics.leasesLost.inc(msg.tokens.filter((token) => !this.#unacked.has(token)).length)
        msg.tokens.forEach((token) => this.#onLost(token))
        this.#scheduleFlush()
        return
      case 'reaped':
        for (const job of msg.jobs) {
          const error = kLeaseExpiredError
          const event = eventOf(job)
          this.#countFailure(job.name, job.status)
          this.#emit('failed', { ...event, error, willRetry: job.status === 'retrying' })
          if (job.status === 'retrying') this.#emit('retrying', { ...event, error, retryAt: job.retryAt })
          else this.#emit('dead', { ...event, error })
        }
        return
      case 'warning':
        this.#warn(msg.message, fromWire(msg.error))
        return
    }
  }

  #onScheduler(msg: SchedulerOut): void {
    if (msg.t === 'warning') this.#warn(msg.message, fromWire(msg.error))
  }

  #receive(job: ClaimedJob): void {
    const reg = this.#handlers.get(job.name)
    if (reg === undefined || this.#stopClaiming) {
      // A name this worker does not handle (never claimed on purpose) or a claim that raced close().
      this.#release(job)
      if (!this.#stopClaiming) {
        this.#credit += this.#window?.settled(undefined) ?? 1
        this.#scheduleFlush()
      }
      return
    }
    const held: Held = {
      job,
      reg,
      state: 'waiting',
      controller: undefined,
      outcome: 'none',
      startedAt: 0,
      span: undefined,
    }
    if (this.#metrics !== undefined && job.waitMs !== undefined)
      childOf(this.#metrics.wait, job.name).observe(job.waitMs / 1000)
    this.#held.set(job.leaseToken, held)
    if (this.#runningCount < this.#concurrency && reg.running < reg.concurrency && reg.waiting === 0) {
      this.#run(held)
    } else {
      reg.waiting++
      this.#waiting.push(held)
    }
  }

  /**
   * Starts waiting jobs while slots are free (global and per name), in claim order. It stops at the
   * first job that finds no global slot, so a settled job costs one start, not a walk of the queue.
   */
  #pump(): void {
    const waiting = this.#waiting
    if (waiting.length === 0 || this.#stopClaiming || this.#runningCount >= this.#concurrency) return
    let i = 0
    let skipped: Held[] | undefined
    while (i < waiting.length && this.#runningCount < this.#concurrency) {
      const held = waiting[i++] as Held
      if (held.reg.running < held.reg.concurrency) {
        held.reg.waiting--
        this.#run(held)
      } else {
        ;(skipped ??= []).push(held)
      }
    }
    if (skipped === undefined) waiting.splice(0, i)
    else this.#waiting = skipped.concat(waiting.slice(i))
  }

  /** The attempt's signal (its controller made on first use). */
  #signal(held: Held): AbortSignal {
    held.controller ??= new AbortController()
    return held.controller.signal
  }

  #abort(held: Held, reason: Error): void {
    this.#endSpan(held, reason)
    held.controller ??= new AbortController()
    held.controller.abort(reason)
  }

  #onLost(token: string): void {
    const held = this.#held.get(token)
    if (held === undefined || held.outcome !== 'none') return
    held.outcome = 'dropped'
    const error = new LeaseLostError(
      `the lease of job ${held.job.id} (attempt ${held.job.attempt}) was lost; its result is discarded`,
      {
        data: { id: held.job.id, attempt: held.job.attempt },
      },
    )
    if (held.state === 'waiting') {
      this.#waiting.splice(this.#waiting.indexOf(held), 1)
      held.reg.waiting--
      this.#settle(held)
    } else {
      this.#abort(held, error)
    }
  }

  #onAcked(
    completed: readonly string[],
    failed: readonly { id: string; leaseToken: string; status: 'retrying' | 'dead'; attempt: number }[],
  ): void {
    const listened = this.events.listenerCount('completed') > 0
    for (const leaseToken of completed) {
      const unacked = this.#unacked.get(leaseToken)
      if (unacked === undefined) continue
      this.#unacked.delete(leaseToken)
      if (this.#metrics !== undefined) childOf(this.#metrics.completed, unacked.job.name).inc()
      if (listened) this.#emit('completed', eventOf(unacked.job))
    }
    for (const outcome of failed) {
      const unacked = this.#unacked.get(outcome.leaseToken)
      if (unacked === undefined) continue
      this.#unacked.delete(outcome.leaseToken)
      this.#countFailure(unacked.job.name, outcome.status)
      const error = unacked.error ?? kReleasedError
      const event = eventOf(unacked.job)
      this.#emit('failed', { ...event, error, willRetry: outcome.status === 'retrying' })
      if (outcome.status === 'retrying') this.#emit('retrying', { ...event, error, retryAt: unacked.retryAt })
      else this.#emit('dead', { ...event, error })
    }
  }

  #countFailure(name: string, status: 'retrying' | 'dead'): void {
    const metrics = this.#metrics
    if (metrics === undefined) return
    childOf(metrics.failed, name).inc()
    if (status === 'dead') childOf(metrics.dead, name).inc()
  }

  // ---- running handlers ----

  #run(held: Held): void {
    const { job, reg } = held
    held.state = 'running'
    reg.running++
    this.#runningCount++
    held.startedAt = performance.now()
    if (this.events.listenerCount('started') > 0)
      this.#emit('started', { id: job.id, name: job.name, attempt: job.attempt })
    let timer: NodeJS.Timeout | undefined
    if (reg.timeoutMs !== undefined) {
      const timeoutMs = reg.timeoutMs
      timer = setTimeout(() => {
        const error = new JobTimeoutError(
          `job ${job.id} ("${job.name}", attempt ${job.attempt}) did not finish within ${timeoutMs} ms`,
          {
            data: { id: job.id, name: job.name, attempt: job.attempt, timeoutMs },
          },
        )
        this.#abort(held, error)
        this.#report(held, error)
      }, timeoutMs)
    }
    const span = (held.span = startAttempt(job))
    const args = parseArgs(job)
    const outcome = runAttempt(span, () =>
      reg.thread === undefined ? this.#invoke(held, args) : this.#invokeInThread(held, args, this.#signal(held)),
    )
    const running: Promise<void> = outcome.then(
      () => this.#attemptEnded(held, running, timer, undefined),
      (error: unknown) => this.#attemptEnded(held, running, timer, coerceError(error)),
    )
    this.#running.add(running)
  }

  /** The handler's promise settled. */
  #attemptEnded(held: Held, running: Promise<void>, timer: NodeJS.Timeout | undefined, error: Error | undefined): void {
    if (this.#metrics !== undefined)
      childOf(this.#metrics.run, held.job.name).observe((performance.now() - held.startedAt) / 1000)
    this.#report(held, error)
    clearTimeout(timer)
    this.#running.delete(running)
    this.#settle(held)
  }

  #invoke(held: Held, args: unknown): Promise<unknown> {
    try {
      return Promise.resolve((held.reg.fn as JobHandler)(args, new AttemptContext(held, this.#hooks)))
    } catch (error) {
      return Promise.reject(coerceError(error))
    }
  }

  #invokeInThread(held: Held, args: unknown, signal: AbortSignal): Promise<unknown> {
    const { job, reg } = held
    const pool = this.#handlerPool
    const ref = reg.thread
    if (pool === undefined || ref === undefined)
      return Promise.reject(new ClosedError('the handler pool is not running'))
    const payload: ThreadJobPayload = {
      module: ref.module,
      export: ref.export,
      args,
      job: { id: job.id, name: job.name, attempt: job.attempt, maxAttempts: job.maxAttempts, priority: job.priority },
    }
    const trace = held.span === undefined ? undefined : threadCarrier(held.span)
    if (trace !== undefined) payload.trace = trace
    return pool.run({ module: kThreadJob, export: 'runJob' }, payload, { signal })
  }

  /** The attempt's outcome, once: to the dispatcher for the next ack batch. */
  #report(held: Held, error: Error | undefined): void {
    this.#endSpan(held, error)
    if (held.outcome !== 'none') return
    held.outcome = 'sent'
    const { job } = held
    if (error === undefined) {
      this.#completed.push(job)
      this.#unacked.set(job.leaseToken, { job, failure: undefined, error: undefined, retryAt: undefined })
    } else {
      const wire = toWire(error)
      const retryAt =
        job.attempt >= job.maxAttempts
          ? undefined
          : new Date(Date.now() + backoffDelayMs(this.options.backoff, job.attempt))
      const failure = { id: job.id, leaseToken: job.leaseToken, error: wire, retryAt }
      this.#failed.push(failure)
      this.#unacked.set(job.leaseToken, { job, failure, error: wire, retryAt })
    }
    this.#scheduleFlush()
  }

  /** Ends the attempt's span, once: when its outcome is known, or when it is aborted. */
  #endSpan(held: Held, error: Error | undefined): void {
    const span = held.span
    if (span === undefined) return
    held.span = undefined
    endAttempt(span, error)
  }

  /**
   * The handler is gone (or the job never started): its slot and its credit come back. The credit
   * does not wait for the ack of the result: the dispatcher sends that ack with its next claim.
   */
  #settle(held: Held): void {
    if (this.#held.get(held.job.leaseToken) !== held) return
    this.#held.delete(held.job.leaseToken)
    const { reg } = held
    const ran = held.state === 'running'
    if (ran) {
      reg.running--
      this.#runningCount--
    }
    if (!this.#stopClaiming)
      this.#credit += this.#window?.settled(ran ? performance.now() - held.startedAt : undefined) ?? 1
    this.#pump()
    this.#syncNames()
    this.#scheduleFlush()
  }

  /** Gives a claimed job back at once (retry now), without running it. The caller returns its credit. */
  #release(job: ClaimedJob): void {
    const failure = { id: job.id, leaseToken: job.leaseToken, error: kReleasedError, retryAt: new Date() }
    this.#failed.push(failure)
    this.#unacked.set(job.leaseToken, { job, failure, error: kReleasedError, retryAt: undefined })
    this.#scheduleFlush()
  }

  async #progress(held: Held, value: number): Promise<void> {
    checkNumber(value, 'value')
    const { job } = held
    if (held.outcome !== 'none')
      throw new LeaseLostError(`job ${job.id} (attempt ${job.attempt}) is no longer running here`, {
        data: { id: job.id },
      })
    const stored = await setJobProgress(this.#pool, this.#q, { id: job.id, leaseToken: job.leaseToken }, value)
    if (!stored)
      throw new LeaseLostError(`the lease of job ${job.id} (attempt ${job.attempt}) was lost`, { data: { id: job.id } })
    this.#emit('progress', { id: job.id, name: job.name, attempt: job.attempt, progress: value })
  }

  async #heartbeat(held: Held): Promise<void> {
    const { job } = held
    if (held.outcome !== 'none')
      throw new LeaseLostError(`job ${job.id} (attempt ${job.attempt}) is no longer running here`, {
        data: { id: job.id },
      })
    const lost = await renewLeases(
      this.#pool,
      this.#q,
      [{ id: job.id, leaseToken: job.leaseToken }],
      this.options.leaseTtlMs,
    )
    if (lost.length > 0) {
      this.#onLost(job.leaseToken)
      throw new LeaseLostError(`the lease of job ${job.id} (attempt ${job.attempt}) was lost`, { data: { id: job.id } })
    }
  }

  // ---- to the dispatcher ----

  /** The names with a free slot of their own (a saturated name is not claimed until one frees). */
  #syncNames(): void {
    if (this.#dispatcher === undefined || this.#stopClaiming) return
    // Without per-name limits every registered name is claimable: nothing changes until one is added.
    if (!this.#limitedNames && this.#sentNames !== undefined && this.#sentNames.length === this.#handlers.size) return
    const names: string[] = []
    for (const reg of this.#handlers.values()) if (reg.running + reg.waiting < reg.concurrency) names.push(reg.name)
    const sent = this.#sentNames
    if (sent !== undefined && sent.length === names.length && sent.every((n, i) => n === names[i])) return
    this.#sentNames = names
    this.#outbox.push({ t: 'names', names })
    this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#flushImmediate !== undefined || this.#flushTimer !== undefined) return
    this.#flushImmediate = setImmediate(() => {
      this.#flushImmediate = undefined
      this.#flushNow()
    })
  }

  #flushNow(): void {
    const dispatcher = this.#dispatcher
    if (dispatcher === undefined) return
    if (this.#completed.length > 0 || this.#failed.length > 0) {
      this.#outbox.push({ t: 'done', completed: toLeaseColumns(this.#completed), failed: this.#failed })
      this.#completed = []
      this.#failed = []
    }
    const window = this.#window?.takeChange()
    if ((this.#credit > 0 || window !== undefined) && !this.#stopClaiming) {
      this.#outbox.push({ t: 'credit', n: this.#credit, ...(window === undefined ? {} : { window }) })
      this.#credit = 0
    }
    if (this.#outbox.length === 0) return
    let taken: number
    try {
      taken = dispatcher.tellMany(this.#outbox)
    } catch (error) {
      // The runtime is closed: nothing can be sent any more (unacked leases lapse and are reaped).
      this.#outbox = []
      this.#warn('the jobs runtime is closed; results not acked', coerceError(error))
      return
    }
    this.#outbox.splice(0, taken)
    if (this.#outbox.length > 0 && this.#flushTimer === undefined) {
      // Mailbox full (or the dispatcher restarting): try again shortly.
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined
        this.#flushNow()
      }, 5)
    }
  }

  // ---- close ----

  async #shutdown(timeoutMs: number): Promise<void> {
    await this.#starting?.catch(() => undefined)
    this.#stopClaiming = true
    if (this.#dispatcher === undefined) return this.#finish()
    try {
      // 1. Stop claiming: after 'closed', no more jobs can arrive.
      const closed = new Promise<void>((resolve) => (this.#closedWaiter = resolve))
      this.#outbox.push({ t: 'close' })
      this.#flushNow()
      await bounded(closed, kActorStepMs)
      // 2. Jobs not started yet go back at once.
      for (const held of this.#waiting.splice(0)) {
        held.outcome = 'sent'
        held.reg.waiting--
        this.#held.delete(held.job.leaseToken)
        this.#release(held.job)
      }
      // 3. Running handlers get until the bound.
      await bounded(abortable(Promise.all(this.#running), this.#drainCut.signal), timeoutMs)
      // 4. The rest are aborted and released.
      for (const held of this.#held.values()) {
        if (held.outcome !== 'none') continue
        held.outcome = 'sent'
        this.#abort(held, new ClosedError(`job ${held.job.id} was released: the worker shut down before it finished`))
        this.#release(held.job)
      }
      // 5. The last acks.
      const seq = ++this.#flushSeq
      const flushed = new Promise<void>((resolve) => this.#flushWaiters.set(seq, resolve))
      this.#flushNow()
      this.#outbox.push({ t: 'flush', seq })
      this.#flushNow()
      await bounded(flushed, kActorStepMs)
      this.#flushWaiters.delete(seq)
    } finally {
      await this.#finish()
    }
  }

  async #finish(): Promise<void> {
    clearImmediate(this.#flushImmediate)
    clearTimeout(this.#flushTimer)
    this.#flushImmediate = undefined
    this.#flushTimer = undefined
    const errors: unknown[] = []
    await this.#stopActors().catch((error: unknown) => errors.push(error))
    await this.#handlerPool?.close().catch((error: unknown) => errors.push(error))
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
    this.#untrack?.()
    if (errors.length === 1) throw coerceError(errors[0])
    if (errors.length > 1) throw new AggregateError(errors.map(coerceError), 'closing the job worker failed')
  }

  async #stopActors(): Promise<void> {
    const rt = this.#runtime
    if (rt === undefined) return
    if (this.#ownsRuntime) {
      await rt.close()
      return
    }
    const refs = [this.#scheduler, this.#watchdog, this.#dispatcher].filter((ref) => ref !== undefined)
    await Promise.allSettled(
      refs.map((ref) => (ref as ActorRef<{ t: 'stop' }>).ask({ t: 'stop' }, { timeoutMs: kActorStepMs })),
    )
    // The runtime lives on: free the names (and the thread) so that a later start can spawn them again.
    await Promise.allSettled(refs.map((ref) => rt.stopActor(ref.name)))
  }

  #warn(message: string, error: Error): void {
    this.#emit('warning', { message, error })
  }

  /** Fires an event; a listener that throws is reported on a fresh macrotask and stops nothing here. */
  #emit<K extends keyof JobWorkerEventMap>(name: K, ...payload: JobWorkerEventMap[K]): void {
    try {
      ;(this.events as EventEmitter).emit(name, ...payload)
    } catch (error) {
      setImmediate(() => {
        throw error
      })
    }
  }
}

function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  return withTimeout(
    promise.then(() => undefined),
    ms,
    () => new Error('bound'),
  ).catch(() => undefined)
}

function checkConnection(value: unknown, name = 'options.connection'): ConnectionConfig {
  if (typeof value === 'string') return checkString(value, name, { nonEmpty: true })
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, field] of Object.entries(value)) {
      if (typeof field === 'function') {
        throw new InvalidArgumentError(`${name}.${key} must be plain data (it is sent to the jobs thread)`, {
          data: { option: `${name}.${key}` },
        })
      }
    }
    return value as ConnectionConfig
  }
  throw new InvalidArgumentError(`${name} must be a connection string or a plain pg config`, {
    data: { option: name },
  })
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

/**
 * The worker of a `JobQueue` (queue.ts delegates `register`, `start` and `events` to it): the queue's
 * pool, schema, lease, poll and backoff settings; its warnings go to the queue's logger; its drain
 * bound is half the queue's close bound (at most the default), leaving the rest for the pool.
 */
export function createQueueWorker(internals: JobQueueInternals): JobWorker {
  const { pool, options } = internals
  const worker = new JobWorker({
    pool: pool.pool,
    schema: options.schema,
    leaseTtlMs: options.leaseTtlMs,
    pollIntervalMs: options.pollIntervalMs,
    backoff: options.backoff,
    claimBatchMax: options.claimBatchMax,
    closeTimeoutMs: Math.min(DEFAULT_CLOSE_TIMEOUT_MS, Math.floor(options.closeTimeoutMs / 2)),
    transactionPooler: options.transactionPooler,
    ...(options.listenUrl === undefined ? {} : { listenConnection: options.listenUrl }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  })
  worker.events.on('warning', ({ message, error }) => options.logger.warn({ err: error }, `jobs: ${message}`))
  return worker
}
