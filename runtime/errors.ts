/**
 * One error hierarchy for the whole package.
 *
 * Every error the library throws is a `PulseError` (or a subclass) with a stable `code` taken from the
 * `ERROR_CODES` registry below. Callers branch on `code`, not on `instanceof`, because errors cross
 * thread, process and HTTP hops: there they travel as plain records (`toWire`) and are rebuilt as the
 * same class by `fromWire`. Node's structured clone keeps neither the class nor extra fields of an
 * error (piscinajs/piscina#1143), which is why the record exists.
 *
 * The README's error table lists every code of the registry; a test keeps the two in sync.
 */

/** Every code the library uses, with the sentence the README's table shows for it. */
export const ERROR_CODES = {
  PULSE_ERR_INTERNAL: 'An unexpected failure inside Pulse, or an error of unknown origin rebuilt from a wire record.',
  PULSE_ERR_INVALID_ARG: 'An option or argument is invalid; the message names it.',
  PULSE_ERR_CLOSED: 'The object was closed (or is closing) and takes no more calls.',
  PULSE_ERR_CLOSE_TIMEOUT: 'A graceful close did not finish within its bound; the object was destroyed instead.',
  PULSE_ERR_TIMEOUT: 'An operation did not finish within its `timeoutMs`.',
  PULSE_ERR_PROTOCOL: 'A frame, record or message received from elsewhere is malformed.',
  PULSE_ERR_ACTOR_CRASHED: 'The actor (or its thread) crashed while the call was pending.',
  PULSE_ERR_ACTOR_START: 'An actor module failed to load or its `init` threw.',
  PULSE_ERR_SUPERVISOR_GAVE_UP:
    'Restarts came faster than `maxRestarts` within `withinMs`: the supervisor stopped everything.',
  PULSE_ERR_PROCESS_START: 'A supervised child process could not be spawned or exited before it was ready.',
  PULSE_ERR_REDIS_CONNECTION: 'The Redis connection is down or was lost while the command was pending (retryable).',
  PULSE_ERR_REDIS_COMMAND:
    'Redis answered a command with an error reply; `data.retryable` says whether a retry can help.',
  PULSE_ERR_PG_CONNECTION: 'The PostgreSQL connection is down or was lost while the query was pending (retryable).',
  PULSE_ERR_PG_QUERY: 'PostgreSQL rejected a statement; `data.sqlstate` and `data.retryable` classify it.',
  PULSE_ERR_PG_MIGRATION: 'A schema migration failed, or an applied migration was changed after it ran.',
  PULSE_ERR_JOB_EXISTS: 'A job with this key is already running or being dispatched.',
  PULSE_ERR_JOB_NOT_FOUND: 'No job has this id.',
  PULSE_ERR_JOB_LEASE_LOST: "The job's lease expired or was taken over; the result of this attempt is discarded.",
  PULSE_ERR_JOB_TOO_LARGE:
    "A claimed job is too large for one message of its runtime's mailbox (`mailboxBytes`, default 1 MiB, less what a message needs besides): it was dead-lettered with this error (requeue it once the mailbox is larger).",
  PULSE_ERR_JOB_TIMEOUT: 'A job attempt overran its `timeoutMs`; its signal was aborted.',
  PULSE_ERR_JOB_STATE:
    "The job's status does not allow the transition (cancel a finished job, requeue one that is not dead); `data.status` is its status.",
  PULSE_ERR_JOB_SCHEDULE_NOT_FOUND: 'No schedule has this id.',
  PULSE_ERR_JOB_LISTEN_OFF:
    "A job worker's warning: it does not LISTEN (`transactionPooler` without `listenUrl`), so it finds new jobs by polling every `pollIntervalMs`.",
  PULSE_ERR_STREAM_EVENT_TOO_LARGE:
    "A sink skipped (acked) an event too large for one message of its runtime's mailbox (`mailboxBytes`, default 1 MiB): it stays in the stream; the log names the stream, entry id and sizes, and `stats().oversized` counts it.",
  PULSE_ERR_STREAM_MALFORMED_ENTRY:
    'A stream entry lacks the Pulse fields (`n` event name, `p` payload): it was skipped and counted; `data` names the stream and entry id.',
  PULSE_ERR_POOL_QUEUE_FULL: 'The pool already holds `maxQueuedJobs` unconsumed jobs.',
  PULSE_ERR_POOL_DISPATCH_TIMEOUT: 'No worker acknowledged the dispatch within 2 × `ackGracePeriodMs`.',
  PULSE_ERR_POOL_WORKER_START: "The worker's start handler failed; the handler's error is the cause.",
  PULSE_ERR_POOL_NO_ACTIVE_WORKER: 'The pool has no active worker to route the job to.',
  PULSE_ERR_POOL_SHUTTING_DOWN: 'The pool is shutting down and takes no new jobs.',
  PULSE_ERR_POOL_REQUEUE:
    'A pool handler asks for the event to come back later: it is not acknowledged and is redelivered after the ack grace period.',
  PULSE_ERR_POOL_SCHEDULE_STOP:
    "A schedule's `plan()` ends the schedule on every node (its ticker and job map); running jobs keep running.",
  PULSE_ERR_BUS_NO_RESPONDER: 'A request found no responder before its timeout.',
  PULSE_ERR_BUS_DUPLICATE:
    'An event with this dedup `key` was already published on its subject within the dedup TTL; nothing was published (409).',
  PULSE_ERR_HTTP_UNAUTHORIZED: 'The HTTP request carried no valid credentials (401).',
  PULSE_ERR_HTTP_FORBIDDEN:
    'The user may not do this: a read-only user asked for an action, or a CSRF token was missing or wrong (403).',
  PULSE_ERR_HTTP_NO_ROUTE:
    "No route takes the HTTP request's path (404) or method (405; `data.allow` lists the methods).",
  PULSE_ERR_HTTP_BODY_TOO_LARGE: 'The HTTP request body is larger than `maxBodyBytes` (413).',
  PULSE_ERR_HTTP_SLOW_CONSUMER:
    'An SSE client read too slowly: more than `maxBufferedBytes` waited for it, so its stream was closed.',
} as const satisfies Record<string, string>

export type ErrorCode = keyof typeof ERROR_CODES

/** JSON-safe details attached to an error; they survive every hop. */
export type ErrorData = Readonly<Record<string, JsonValue>>
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue }

export interface PulseErrorOptions {
  cause?: unknown
  data?: ErrorData
}

export class PulseError extends Error {
  readonly code: ErrorCode
  readonly data: ErrorData | undefined

  constructor(code: ErrorCode, message: string, options: PulseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.data = options.data
  }

  static {
    this.prototype.name = 'PulseError'
  }
}

/** The error classes for which `fromWire` rebuilds a subclass, by code. */
const classByCode = new Map<string, abstract new (...args: never[]) => PulseError>()

function defineErrorClass(name: string, code: ErrorCode, defaultMessage: string) {
  const Class = class extends PulseError {
    constructor(message: string = defaultMessage, options: PulseErrorOptions = {}) {
      super(code, message, options)
    }
  }
  Object.defineProperty(Class, 'name', { value: name })
  Class.prototype.name = name
  classByCode.set(code, Class)
  return Class
}

export const InvalidArgumentError = defineErrorClass(
  'InvalidArgumentError',
  'PULSE_ERR_INVALID_ARG',
  'invalid argument',
)
export const ClosedError = defineErrorClass('ClosedError', 'PULSE_ERR_CLOSED', 'closed')
export const CloseTimeoutError = defineErrorClass('CloseTimeoutError', 'PULSE_ERR_CLOSE_TIMEOUT', 'close timed out')
export const TimeoutError = defineErrorClass('TimeoutError', 'PULSE_ERR_TIMEOUT', 'timed out')
export const ProtocolError = defineErrorClass('ProtocolError', 'PULSE_ERR_PROTOCOL', 'malformed message')
export const ActorCrashedError = defineErrorClass('ActorCrashedError', 'PULSE_ERR_ACTOR_CRASHED', 'actor crashed')
export const ActorStartError = defineErrorClass('ActorStartError', 'PULSE_ERR_ACTOR_START', 'actor failed to start')
export const SupervisorGaveUpError = defineErrorClass(
  'SupervisorGaveUpError',
  'PULSE_ERR_SUPERVISOR_GAVE_UP',
  'supervisor gave up',
)
export const ProcessStartError = defineErrorClass(
  'ProcessStartError',
  'PULSE_ERR_PROCESS_START',
  'process failed to start',
)
export const RedisConnectionError = defineErrorClass(
  'RedisConnectionError',
  'PULSE_ERR_REDIS_CONNECTION',
  'Redis connection lost',
)
export const RedisCommandError = defineErrorClass(
  'RedisCommandError',
  'PULSE_ERR_REDIS_COMMAND',
  'Redis command failed',
)
export const PostgresConnectionError = defineErrorClass(
  'PostgresConnectionError',
  'PULSE_ERR_PG_CONNECTION',
  'PostgreSQL connection lost',
)
export const PostgresQueryError = defineErrorClass(
  'PostgresQueryError',
  'PULSE_ERR_PG_QUERY',
  'PostgreSQL query failed',
)
export const MigrationError = defineErrorClass('MigrationError', 'PULSE_ERR_PG_MIGRATION', 'migration failed')
export const JobExistsError = defineErrorClass('JobExistsError', 'PULSE_ERR_JOB_EXISTS', 'job already exists')
export const JobNotFoundError = defineErrorClass('JobNotFoundError', 'PULSE_ERR_JOB_NOT_FOUND', 'job not found')
export const LeaseLostError = defineErrorClass('LeaseLostError', 'PULSE_ERR_JOB_LEASE_LOST', 'lease lost')
export const JobTimeoutError = defineErrorClass('JobTimeoutError', 'PULSE_ERR_JOB_TIMEOUT', 'job timed out')
export const JobTooLargeError = defineErrorClass(
  'JobTooLargeError',
  'PULSE_ERR_JOB_TOO_LARGE',
  'job too large for the mailbox',
)
export const JobStateError = defineErrorClass('JobStateError', 'PULSE_ERR_JOB_STATE', 'illegal job transition')
export const ScheduleNotFoundError = defineErrorClass(
  'ScheduleNotFoundError',
  'PULSE_ERR_JOB_SCHEDULE_NOT_FOUND',
  'schedule not found',
)
export const MalformedEntryError = defineErrorClass(
  'MalformedEntryError',
  'PULSE_ERR_STREAM_MALFORMED_ENTRY',
  'malformed stream entry',
)
export const QueueFullError = defineErrorClass('QueueFullError', 'PULSE_ERR_POOL_QUEUE_FULL', 'pool queue is full')
export const DispatchTimeoutError = defineErrorClass(
  'DispatchTimeoutError',
  'PULSE_ERR_POOL_DISPATCH_TIMEOUT',
  'dispatch timed out',
)
export const WorkerStartError = defineErrorClass(
  'WorkerStartError',
  'PULSE_ERR_POOL_WORKER_START',
  'worker start failed',
)
export const NoActiveWorkerError = defineErrorClass(
  'NoActiveWorkerError',
  'PULSE_ERR_POOL_NO_ACTIVE_WORKER',
  'no active worker',
)
export const PoolShuttingDownError = defineErrorClass(
  'PoolShuttingDownError',
  'PULSE_ERR_POOL_SHUTTING_DOWN',
  'pool is shutting down',
)
export const RequeueError = defineErrorClass('RequeueError', 'PULSE_ERR_POOL_REQUEUE', 'requeue')
export const ScheduleStopError = defineErrorClass(
  'ScheduleStopError',
  'PULSE_ERR_POOL_SCHEDULE_STOP',
  'stop the schedule',
)
export const NoResponderError = defineErrorClass('NoResponderError', 'PULSE_ERR_BUS_NO_RESPONDER', 'no responder')
export const DuplicateEventError = defineErrorClass(
  'DuplicateEventError',
  'PULSE_ERR_BUS_DUPLICATE',
  'key was processed before',
)
export const UnauthorizedError = defineErrorClass('UnauthorizedError', 'PULSE_ERR_HTTP_UNAUTHORIZED', 'unauthorized')
export const ForbiddenError = defineErrorClass('ForbiddenError', 'PULSE_ERR_HTTP_FORBIDDEN', 'forbidden')
export const NoRouteError = defineErrorClass('NoRouteError', 'PULSE_ERR_HTTP_NO_ROUTE', 'no route')
export const BodyTooLargeError = defineErrorClass(
  'BodyTooLargeError',
  'PULSE_ERR_HTTP_BODY_TOO_LARGE',
  'request body too large',
)
export const SlowConsumerError = defineErrorClass('SlowConsumerError', 'PULSE_ERR_HTTP_SLOW_CONSUMER', 'slow consumer')

export type InvalidArgumentError = InstanceType<typeof InvalidArgumentError>
export type ClosedError = InstanceType<typeof ClosedError>
export type CloseTimeoutError = InstanceType<typeof CloseTimeoutError>
export type TimeoutError = InstanceType<typeof TimeoutError>
export type ProtocolError = InstanceType<typeof ProtocolError>
export type ActorCrashedError = InstanceType<typeof ActorCrashedError>
export type ActorStartError = InstanceType<typeof ActorStartError>
export type SupervisorGaveUpError = InstanceType<typeof SupervisorGaveUpError>
export type ProcessStartError = InstanceType<typeof ProcessStartError>
export type RedisConnectionError = InstanceType<typeof RedisConnectionError>
export type RedisCommandError = InstanceType<typeof RedisCommandError>
export type PostgresConnectionError = InstanceType<typeof PostgresConnectionError>
export type PostgresQueryError = InstanceType<typeof PostgresQueryError>
export type MigrationError = InstanceType<typeof MigrationError>
export type JobExistsError = InstanceType<typeof JobExistsError>
export type JobNotFoundError = InstanceType<typeof JobNotFoundError>
export type LeaseLostError = InstanceType<typeof LeaseLostError>
export type JobTimeoutError = InstanceType<typeof JobTimeoutError>
export type JobTooLargeError = InstanceType<typeof JobTooLargeError>
export type JobStateError = InstanceType<typeof JobStateError>
export type ScheduleNotFoundError = InstanceType<typeof ScheduleNotFoundError>
export type MalformedEntryError = InstanceType<typeof MalformedEntryError>
export type QueueFullError = InstanceType<typeof QueueFullError>
export type DispatchTimeoutError = InstanceType<typeof DispatchTimeoutError>
export type WorkerStartError = InstanceType<typeof WorkerStartError>
export type NoActiveWorkerError = InstanceType<typeof NoActiveWorkerError>
export type PoolShuttingDownError = InstanceType<typeof PoolShuttingDownError>
export type RequeueError = InstanceType<typeof RequeueError>
export type ScheduleStopError = InstanceType<typeof ScheduleStopError>
export type NoResponderError = InstanceType<typeof NoResponderError>
export type DuplicateEventError = InstanceType<typeof DuplicateEventError>
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>
export type ForbiddenError = InstanceType<typeof ForbiddenError>
export type NoRouteError = InstanceType<typeof NoRouteError>
export type BodyTooLargeError = InstanceType<typeof BodyTooLargeError>
export type SlowConsumerError = InstanceType<typeof SlowConsumerError>

export function isPulseError(value: unknown): value is PulseError {
  return value instanceof PulseError
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

/** Turns anything thrown into an `Error`; never throws. */
export function coerceError(value: unknown): Error {
  if (value instanceof Error) return value
  if (typeof value === 'string') return new Error(value)
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return new Error(`non-error thrown: ${text}`)
}

/** The plain record an error travels as. `code` is a Pulse code, a system code (`ECONNRESET`) or absent. */
export interface WireError {
  readonly name: string
  readonly message: string
  readonly code?: string
  readonly stack?: string
  readonly data?: ErrorData
  readonly cause?: WireError
}

/** Causes nest; a chain longer than this is cut, which also breaks cycles. */
const kMaxCauseDepth = 8

export function toWire(error: unknown, depth = 0): WireError {
  const err = coerceError(error)
  const code = (err as { code?: unknown }).code
  const data = err instanceof PulseError ? err.data : undefined
  const cause = depth < kMaxCauseDepth && err.cause !== undefined ? toWire(err.cause, depth + 1) : undefined
  return {
    name: err.name,
    message: err.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err.stack === undefined ? {} : { stack: err.stack }),
    ...(data === undefined ? {} : { data }),
    ...(cause === undefined ? {} : { cause }),
  }
}

export function isWireError(value: unknown): value is WireError {
  if (typeof value !== 'object' || value === null) return false
  const record = value as Record<string, unknown>
  return (
    typeof record.name === 'string' &&
    typeof record.message === 'string' &&
    (record.code === undefined || typeof record.code === 'string') &&
    (record.stack === undefined || typeof record.stack === 'string') &&
    (record.data === undefined || (typeof record.data === 'object' && record.data !== null)) &&
    (record.cause === undefined || isWireError(record.cause))
  )
}

/**
 * Rebuilds an error from its record: the registered class for a Pulse code, a `PulseError` for a Pulse
 * code without a class, and a plain `Error` (keeping `name` and `code`) otherwise. A record that is not
 * a `WireError` becomes a `ProtocolError`, so untrusted input never throws here.
 */
export function fromWire(record: unknown): Error {
  if (!isWireError(record)) {
    return new ProtocolError('malformed error record', { data: { received: typeof record } })
  }
  const cause = record.cause === undefined ? undefined : fromWire(record.cause)
  let err: Error
  if (isErrorCode(record.code)) {
    const Class = classByCode.get(record.code) ?? PulseError
    err = Reflect.construct(Error, [record.message], Class) as PulseError
    Object.assign(err, { code: record.code, data: record.data })
  } else {
    err = new Error(record.message)
    if (record.code !== undefined) Object.assign(err, { code: record.code })
    if (record.name !== 'Error') err.name = record.name
  }
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true })
  if (record.stack !== undefined) err.stack = record.stack
  return err
}
