/**
 * `Runtime.start` options of the composed runtime: the kernel's (runtime/runtime.ts) plus where the
 * features' data lives. Validation happens before anything connects.
 */
import type pg from 'pg'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkLogger, type Logger } from '../../runtime/logger.js'
import type { RuntimeOptions as KernelRuntimeOptions } from '../../runtime/runtime.js'
import { isPgPool } from '../../transports/postgres/pool.js'
import { isClusterClient, isClusterSource, isRedisClient, type RedisSource } from '../../transports/redis/connection.js'
import { type KeyLayout, resolveKeyLayout } from '../../transports/redis/key-layout.js'
import type { JobQueueOptions } from '../jobs/options.js'

/** The job queue's options that the runtime does not set itself (it sets the pool, logger, metrics, runtime). */
export type RuntimeJobsOptions = Omit<JobQueueOptions, 'pg' | 'logger' | 'metrics' | 'runtime'>

export interface RuntimeOptions extends KernelRuntimeOptions {
  /**
   * Redis of the maps, streams, pools and the bus: a URL (`redis-cluster://host:port,…` for a Redis
   * Cluster; the runtime connects, and closes the connection at `close()`) or an ioredis `Redis` or
   * `Cluster` client (the caller's: left open).
   * @default none (`map`, `stream`, `pool` and `bus` throw `PULSE_ERR_INVALID_ARG`)
   */
  redis?: RedisSource | undefined
  /**
   * The key layout of the maps, streams and pools the runtime makes (transports/redis/key-layout.ts;
   * a feature's own `keyLayout` option overrides it). The bus has one layout, on one server and on a
   * cluster alike. `'compat'` with a Redis Cluster is refused by `Runtime.start` (`PULSE_ERR_INVALID_ARG`).
   * @default 'cluster' on a Redis Cluster, else 'compat'
   */
  keyLayout?: KeyLayout | undefined
  /**
   * PostgreSQL of the job queue: a connection string (the runtime makes a pool and ends it at
   * `close()`) or a `pg.Pool` (the caller's: left open).
   * @default none (`jobs` throws `PULSE_ERR_INVALID_ARG`)
   */
  postgres?: string | pg.Pool | undefined
  /** Where every feature logs. @default silent */
  logger?: Logger | undefined
  /** Options of `rt.jobs` (schema, lease, backoff…). */
  jobs?: RuntimeJobsOptions | undefined
}

/** What the composed runtime takes out of the options before the kernel sees the rest. */
export interface FeatureSources {
  readonly redis: RedisSource | undefined
  /** The layout of the features' keys, resolved for `redis` (undefined without `redis`). */
  readonly keyLayout: KeyLayout | undefined
  readonly postgres: string | pg.Pool | undefined
  readonly logger: Logger | undefined
  readonly jobs: RuntimeJobsOptions
}

/** Splits and checks the options; the kernel validates what is left. */
export function splitRuntimeOptions(options: RuntimeOptions): {
  sources: FeatureSources
  kernel: KernelRuntimeOptions
} {
  if (typeof options !== 'object' || (options as unknown) === null)
    throw new InvalidArgumentError('options must be an object', { data: { option: 'options' } })
  const { redis, postgres, logger, jobs, keyLayout, ...kernel } = options
  if (redis !== undefined && typeof redis !== 'string' && !isRedisClient(redis) && !isClusterClient(redis))
    throw new InvalidArgumentError('options.redis must be a Redis URL or an ioredis client', {
      data: { option: 'options.redis' },
    })
  const layout = resolveKeyLayout(keyLayout, isClusterSource(redis))
  if (postgres !== undefined && typeof postgres !== 'string' && !isPgPool(postgres))
    throw new InvalidArgumentError('options.postgres must be a connection string or a pg.Pool', {
      data: { option: 'options.postgres' },
    })
  if (logger !== undefined) checkLogger(logger)
  if (jobs !== undefined && (typeof jobs !== 'object' || (jobs as unknown) === null))
    throw new InvalidArgumentError('options.jobs must be an object', { data: { option: 'options.jobs' } })
  const sources = { redis, keyLayout: redis === undefined ? undefined : layout, postgres, logger, jobs: jobs ?? {} }
  return { sources, kernel }
}
