/**
 * `pulse-runtime/jobs`: the durable job queue on PostgreSQL. The errors of its contract (spec/jobs.md)
 * are exported here and from the root entry.
 */
export {
  ClosedError,
  InvalidArgumentError,
  JobExistsError,
  JobNotFoundError,
  JobTimeoutError,
  LeaseLostError,
  PulseError,
} from '../../runtime/errors.js'
