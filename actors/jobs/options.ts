/**
 * `JobQueue.connect` options: their defaults, their checks (each throws `PULSE_ERR_INVALID_ARG` naming
 * the option) and their resolution. The settings the queue shares with its worker (schema, lease,
 * poll, backoff, claim batch) are checked and defaulted by queue-settings.ts, the worker's code too.
 */
import type pg from 'pg'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkLogger, type Logger, SILENT_LOGGER } from '../../runtime/logger.js'
import { checkRegistry, type MetricsRegistry } from '../../runtime/metrics.js'
import { checkBoolean, checkDurationMs, checkKnownKeys, checkString, resolveOptions } from '../../runtime/options.js'
import { checkRuntime, type Runtime } from '../../runtime/runtime.js'
import { isPgPool } from '../../transports/postgres/pool.js'
import type { Backoff } from './backoff.js'
import { DEFAULT_QUEUE_SETTINGS, QUEUE_SETTING_KEYS, resolveQueueSettings } from './queue-settings.js'

/** What it logs through: the kernel's `Logger` (pino's shape). */
export type JobQueueLogger = Logger

export interface JobQueueOptions {
  /**
   * The database: a `pg.Pool` (the caller's: `close()` leaves it open) or a connection string (the
   * queue builds a pool of its own and ends it on `close()`).
   */
  pg: pg.Pool | string
  /**
   * `pg` goes through a connection pooler in transaction mode (PgBouncer's `pool_mode = transaction`),
   * which hands each transaction to any of its server connections: the queue then keeps no session
   * state there — no named prepared statements, no session `SET`s (the workers' settings go with each
   * transaction, `SET LOCAL`), no session advisory lock (migrations take a transaction's lock) — and
   * LISTENs only on `listenUrl`.
   * @default false
   */
  transactionPooler?: boolean | undefined
  /**
   * Where the workers LISTEN for new jobs: a connection string that reaches the database directly or
   * through a session-mode pooler (a LISTEN belongs to one server session). Without it, LISTEN uses
   * `pg`, or, with `transactionPooler`, is off: the workers find new jobs by polling every
   * `pollIntervalMs`, and each emits a 'warning' once saying so.
   * @default none (`pg`)
   */
  listenUrl?: string | undefined
  /**
   * The schema holding the queue's tables; created and migrated by `connect`.
   * @default 'pulse'
   */
  schema?: string | undefined
  /**
   * How long a claimed job's lease lasts without renewal; then it is retried elsewhere.
   * @default 30_000
   */
  leaseTtlMs?: number | undefined
  /**
   * The claim poll: a fallback for missed notifications and for delayed jobs that become due.
   * @default 1_000
   */
  pollIntervalMs?: number | undefined
  /**
   * Retry delay after attempt n failed: a unit in ms for `n² × unit`, or `(attempt) => ms`.
   * @default 1_000 (1 s, 4 s, 9 s, …)
   */
  backoff?: Backoff | undefined
  /**
   * Most jobs one claim statement takes (an integer from 1 to 10,000). A claim also takes no more than
   * the worker's free credits (`concurrency + prefetch` of `start`), so this only bounds big windows.
   * @default 500
   */
  claimBatchMax?: number | undefined
  /**
   * Where the queue logs.
   * @default silent
   */
  logger?: JobQueueLogger | undefined
  /**
   * Who operator actions (pause, cancel, requeue, schedule changes) are recorded as in the audit log,
   * unless a call names its own `actor`.
   * @default 'api'
   */
  actor?: string | undefined
  /**
   * The bound of `close()`, in ms: after it, the queue is destroyed (its pool's clients discarded) and
   * `close()` rejects with `CloseTimeoutError`.
   * @default 30_000
   */
  closeTimeoutMs?: number | undefined
  /**
   * Where the queue counts its jobs, claims and lost leases (metrics.ts); its worker's actors too.
   * @default none (nothing is counted)
   */
  metrics?: MetricsRegistry | undefined
  /**
   * The runtime whose threads run the worker's actors when `start` names none (it is not closed by the
   * queue's `close()`).
   * @default none (`start` starts a runtime of its own)
   */
  runtime?: Runtime | undefined
}

/** `JobQueueOptions` after defaults. */
export interface ResolvedJobQueueOptions {
  readonly pg: pg.Pool | string
  readonly transactionPooler: boolean
  readonly listenUrl: string | undefined
  readonly schema: string
  readonly leaseTtlMs: number
  readonly pollIntervalMs: number
  readonly backoff: Backoff
  readonly claimBatchMax: number
  readonly logger: JobQueueLogger
  readonly actor: string
  readonly closeTimeoutMs: number
  readonly metrics: MetricsRegistry | undefined
  readonly runtime: Runtime | undefined
}

export const DEFAULT_JOB_QUEUE_OPTIONS = Object.freeze({
  transactionPooler: false,
  listenUrl: undefined,
  ...DEFAULT_QUEUE_SETTINGS,
  logger: SILENT_LOGGER,
  actor: 'api',
  closeTimeoutMs: 30_000,
  metrics: undefined,
  runtime: undefined,
}) satisfies Omit<ResolvedJobQueueOptions, 'pg'>

const kKnownOptions = [
  'pg',
  'transactionPooler',
  'listenUrl',
  ...QUEUE_SETTING_KEYS,
  'logger',
  'actor',
  'closeTimeoutMs',
  'metrics',
  'runtime',
]

export function resolveJobQueueOptions(options: JobQueueOptions): ResolvedJobQueueOptions {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new InvalidArgumentError('options must be an object with at least { pg }', { data: { option: 'options' } })
  }
  checkKnownKeys(options, kKnownOptions)
  const source: unknown = options.pg
  if (typeof source === 'string') checkString(source, 'options.pg', { nonEmpty: true })
  else if (!isPgPool(source))
    throw new InvalidArgumentError('options.pg must be a pg.Pool or a connection string', {
      data: { option: 'options.pg' },
    })
  if (options.transactionPooler !== undefined) checkBoolean(options.transactionPooler, 'options.transactionPooler')
  if (options.listenUrl !== undefined) checkString(options.listenUrl, 'options.listenUrl', { nonEmpty: true })
  const settings = resolveQueueSettings(options)
  if (options.logger !== undefined) checkLogger(options.logger)
  if (options.actor !== undefined) checkString(options.actor, 'options.actor', { nonEmpty: true })
  if (options.closeTimeoutMs !== undefined) checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
  if (options.metrics !== undefined) checkRegistry(options.metrics)
  if (options.runtime !== undefined) checkRuntime(options.runtime, 'options.runtime')
  return resolveOptions<ResolvedJobQueueOptions>(
    { ...DEFAULT_JOB_QUEUE_OPTIONS, pg: options.pg },
    { ...options, ...settings },
  )
}
