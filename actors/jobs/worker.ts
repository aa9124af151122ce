/**
 * `JobWorker`: the execution side of the job queue, on the caller's thread. It runs the handlers; the
 * protocol work runs in three actors on a runtime thread of their own (`pulse-jobs:<schema>`): the
 * dispatcher (claims and acks), the watchdog (lease renewal and reaping) and the scheduler.
 *
 * Its parts, each holding its own state:
 *
 *   worker-options.ts   the options of the constructor, `start` and `close`: defaults and checks
 *   handlers.ts         the handler types, and the registration of a name
 *   attempts.ts         the attempts in flight: held jobs, the waiting queue, running handlers, slots
 *   dispatcher-link.ts  the link to the dispatcher: outbox, credits, names, results until acked
 *   worker-events.ts    the events, and how the parts fire them
 *   worker.ts           this class: it wires the parts together, spawns and stops the actors, passes
 *                       actor restarts and the watchdog's reports on, starts and closes
 *
 *                 claimed jobs (receive)
 *   dispatcher ──▶ DispatcherLink ──────────────▶ Attempts ──▶ handlers
 *     actor    ◀──   (outbox)     ◀──────────────   │
 *                 results, releases, freed credits, names
 *
 * The worker:
 *
 *   new ──start()──▶ starting ──actors spawned──▶ running ──close(), destroy(), signal──▶ closing ──▶ closed
 *    │                  │ a spawn failed: the actors stop, start() rejects                  ▲
 *    │                  └───────────────────────────────────────────────────────────────────┤
 *    └──close()─────────────────────────────────────────────────────────────────────────────┘
 *
 *   register(): in new, starting and running. start(): once, in new. close(): memoised; a close during
 *   starting waits for the start to settle. Closing, in order:
 *     1. stop claiming: no credits or names go out, and the dispatcher answers 'closed' once the
 *        claims in flight delivered their jobs (bounded);
 *     2. the jobs not started yet are released (retry now);
 *     3. the running handlers get until the close bound (none with `destroy()`);
 *     4. the rest are aborted (`ClosedError`) and released;
 *     5. the last results are acked (a `flush`, bounded);
 *     6. the actors stop (the runtime closes, when the worker started it), the handler pool closes.
 *
 * Events fire once the database confirmed the transition: 'completed', 'failed' then 'retrying' or
 * 'dead', 'progress'; also 'started' when a handler starts, and 'warning' for errors the worker
 * recovers from by itself (a database that is down: claims, acks and renewals retry). The 'failed' +
 * 'retrying' / 'dead' events of a lapsed lease come from the watchdog that reaped it, which may be
 * another worker's.
 */
import { EventEmitter } from 'node:events'

import type pg from 'pg'

import type { ActorRef } from '../../runtime/actor-ref.js'
import {
  ClosedError,
  coerceError,
  fromWire,
  InvalidArgumentError,
  PulseError,
  type WireError,
} from '../../runtime/errors.js'
import { abortable, Closeable, withTimeout } from '../../runtime/lifecycle.js'
import type { MetricsRegistry } from '../../runtime/metrics.js'
import { checkDurationMs, checkString, kMaxTimerMs } from '../../runtime/options.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import { Runtime } from '../../runtime/runtime.js'
import { type ConnectionConfig, connectionOf } from '../../transports/postgres/jobs/actor-pool.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { Attempts } from './attempts.js'
import { backoffTable } from './backoff.js'
import { ClaimWindow } from './claim-window.js'
import { DispatcherLink } from './dispatcher-link.js'
import { type JobHandler, registration, type RegisterOptions } from './handlers.js'
import type { JobQueueInternals } from './internal.js'
import { type ClaimCounts, type JobMetrics, jobMetrics } from './metrics.js'
import type {
  DispatcherArgs,
  DispatcherMsg,
  DispatcherOut,
  SchedulerArgs,
  SchedulerMsg,
  SchedulerOut,
  WatchdogArgs,
  WatchdogMsg,
  WatchdogOut,
} from './protocol.js'
import { type JobWorkerEventMap, WorkerEvents } from './worker-events.js'
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  type JobWorkerCloseOptions,
  type JobWorkerOptions,
  type JobWorkerStartOptions,
  resolveJobWorkerOptions,
  resolveJobWorkerStartOptions,
  type ResolvedJobWorkerOptions,
} from './worker-options.js'

export type { JobContext, JobHandler, RegisterOptions, ThreadHandlerRef } from './handlers.js'
export type { JobEvent, JobWorkerEventMap } from './worker-events.js'
export {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_JOB_CONCURRENCY,
  DEFAULT_JOB_WORKER_OPTIONS,
  type JobWorkerCloseOptions,
  type JobWorkerOptions,
  type JobWorkerStartOptions,
  type ResolvedJobWorkerOptions,
} from './worker-options.js'

/** Bounds of the close steps that only wait for the jobs thread (stop claiming, flush the last acks). */
const kActorStepMs = 5_000
/** The error a reaped job gets (what `reapExpiredLeases` stores). */
const kLeaseExpiredError: WireError = {
  name: 'LeaseLostError',
  code: 'PULSE_ERR_JOB_LEASE_LOST',
  message: 'lease expired: the worker stopped renewing it',
}

function actorModule(name: string): URL {
  return new URL(import.meta.url.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, import.meta.url)
}

export class JobWorker extends Closeable {
  readonly events = new EventEmitter<JobWorkerEventMap>()
  readonly options: ResolvedJobWorkerOptions
  readonly #pool: pg.Pool
  /** Given, or derived from the pool at `start` (a pool that cannot cross a thread fails there). */
  #connection: ConnectionConfig | undefined
  /** The actors' connection goes through a transaction-mode pooler. */
  readonly #transactionPooler: boolean
  /** Where the dispatcher LISTENs, when given (see `#listenTo`). */
  readonly #listenConnection: ConnectionConfig | undefined
  readonly #registry: MetricsRegistry | undefined
  readonly #metrics: JobMetrics | undefined
  readonly #fire: WorkerEvents
  readonly #attempts: Attempts
  readonly #link: DispatcherLink
  #runtime: Runtime | undefined
  #ownsRuntime = false
  #dispatcher: ActorRef<DispatcherMsg, unknown, DispatcherOut> | undefined
  #watchdog: ActorRef<WatchdogMsg, unknown, WatchdogOut> | undefined
  #scheduler: ActorRef<SchedulerMsg, unknown, SchedulerOut> | undefined
  #unsubscribe: (() => void)[] = []
  #starting: Promise<void> | undefined
  /** How long the running handlers get at close: `close()`'s `timeoutMs`, else `options.closeTimeoutMs`. */
  #drainMs = 0
  readonly #drainCut = new AbortController()
  #untrack: (() => void) | undefined

  constructor(options: JobWorkerOptions) {
    const setup = resolveJobWorkerOptions(options)
    // Each close step has its own bound (see `close`).
    super({ name: `JobWorker "${setup.options.schema}"`, closeTimeoutMs: kMaxTimerMs })
    this.options = setup.options
    this.#pool = setup.pool
    this.#connection = setup.connection
    this.#transactionPooler = setup.transactionPooler
    this.#listenConnection = setup.listenConnection
    this.#registry = setup.metrics
    this.#metrics = this.#registry === undefined ? undefined : jobMetrics(this.#registry)
    this.#fire = new WorkerEvents(this.events, this.#metrics)
    this.#link = new DispatcherLink({ backoff: this.options.backoff, events: this.#fire, metrics: this.#metrics })
    this.#attempts = new Attempts({
      pool: this.#pool,
      q: quoteSchema(this.options.schema),
      leaseTtlMs: this.options.leaseTtlMs,
      link: this.#link,
      events: this.#fire,
      metrics: this.#metrics,
    })
  }

  /** Registers the handler of jobs named `name` (before or after `start`; once per name). */
  register<Args = unknown>(name: string, fn: JobHandler<Args> | undefined, options: RegisterOptions = {}): void {
    this.#assertOpen('register')
    checkString(name, 'name', { nonEmpty: true })
    if (this.#attempts.has(name))
      throw new InvalidArgumentError(`a handler for "${name}" is registered already`, { data: { option: 'name' } })
    this.#attempts.register(registration(name, fn as JobHandler | undefined, options))
    this.#link.syncNames()
  }

  /** Spawns the actors and starts claiming. Rejects when called twice or after `close()`. */
  start(options: JobWorkerStartOptions = {}): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new ClosedError('cannot start: the job worker is closed'))
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
  override close(options: JobWorkerCloseOptions = {}): Promise<void> {
    if (this.state === 'open') {
      this.#drainMs =
        options.timeoutMs === undefined
          ? this.options.closeTimeoutMs
          : checkDurationMs(options.timeoutMs, 'options.timeoutMs')
    }
    return super.close()
  }

  /**
   * Forceful: like `close()`, but running handlers are aborted and released at once instead of being
   * waited for. Joins a `close()` in progress (cutting its drain short).
   */
  destroy(): Promise<void> {
    this.#drainCut.abort()
    return this.close({ timeoutMs: 0 })
  }

  /** Jobs held (claimed and not settled) and running now, and results not acked yet; for stats and tests. */
  get load(): { held: number; running: number; unacked: number } {
    return { held: this.#attempts.held, running: this.#attempts.running, unacked: this.#link.unacked }
  }

  #assertOpen(what: string): void {
    if (this.state !== 'open') throw new ClosedError(`cannot ${what}: the job worker is closed`)
  }

  // ---- start ----

  async #start(options: JobWorkerStartOptions): Promise<void> {
    const start = resolveJobWorkerStartOptions(options)
    const window = new ClaimWindow(start.concurrency, start.prefetch, this.options.claimBatchMax)
    this.#attempts.prepare(start.concurrency, start.handlerPool)
    this.#connection ??= connectionOf(this.#pool)
    this.#untrack = trackResource('other', `JobWorker ${this.options.schema} ${this.options.owner}`)
    this.#ownsRuntime = start.runtime === undefined
    const rt =
      start.runtime ??
      (await Runtime.start({
        closeTimeoutMs: kActorStepMs,
        ...(this.#registry === undefined ? {} : { metrics: this.#registry }),
      }))
    this.#runtime = rt
    try {
      await this.#spawn(rt, window, start.schedules)
    } catch (error) {
      await this.#stopActors().catch(() => undefined)
      for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
      this.#link.detach()
      this.#dispatcher = this.#watchdog = this.#scheduler = this.#runtime = undefined
      this.#untrack()
      throw error
    }
    this.#attempts.start()
    this.#link.open()
    const { signal } = start
    if (signal !== undefined) {
      const onAbort = () => void this.close().catch(() => undefined)
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
      this.#unsubscribe.push(() => signal.removeEventListener('abort', onAbort))
    }
  }

  async #spawn(rt: Runtime, window: ClaimWindow, schedules: boolean): Promise<void> {
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
      window: window.size,
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
      const onError = (error: Error) => this.#fire.warn('the jobs runtime gave up', error)
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
    this.#unsubscribe.push(this.#link.attach(this.#dispatcher, window, this.#attempts))
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
    this.#fire.warn(message, new PulseError('PULSE_ERR_JOB_LISTEN_OFF', message, { data: { pollIntervalMs } }))
    return null
  }

  /** The dispatcher's claim counts since the last scrape (metrics.ts). */
  async #claimCounts(): Promise<ClaimCounts> {
    const dispatcher = this.#dispatcher
    if (dispatcher === undefined) return { claims: 0, empty: 0 }
    return (await dispatcher.ask({ t: 'stats' }, { timeoutMs: kActorStepMs })) as ClaimCounts
  }

  // ---- from the actors ----

  /** After a restart an actor has lost its state: tell it again what it needs to know. */
  #onActorRestart(name: string): void {
    if (this.state !== 'open') return
    if (name === this.#dispatcher?.name) {
      this.#link.restarted()
    } else if (name === this.#watchdog?.name) {
      const jobs = [...this.#attempts.leases(), ...this.#link.unackedLeases()]
      if (jobs.length > 0 && this.#watchdog.tell({ t: 'running', jobs }) !== true)
        this.#fire.warn('could not hand the leases to the restarted watchdog', new Error('mailbox full'))
    }
    this.#link.scheduleFlush()
  }

  #onWatchdog(msg: WatchdogOut): void {
    switch (msg.t) {
      case 'lost':
        if (this.#metrics !== undefined)
          this.#metrics.leasesLost.inc(msg.tokens.filter((token) => !this.#link.isUnacked(token)).length)
        msg.tokens.forEach((token) => this.#attempts.lost(token))
        this.#link.scheduleFlush()
        return
      case 'reaped':
        for (const job of msg.jobs) this.#fire.failure(job, kLeaseExpiredError, job.status, job.retryAt)
        return
      case 'warning':
        this.#fire.warn(msg.message, fromWire(msg.error))
        return
    }
  }

  #onScheduler(msg: SchedulerOut): void {
    if (msg.t === 'warning') this.#fire.warn(msg.message, fromWire(msg.error))
  }

  // ---- close ----

  protected onClose(): Promise<void> {
    return this.#shutdown(this.#drainMs)
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    await this.#starting?.catch(() => undefined)
    this.#link.stopClaiming()
    this.#attempts.close()
    if (this.#dispatcher === undefined) return this.#finish()
    try {
      // 1. Stop claiming: after 'closed', no more jobs can arrive.
      await bounded(this.#link.close(), kActorStepMs)
      // 2. Jobs not started yet go back at once.
      this.#attempts.releaseWaiting()
      // 3. Running handlers get until the bound.
      await bounded(abortable(this.#attempts.settled(), this.#drainCut.signal), timeoutMs)
      // 4. The rest are aborted and released.
      this.#attempts.releaseRunning()
      // 5. The last acks.
      await bounded(this.#link.flush(), kActorStepMs)
    } finally {
      await this.#finish()
    }
  }

  async #finish(): Promise<void> {
    this.#link.dispose()
    const errors: unknown[] = []
    await this.#stopActors().catch((error: unknown) => errors.push(error))
    await this.#attempts.closeHandlerPool().catch((error: unknown) => errors.push(error))
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
}

/** Waits for `promise` at most `ms`; never rejects. */
function bounded(promise: Promise<unknown>, ms: number): Promise<void> {
  return withTimeout(
    promise.then(() => undefined),
    ms,
    () => new Error('bound'),
  ).catch(() => undefined)
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
