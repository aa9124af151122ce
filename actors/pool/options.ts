/**
 * `PoolNode.join` options with the defaults of goa.design/pulse v1.6.5's `defaultPoolOptions()`, and the
 * periods the protocol derives from them:
 *
 * | option | reference | default | drives |
 * |---|---|---|---|
 * | `workerTtlMs` | `WithWorkerTTL` | 30 s | staleness of workers and nodes; keep-alives every ttl/2, cleanup sweeps every ttl |
 * | `workerShutdownTtlMs` | `WithWorkerShutdownTTL` | 2 min | how long `close()` retries requeuing a worker's jobs |
 * | `jobSinkBlockMs` | `WithJobSinkBlockDuration` | 5 s | BLOCK of the pool sink and of the node stream reader |
 * | `maxQueuedJobs` | `WithMaxQueuedJobs` | 1,000 | admission: unconsumed jobs allowed in the pool stream |
 * | `ackGracePeriodMs` | `WithAckGracePeriod` | 20 s | sink redelivery; dispatch timeout and pending guard 2 × it |
 * | `clientOnly` | `WithClientOnly` | false | a node that dispatches, stops and notifies only |
 * | `logger` | `WithLogger` | silent | |
 * | `metrics` | — | none | where the node counts dispatches, rebalances, workers and jobs (metrics.ts) |
 * | `keyLayout` | — | `cluster` on a cluster, else `compat` | the pool's Redis keys (transports/redis/pool/keys.ts) |
 *
 * The reference's GoDoc says 10 s for the worker TTL; its code says 30 s, which is what runs.
 */
import type { Logger } from '../../runtime/logger.js'
import { type KeyLayout, kKeyLayouts } from '../../transports/redis/key-layout.js'
import { checkLogger, SILENT_LOGGER } from '../../runtime/logger.js'
import { checkRegistry, type MetricsRegistry } from '../../runtime/metrics.js'
import {
  checkBoolean,
  checkDurationMs,
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  kMaxTimerMs,
  resolveOptions,
} from '../../runtime/options.js'
import { checkRuntime, type Runtime } from '../../runtime/runtime.js'

export interface PoolOptions {
  /**
   * A worker or node whose keep-alive is older than this is dead; keep-alives are written every
   * half of it, and dead members are swept every period.
   * @default 30_000
   */
  workerTtlMs?: number | undefined
  /**
   * How long `close()` keeps trying to requeue a leaving worker's jobs.
   * @default 120_000
   */
  workerShutdownTtlMs?: number | undefined
  /**
   * How long one read of the pool stream or of the node's stream blocks in Redis.
   * @default 5_000
   */
  jobSinkBlockMs?: number | undefined
  /**
   * How many dispatched jobs may wait unconsumed in the pool stream; one more is refused with
   * `QueueFullError` (the reference trims the stream instead, losing unread jobs).
   * @default 1_000
   */
  maxQueuedJobs?: number | undefined
  /**
   * A pool event read but not acknowledged for this long is redelivered; `dispatchJob` gives up
   * after twice this long (`DispatchTimeoutError`).
   * @default 20_000
   */
  ackGracePeriodMs?: number | undefined
  /**
   * A node that only dispatches, stops and notifies: it runs no worker, routes nothing and joins only
   * the shutdown and node keep-alive maps.
   * @default false
   */
  clientOnly?: boolean | undefined
  /** @default silent */
  logger?: Logger | undefined
  /** Where the node counts dispatches, rebalances, workers and jobs (metrics.ts). @default none */
  metrics?: MetricsRegistry | undefined
  /** The runtime whose thread runs the node's watchdog actor. @default none (the node starts its own) */
  runtime?: Runtime | undefined
  /**
   * The pool's Redis keys (transports/redis/key-layout.ts): `compat` (goa.design/pulse's, one Redis
   * server) or `cluster` (every key of the pool in one hash slot). `compat` on a cluster is refused by
   * `join`, before any connection is made.
   * @default 'cluster' on a Redis Cluster, else 'compat'
   */
  keyLayout?: KeyLayout | undefined
}

export interface ResolvedPoolOptions {
  readonly workerTtlMs: number
  readonly workerShutdownTtlMs: number
  readonly jobSinkBlockMs: number
  readonly maxQueuedJobs: number
  readonly ackGracePeriodMs: number
  readonly clientOnly: boolean
  readonly logger: Logger
  readonly metrics: MetricsRegistry | undefined
  readonly runtime: Runtime | undefined
  /** Undefined: the default for the connection (`resolveKeyLayout`). */
  readonly keyLayout: KeyLayout | undefined
}

export const DEFAULT_POOL_OPTIONS = Object.freeze({
  workerTtlMs: 30_000,
  workerShutdownTtlMs: 120_000,
  jobSinkBlockMs: 5_000,
  maxQueuedJobs: 1_000,
  ackGracePeriodMs: 20_000,
  clientOnly: false,
  logger: SILENT_LOGGER,
  metrics: undefined,
  runtime: undefined,
  keyLayout: undefined,
}) satisfies ResolvedPoolOptions

const kKnownOptions = Object.keys(DEFAULT_POOL_OPTIONS)

/** A pool event older than this (by its stream id) is acknowledged and dropped unrouted (PROTOCOL.md, "Routing"). */
export const kPendingEventTtlMs = 120_000

/** The longest `maxQueuedJobs`: the admission counter is a Redis integer, the bound a sanity one. */
const kMaxQueuedJobs = 10_000_000

export function resolvePoolOptions(options: PoolOptions | undefined): ResolvedPoolOptions {
  if (options === undefined) return DEFAULT_POOL_OPTIONS
  checkKnownKeys(options, kKnownOptions)
  // Keep-alives run every ttl/2 and sweeps every ttl: both timers must stay within setTimeout's range.
  if (options.workerTtlMs !== undefined) checkDurationMs(options.workerTtlMs, 'options.workerTtlMs', { min: 2 })
  if (options.workerShutdownTtlMs !== undefined)
    checkDurationMs(options.workerShutdownTtlMs, 'options.workerShutdownTtlMs', { min: 1 })
  // Redis reads BLOCK 0 as "forever": a read would never come back to see a close.
  if (options.jobSinkBlockMs !== undefined)
    checkDurationMs(options.jobSinkBlockMs, 'options.jobSinkBlockMs', { min: 1 })
  if (options.maxQueuedJobs !== undefined)
    checkInteger(options.maxQueuedJobs, 'options.maxQueuedJobs', { min: 1, max: kMaxQueuedJobs })
  // The dispatch timeout is 2 × the grace period, a timer too.
  if (options.ackGracePeriodMs !== undefined) {
    checkDurationMs(options.ackGracePeriodMs, 'options.ackGracePeriodMs', { min: 1, max: Math.floor(kMaxTimerMs / 2) })
  }
  if (options.clientOnly !== undefined) checkBoolean(options.clientOnly, 'options.clientOnly')
  if (options.logger !== undefined) checkLogger(options.logger)
  if (options.metrics !== undefined) checkRegistry(options.metrics)
  if (options.runtime !== undefined) checkRuntime(options.runtime, 'options.runtime')
  if (options.keyLayout !== undefined) checkOneOf(options.keyLayout, 'options.keyLayout', kKeyLayouts)
  return resolveOptions<ResolvedPoolOptions>(DEFAULT_POOL_OPTIONS, options)
}

/** The periods and horizons the protocol derives from the options (PROTOCOL.md). */
export interface PoolTimings {
  /** How often a node writes its own and its workers' keep-alives: ttl / 2. */
  readonly keepAliveEveryMs: number
  /** How often a node sweeps for dead workers and nodes: ttl. */
  readonly sweepEveryMs: number
  /** A keep-alive (or cleanup lock) older than this is stale: ttl. */
  readonly staleAfterMs: number
  /** BLOCK of a worker's stream reader: ttl / 2. */
  readonly workerReadBlockMs: number
  /** When `dispatchJob` gives up, and how long a pending guard holds: 2 × ack grace. */
  readonly dispatchTimeoutMs: number
  /** How often expired pending guards are removed: ack grace. */
  readonly pendingSweepEveryMs: number
  /** A payload without owner for this long is requeued: max(2 × ttl, ack grace). */
  readonly orphanGraceMs: number
}

export function poolTimings(options: ResolvedPoolOptions): PoolTimings {
  const half = Math.max(1, Math.floor(options.workerTtlMs / 2))
  return Object.freeze({
    keepAliveEveryMs: half,
    sweepEveryMs: options.workerTtlMs,
    staleAfterMs: options.workerTtlMs,
    workerReadBlockMs: half,
    dispatchTimeoutMs: 2 * options.ackGracePeriodMs,
    pendingSweepEveryMs: options.ackGracePeriodMs,
    orphanGraceMs: Math.max(2 * options.workerTtlMs, options.ackGracePeriodMs),
  })
}
