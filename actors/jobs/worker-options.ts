/**
 * The options of a `JobWorker`: those of its constructor (`JobWorkerOptions`), of `start`
 * (`JobWorkerStartOptions`) and of `close`, their defaults and their checks. The settings it shares
 * with a `JobQueue` (schema, lease, poll, backoff, claim batch) are checked and defaulted by
 * queue-settings.ts, the same code as the queue's. Every check throws `PULSE_ERR_INVALID_ARG` naming
 * the option, before anything starts.
 */
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'

import type pg from 'pg'

import { InvalidArgumentError } from '../../runtime/errors.js'
import type { HandlerPoolOptions } from '../../runtime/handler-pool.js'
import { checkRegistry, type MetricsRegistry } from '../../runtime/metrics.js'
import {
  checkBoolean,
  checkDurationMs,
  checkInteger,
  checkKnownKeys,
  checkSignal,
  checkString,
} from '../../runtime/options.js'
import { checkRuntime, type Runtime } from '../../runtime/runtime.js'
import type { ConnectionConfig } from '../../transports/postgres/jobs/actor-pool.js'
import type { Backoff } from './backoff.js'
import { checkPrefetch, type PrefetchOption } from './claim-window.js'
import {
  DEFAULT_QUEUE_SETTINGS,
  QUEUE_SETTING_KEYS,
  type QueueSettings,
  resolveQueueSettings,
} from './queue-settings.js'

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
   * actors keep no session state there (transports/postgres/jobs/actor-pool.ts) and LISTEN only on
   * `listenConnection`.
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

export interface ResolvedJobWorkerOptions extends QueueSettings {
  readonly sweepIntervalMs: number
  readonly scheduleTickMs: number
  readonly owner: string
  readonly closeTimeoutMs: number
}

export const DEFAULT_JOB_WORKER_OPTIONS = Object.freeze({
  ...DEFAULT_QUEUE_SETTINGS,
  scheduleTickMs: 1_000,
})

export const DEFAULT_JOB_CONCURRENCY = 50
export const DEFAULT_CLOSE_TIMEOUT_MS = 10_000

/** `JobWorkerOptions` checked: the resolved settings, and what the worker keeps beside them. */
export interface JobWorkerSetup {
  readonly options: ResolvedJobWorkerOptions
  readonly pool: pg.Pool
  /** Given, or derived from the pool at `start` (a pool that cannot cross a thread fails there). */
  readonly connection: ConnectionConfig | undefined
  readonly transactionPooler: boolean
  readonly listenConnection: ConnectionConfig | undefined
  readonly metrics: MetricsRegistry | undefined
}

const kKnownOptions = [
  'pool',
  'connection',
  ...QUEUE_SETTING_KEYS,
  'sweepIntervalMs',
  'scheduleTickMs',
  'owner',
  'closeTimeoutMs',
  'metrics',
  'transactionPooler',
  'listenConnection',
]

export function resolveJobWorkerOptions(options: JobWorkerOptions): JobWorkerSetup {
  if (typeof options !== 'object' || (options as unknown) === null)
    throw new InvalidArgumentError('options must be an object', { data: { option: 'options' } })
  checkKnownKeys(options, kKnownOptions)
  const pool = options.pool as unknown
  if (
    typeof pool !== 'object' ||
    pool === null ||
    typeof (pool as pg.Pool).query !== 'function' ||
    typeof (pool as pg.Pool).options !== 'object'
  ) {
    throw new InvalidArgumentError('options.pool must be a pg.Pool', { data: { option: 'options.pool' } })
  }
  const settings = resolveQueueSettings(options)
  const sweepIntervalMs =
    options.sweepIntervalMs === undefined
      ? Math.min(settings.leaseTtlMs, 5_000)
      : checkDurationMs(options.sweepIntervalMs, 'options.sweepIntervalMs', { min: 1 })
  const scheduleTickMs =
    options.scheduleTickMs === undefined
      ? DEFAULT_JOB_WORKER_OPTIONS.scheduleTickMs
      : checkDurationMs(options.scheduleTickMs, 'options.scheduleTickMs', { min: 1, max: 1_000 })
  const owner =
    options.owner === undefined
      ? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`
      : checkString(options.owner, 'options.owner', { nonEmpty: true })
  const connection = options.connection === undefined ? undefined : checkConnection(options.connection)
  const transactionPooler =
    options.transactionPooler === undefined
      ? false
      : checkBoolean(options.transactionPooler, 'options.transactionPooler')
  const listenConnection =
    options.listenConnection === undefined
      ? undefined
      : checkConnection(options.listenConnection, 'options.listenConnection')
  const metrics = options.metrics === undefined ? undefined : checkRegistry(options.metrics)
  const closeTimeoutMs =
    options.closeTimeoutMs === undefined
      ? DEFAULT_CLOSE_TIMEOUT_MS
      : checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
  return {
    options: Object.freeze({ ...settings, sweepIntervalMs, scheduleTickMs, owner, closeTimeoutMs }),
    pool: options.pool,
    connection,
    transactionPooler,
    listenConnection,
    metrics,
  }
}

/** `JobWorkerStartOptions` checked, with their defaults. */
export interface ResolvedJobWorkerStartOptions {
  readonly concurrency: number
  readonly prefetch: PrefetchOption
  readonly signal: AbortSignal | undefined
  readonly runtime: Runtime | undefined
  readonly schedules: boolean
  readonly handlerPool: HandlerPoolOptions | undefined
}

export function resolveJobWorkerStartOptions(options: JobWorkerStartOptions): ResolvedJobWorkerStartOptions {
  checkKnownKeys(options, ['concurrency', 'prefetch', 'signal', 'runtime', 'schedules', 'handlerPool'])
  const concurrency =
    options.concurrency === undefined
      ? DEFAULT_JOB_CONCURRENCY
      : checkInteger(options.concurrency, 'options.concurrency', { min: 1, max: 1_000_000 })
  const prefetch = options.prefetch === undefined ? 'auto' : checkPrefetch(options.prefetch, 'options.prefetch')
  const signal = options.signal === undefined ? undefined : checkSignal(options.signal, 'options.signal')
  if (options.runtime !== undefined) checkRuntime(options.runtime, 'options.runtime')
  return {
    concurrency,
    prefetch,
    signal,
    runtime: options.runtime,
    schedules: options.schedules !== false,
    handlerPool: options.handlerPool,
  }
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
