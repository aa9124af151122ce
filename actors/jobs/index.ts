/**
 * `pulse-runtime/jobs`: the durable job queue on PostgreSQL. The errors it throws
 * are exported here and from the root entry.
 */
export {
  ClosedError,
  InvalidArgumentError,
  JobExistsError,
  JobNotFoundError,
  JobStateError,
  JobTimeoutError,
  LeaseLostError,
  PulseError,
  ScheduleNotFoundError,
} from '../../runtime/errors.js'
export { type Backoff } from './backoff.js'
export {
  DEFAULT_JOB_QUEUE_OPTIONS,
  type JobQueueLogger,
  type JobQueueOptions,
  type ResolvedJobQueueOptions,
} from './options.js'
export { JOBS_API_ERROR_STATUS, JOBS_API_ROUTES, JobsApi, type JobsApiOptions } from './http/api.js'
export { jobsOpenApi } from './http/openapi.js'
export { JobQueue } from './queue.js'
export {
  after,
  at,
  type AtSpec,
  cron,
  type CronOptions,
  type CronSpec,
  every,
  type EverySpec,
  nextOccurrence,
  type ScheduleSpec,
} from './schedule-spec.js'
export type {
  AuditLogEntry,
  AuditLogOptions,
  BulkActionOptions,
  DispatchStatus,
  EnqueueManyItem,
  EnqueueManyOptions,
  EnqueueOptions,
  JobFilter,
  JobHistoryEntry,
  JobInfo,
  JobList,
  JobMatch,
  JobOptions,
  JobStats,
  JobStatus,
  JobStatusCounts,
  JobSummary,
  ListJobsOptions,
  OperatorOptions,
  PruneJobsOptions,
  ReadOptions,
  ScheduleDefinition,
  ScheduleInfo,
  ScheduleOptions,
  TransactionClient,
} from './types.js'
// The overview reads (insights.ts).
export type {
  DeadLetterTrend,
  EstimatedJobStats,
  EstimatedStatsOptions,
  InsightOptions,
  InsightPart,
  InsightsOptions,
  JobInsights,
  JobLatency,
  JobThroughput,
  JobThroughputMinute,
  JobWarning,
  JobWorkers,
  LatencyOptions,
  LatencyPercentiles,
  ThroughputOptions,
  WaitingJob,
} from './types.js'
export {
  DEFAULT_JOB_CONCURRENCY,
  type JobContext,
  type JobEvent,
  type JobHandler,
  JobWorker,
  type JobWorkerCloseOptions,
  type JobWorkerEventMap,
  type JobWorkerOptions,
  type JobWorkerStartOptions,
  type RegisterOptions,
  type ThreadHandlerRef,
} from './worker.js'
