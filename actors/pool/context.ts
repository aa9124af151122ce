/**
 * What the parts of one `PoolNode` share: the pool's name and key layout, the node's id, its options and
 * timings, its main Redis connection and its log (every record tagged with the pool and the node).
 */
import { coerceError } from '../../runtime/errors.js'
import type { Logger } from '../../runtime/logger.js'
import type { PulseRedis } from '../../transports/redis/connection.js'
import type { KeyLayout } from '../../transports/redis/key-layout.js'
import { msToUnixNanos } from '../../transports/redis/pool/values.js'
import type { PoolTimings, ResolvedPoolOptions } from './options.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface NodeContext {
  readonly pool: string
  /** The layout of the pool's keys (transports/redis/pool/keys.ts), resolved at join. */
  readonly keyLayout: KeyLayout
  readonly nodeId: string
  readonly options: ResolvedPoolOptions
  readonly timings: PoolTimings
  readonly redis: PulseRedis
  readonly logger: Logger
  log(level: LogLevel, message: string, error?: unknown, data?: Record<string, unknown>): void
}

export function nodeContext(
  pool: string,
  keyLayout: KeyLayout,
  nodeId: string,
  options: ResolvedPoolOptions,
  timings: PoolTimings,
  redis: PulseRedis,
): NodeContext {
  const logger = options.logger
  return {
    pool,
    keyLayout,
    nodeId,
    options,
    timings,
    redis,
    logger,
    log(level, message, error, data) {
      logger[level](
        { pool, node: nodeId, ...(data ?? {}), ...(error === undefined ? {} : { err: coerceError(error) }) },
        message,
      )
    },
  }
}

/** Now, in Unix nanoseconds (the pool's timestamps). */
export function nowNs(): bigint {
  return msToUnixNanos(Date.now())
}
