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
