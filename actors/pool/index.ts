/**
 * `pulse-runtime/pool`: keyed worker pools with jump consistent hashing. The errors of its contract
 * (spec/pool.md) are exported here and from the root entry.
 */
export {
  ClosedError,
  DispatchTimeoutError,
  InvalidArgumentError,
  JobExistsError,
  NoActiveWorkerError,
  PoolShuttingDownError,
  PulseError,
  QueueFullError,
  WorkerStartError,
} from '../../runtime/errors.js'
export { crc64xz, jumpHash } from './jump-hash.js'
export { DEFAULT_POOL_OPTIONS } from './options.js'
export type { PoolOptions, ResolvedPoolOptions } from './options.js'
