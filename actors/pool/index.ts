/**
 * `pulse-runtime/pool`: keyed worker pools with jump consistent hashing. The errors of its API are
 * exported here and from the root entry.
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
  RequeueError,
  ScheduleStopError,
  WorkerStartError,
} from '../../runtime/errors.js'
export { crc64xz, jumpHash } from './jump-hash.js'
export { DEFAULT_POOL_OPTIONS } from './options.js'
export type { PoolOptions, ResolvedPoolOptions } from './options.js'
export { PoolNode } from './node.js'
export { readPoolStatus } from './status.js'
export type { PoolNodeStatus, PoolStatus, PoolStatusOptions, PoolWorkerState, PoolWorkerStatus } from './status.js'
export { Ticker } from './ticker.js'
export type { Schedule } from './ticker.js'
export type { Job, WorkerHandler, JobPlan, JobProducer, Worker } from './types.js'
export type { KeyLayout } from '../../transports/redis/key-layout.js'
