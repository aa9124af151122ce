/**
 * `JobQueue`: the durable job queue on PostgreSQL.
 *
 *   const q = await JobQueue.connect({ pg: pool | databaseUrl })   // migrates the schema first
 *   const id = await q.enqueue('send-email', { to: 'a@b.com' }, { priority: 5 })
 *   await q.schedule('rollup', {}, cron('0 * * * *'))
 *   await q.pauseDispatch('db maintenance')
 *   await q.close()
 *
 * This class is thin: each group of methods lives in its own module (submit.ts, operator.ts,
 * inspect.ts), working on the queue's `JobQueueInternals` (internal.ts). The execution side —
 * `register`, `start`, `events`, the drain at close — joins through the same internals: it reads the
 * pool and options there and adds its cleanups with `addCloseHook`, which `close()` runs first.
 *
 * Lifecycle: `close()` stops intake (later calls reject with `ClosedError`), runs the
 * close hooks (last added first, all of them), then closes the pool — ending it only when the queue
 * built it from a connection string. It is idempotent, memoised and bounded by `closeTimeoutMs`, after
 * which the queue is destroyed.
 */
import { coerceError } from '../../runtime/errors.js'
import { Destroyable } from '../../runtime/lifecycle.js'
import { trackResource } from '../../runtime/resource-tracker.js'
import { childOf } from '../../runtime/metrics.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { migrate } from '../../transports/postgres/migrate.js'
import { createPgPool, type PgPool } from '../../transports/postgres/pool.js'
import * as inspect from './inspect.js'
import * as insights from './insights.js'
import { insights as readInsights } from './insights-summary.js'
import { type JobQueueInternals, kJobQueueInternals, poolQueryable, preparedPoolQueryable } from './internal.js'
import { type JobMetrics, jobMetrics } from './metrics.js'
import * as operator from './operator.js'
import { type JobQueueOptions, resolveJobQueueOptions, type ResolvedJobQueueOptions } from './options.js'
import type { ScheduleSpec } from './schedule-spec.js'
import {
  createQueueWorker,
  type JobHandler,
  type JobWorker,
  type JobWorkerStartOptions,
  type RegisterOptions,
} from './worker.js'
import * as submit from './submit.js'
import type {
  AuditLogEntry,
  AuditLogOptions,
  BulkActionOptions,
  DispatchStatus,
  EnqueueManyItem,
  EnqueueManyOptions,
  EnqueueOptions,
  JobFilter,
  JobInfo,
  JobList,
  JobStats,
  ListJobsOptions,
  OperatorOptions,
  PruneJobsOptions,
  ReadOptions,
  ScheduleDefinition,
  ScheduleInfo,
  ScheduleOptions,
} from './types.js'
import type {
  EstimatedJobStats,
  EstimatedStatsOptions,
  InsightOptions,
  InsightsOptions,
  JobInsights,
  JobLatency,
  JobThroughput,
  JobWorkers,
  LatencyOptions,
  ThroughputOptions,
} from './types.js'

type Cleanup = { close: () => unknown; destroy: ((reason?: Error) => unknown) | undefined }

export class JobQueue extends Destroyable {
  /** The queue's database (for the execution side; see internal.ts). */
  protected readonly pool: PgPool
  /** The schema as a quoted SQL identifier. */
  protected readonly schema: string
  protected readonly options: ResolvedJobQueueOptions

  readonly #internals: JobQueueInternals
  /** Cleanups of the execution side, run first by `close()` (see `addCloseHook`). */
  readonly #closeHooks: Cleanup[] = []
  readonly #untrack: () => void
  readonly #metrics: JobMetrics | undefined
  #worker: JobWorker | undefined

  /** Connects (and migrates the schema), then returns the queue. */
  static async connect(options: JobQueueOptions): Promise<JobQueue> {
    const resolved = resolveJobQueueOptions(options)
    const pool = createPgPool(resolved.pg)
    try {
      await migrate(pool, { schema: resolved.schema, transactionPooler: resolved.transactionPooler })
    } catch (error) {
      await pool.close().catch(() => undefined)
      throw error
    }
    return new JobQueue(pool, resolved)
  }

  private constructor(pool: PgPool, options: ResolvedJobQueueOptions) {
    const name = `JobQueue "${options.schema}"`
    super({ name, closeTimeoutMs: options.closeTimeoutMs })
    this.pool = pool
    this.options = options
    this.schema = quoteSchema(options.schema)
    this.#metrics = options.metrics === undefined ? undefined : jobMetrics(options.metrics)
    this.#untrack = trackResource('other', name)
    const lifecycle = this.lifecycle
    this.#internals = Object.freeze({
      pool,
      q: this.schema,
      db: poolQueryable(pool),
      // Through a transaction pooler a named statement would be prepared on one server session and
      // executed on another: the hot texts go unnamed there.
      prepared: options.transactionPooler ? poolQueryable(pool) : preparedPoolQueryable(pool),
      options,
      signal: lifecycle.signal,
      assertOpen: (what: string) => lifecycle.assertOpen(what),
      addCloseHook: (close: () => unknown, destroy?: (reason?: Error) => unknown) => {
        lifecycle.assertOpen('addCloseHook')
        this.#closeHooks.push({ close, destroy })
      },
    })
  }

  /** For the queue's other modules (execution); not part of the public API. */
  get [kJobQueueInternals](): JobQueueInternals {
    return this.#internals
  }

  // ---- enqueue ----

  /**
   * Adds a job; resolves to its id once it is durable (committed), or, with `options.client`, once it
   * is written in the caller's transaction. `args` must be JSON-serialisable, or a `Uint8Array` (read
   * back as a `Buffer`). With an `idempotencyKey` already used, resolves to that job's id.
   */
  enqueue(name: string, args: unknown, options: EnqueueOptions = {}): Promise<string> {
    const enqueued = this.#call('enqueue', () => submit.enqueue(this.#internals, name, args, options))
    const metrics = this.#metrics
    if (metrics === undefined) return enqueued
    return enqueued.then((id) => {
      childOf(metrics.enqueued, name).inc()
      return id
    })
  }

  /** Adds many jobs in one statement; resolves to their ids, in order. */
  enqueueMany(jobs: readonly EnqueueManyItem[], options: EnqueueManyOptions = {}): Promise<string[]> {
    const enqueued = this.#call('enqueueMany', () => submit.enqueueMany(this.#internals, jobs, options))
    const metrics = this.#metrics
    if (metrics === undefined) return enqueued
    return enqueued.then((ids) => {
      const byName = new Map<string, number>()
      for (const job of jobs) byName.set(job.name, (byName.get(job.name) ?? 0) + 1)
      for (const [name, n] of byName) childOf(metrics.enqueued, name).inc(n)
      return ids
    })
  }

  // ---- jobs: reads and operator actions ----

  /**
   * The job with its history, or `undefined` when no job has this id. `options.timeoutMs` bounds the
   * read (`TimeoutError` past it).
   */
  getJob(id: string, options: ReadOptions = {}): Promise<JobInfo | undefined> {
    return this.#call('getJob', () => inspect.getJob(this.#internals, id, options))
  }

  /**
   * A page of jobs, newest first; pass the returned `cursor` for the next one. Filters: status, name,
   * id, args containment (`argsContain`, JSON `@>`), creation time (`createdAfter` ≤ t < `createdBefore`).
   * Pages walk the primary key (keyset, no OFFSET); a filter that few recent jobs match walks far, so
   * give an operator's search `timeoutMs` (`TimeoutError` past it).
   */
  listJobs(options: ListJobsOptions = {}): Promise<JobList> {
    return this.#call('listJobs', () => inspect.listJobs(this.#internals, options))
  }

  /** Counts per job name and status, and the age of the oldest job waiting to be claimed. */
  stats(): Promise<JobStats> {
    return this.#call('stats', () => inspect.stats(this.#internals))
  }

  /**
   * Cancels a pending, running or retrying job (a running one's worker loses its lease: its result is
   * discarded). `JobNotFoundError` for an unknown id, `JobStateError` for a finished job.
   */
  cancel(id: string, options: OperatorOptions = {}): Promise<void> {
    return this.#call('cancel', () => operator.cancel(this.#internals, id, options))
  }

  /** Moves a dead-lettered job back to pending with a fresh attempt budget; `JobStateError` otherwise. */
  requeue(id: string, options: OperatorOptions = {}): Promise<void> {
    return this.#call('requeue', () => operator.requeue(this.#internals, id, options))
  }

  /**
   * Deletes finished jobs (completed, dead, canceled) older than `olderThanMs`, with their history, at
   * most `limit` (10,000) per call, the oldest first; resolves to how many went. Jobs that may still run
   * are never deleted. Recorded in the audit log.
   */
  pruneJobs(options: PruneJobsOptions): Promise<{ deleted: number }> {
    return this.#call('pruneJobs', () => operator.prune(this.#internals, options))
  }

  /** How many jobs match the filter now (every job without one); `options.timeoutMs` bounds the count. */
  countJobs(filter: JobFilter = {}, options: ReadOptions = {}): Promise<number> {
    return this.#call('countJobs', () => operator.count(this.#internals, filter, options))
  }

  /**
   * Cancels up to `limit` (1,000) jobs matching the filter — pending, running and retrying ones unless
   * `status` narrows it — the oldest first, skipping rows another transaction holds; resolves to how
   * many. Call it again until it cancels none. One audit row per call.
   */
  cancelJobs(options: BulkActionOptions = {}): Promise<{ count: number }> {
    return this.#call('cancelJobs', () => operator.cancelMany(this.#internals, options))
  }

  /** Requeues up to `limit` (1,000) dead jobs matching the filter, as `cancelJobs` does for cancels. */
  requeueJobs(options: BulkActionOptions = {}): Promise<{ count: number }> {
    return this.#call('requeueJobs', () => operator.requeueMany(this.#internals, options))
  }

  /** One round trip to the database; resolves to how long it took, in ms. */
  ping(): Promise<number> {
    return this.#call('ping', async () => {
      const t0 = performance.now()
      await this.pool.query('SELECT 1')
      return performance.now() - t0
    })
  }

  // ---- dispatch ----

  /**
   * Stops claims on every replica (durably: it survives restarts). Enqueues, running jobs and schedules
   * go on.
   */
  pauseDispatch(reason?: string, options: Omit<OperatorOptions, 'reason'> = {}): Promise<DispatchStatus> {
    return this.#call('pauseDispatch', () => operator.pauseDispatch(this.#internals, reason, options))
  }

  resumeDispatch(options: OperatorOptions = {}): Promise<DispatchStatus> {
    return this.#call('resumeDispatch', () => operator.resumeDispatch(this.#internals, options))
  }

  dispatchStatus(options: ReadOptions = {}): Promise<DispatchStatus> {
    return this.#call('dispatchStatus', () => inspect.dispatchStatus(this.#internals, options))
  }

  // ---- schedules ----

  /**
   * Spawns a `jobName` job with `payload` as its args at each occurrence of `spec` (`every`, `cron`,
   * `at`, `after`), exactly once per occurrence. Resolves to the schedule's id. A schedule of the same
   * name (default: `jobName`) is updated instead of duplicated.
   */
  schedule(jobName: string, payload: unknown, spec: ScheduleSpec, options: ScheduleOptions = {}): Promise<string> {
    return this.#call('schedule', async () => {
      const { id } = await operator.schedule(this.#internals, jobName, payload, spec, options)
      return id
    })
  }

  /**
   * `schedule`, telling also whether the schedule is new (`created: true`) or replaced the one of its
   * name (`false`): replicas that re-declare their schedules at boot replace them.
   */
  defineSchedule(
    jobName: string,
    payload: unknown,
    spec: ScheduleSpec,
    options: ScheduleOptions = {},
  ): Promise<ScheduleDefinition> {
    return this.#call('defineSchedule', () => operator.schedule(this.#internals, jobName, payload, spec, options))
  }

  listSchedules(options: ReadOptions = {}): Promise<ScheduleInfo[]> {
    return this.#call('listSchedules', () => inspect.listSchedules(this.#internals, options))
  }

  /** Stops a schedule firing until resumed; `ScheduleNotFoundError` for an unknown id. */
  pauseSchedule(id: string, options: OperatorOptions = {}): Promise<void> {
    return this.#call('pauseSchedule', () => operator.setPaused(this.#internals, id, true, options))
  }

  /** A resumed schedule whose occurrence passed fires once, then resyncs forward. */
  resumeSchedule(id: string, options: OperatorOptions = {}): Promise<void> {
    return this.#call('resumeSchedule', () => operator.setPaused(this.#internals, id, false, options))
  }

  /** Deletes a schedule (the jobs it spawned stay); `false` when none has this id. */
  deleteSchedule(id: string, options: OperatorOptions = {}): Promise<boolean> {
    return this.#call('deleteSchedule', () => operator.removeSchedule(this.#internals, id, options))
  }

  // ---- audit ----

  /** Operator actions, newest first; page with `before` (the last entry's id). */
  auditLog(options: AuditLogOptions = {}): Promise<AuditLogEntry[]> {
    return this.#call('auditLog', () => inspect.auditLog(this.#internals, options))
  }

  // ---- insights: bounded reads for overviews and dashboards (insights.ts) ----

  /**
   * The queue at a glance: counts, the oldest waiting job, the dispatch switch, the last hour's
   * throughput and latency, the workers connected, and warnings (dispatch paused, dead-letters
   * growing, a name with jobs waiting and no worker). Each part's statements are bounded by
   * `timeoutMs`; a part past it is listed in `unavailable` instead of failing the call.
   */
  insights(options: InsightsOptions = {}): Promise<JobInsights> {
    return this.#call('insights', () => readInsights(this.#internals, options))
  }

  /**
   * Counts per name × status, exact on a table of at most `exactUpTo` rows, else estimated from a
   * sample of its pages (`estimated: true`) so that a large table is not read whole.
   */
  estimatedStats(options: EstimatedStatsOptions = {}): Promise<EstimatedJobStats> {
    return this.#call('estimatedStats', () => insights.estimatedStats(this.#internals, options))
  }

  /** Completed, failed and dead-lettered per minute over the last `sinceMs` (an hour). */
  throughput(options: ThroughputOptions = {}): Promise<JobThroughput> {
    return this.#call('throughput', () => insights.throughput(this.#internals, options))
  }

  /** Wait (due → start) and run (start → completion) percentiles of the newest completed attempts. */
  latency(options: LatencyOptions = {}): Promise<JobLatency> {
    return this.#call('latency', () => insights.latency(this.#internals, options))
  }

  /** The workers connected to this queue's schema, and the owners of the leases held now. */
  workers(options: InsightOptions = {}): Promise<JobWorkers> {
    return this.#call('workers', () => insights.workers(this.#internals, options))
  }

  // ---- execution (register, start, events): added by the execution side, through addCloseHook ----

  /**
   * Job events, fired once the database confirmed each transition: 'completed', 'failed', 'retrying',
   * 'dead', 'progress' (each `{ id, name, attempt, … }`), and 'started', 'warning' (worker.ts).
   */
  get events(): JobWorker['events'] {
    return this.#executor().events
  }

  /** Registers the handler of jobs named `name`, before or after `start` (see `JobWorker.register`). */
  register<Args = unknown>(name: string, fn: JobHandler<Args> | undefined, options: RegisterOptions = {}): void {
    this.assertOpen('register')
    this.#executor().register(name, fn, options)
  }

  /** Runs the dispatcher, watchdog and scheduler actors and the handlers; `close()` drains them first. */
  start(options: JobWorkerStartOptions = {}): Promise<void> {
    const { runtime } = this.options
    const withRuntime = runtime === undefined || options.runtime !== undefined ? options : { ...options, runtime }
    return this.#call('start', () => this.#executor().start(withRuntime))
  }

  /** Jobs this queue's worker holds (claimed, not settled), runs and has not acked yet; zeros before `start`. */
  get load(): { held: number; running: number; unacked: number } {
    return this.#worker?.load ?? { held: 0, running: 0, unacked: 0 }
  }

  /** The execution side, made on first use; `close()` closes it first (a close hook). */
  #executor(): JobWorker {
    if (this.#worker === undefined) {
      const worker = createQueueWorker(this.#internals)
      this.#worker = worker
      if (this.state === 'open')
        this.#internals.addCloseHook(
          () => worker.close(),
          () => worker.destroy(),
        )
    }
    return this.#worker
  }

  // ---- lifecycle ----

  /** Refuses once closing (`ClosedError`), then runs `fn`, turning a synchronous throw into a rejection. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.assertOpen(what)
    return fn()
  }

  /** Graceful: the close hooks (last added first), then the database; see the module comment. */
  protected async onClose(): Promise<void> {
    const failures: unknown[] = []
    // 1. The execution side's cleanups (stop claiming, drain in-flight jobs), last added first.
    for (const hook of [...this.#closeHooks].reverse()) {
      try {
        await hook.close()
      } catch (error) {
        failures.push(error)
      }
    }
    // 2. The database: waits for the calls in flight; ends the pool only if the queue built it.
    try {
      await this.pool.close()
    } catch (error) {
      failures.push(error)
    } finally {
      this.#untrack()
    }
    throwAll(failures)
  }

  /** Forceful: runs the destroy side of the close hooks and discards the pool's clients. */
  protected override async onDestroy(reason: Error | undefined): Promise<void> {
    const failures: unknown[] = []
    // Also the hooks whose graceful close is still running (a close that overran its bound).
    for (const hook of [...this.#closeHooks].reverse()) {
      try {
        await hook.destroy?.(reason)
      } catch (error) {
        failures.push(error)
      }
    }
    try {
      await this.pool.destroy(reason)
    } catch (error) {
      failures.push(error)
    } finally {
      this.#untrack()
    }
    throwAll(failures)
  }
}

function throwAll(failures: readonly unknown[]): void {
  const errors = failures.map(coerceError)
  const [only] = errors
  if (only !== undefined && errors.length === 1) throw only
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups of the job queue failed`)
}
