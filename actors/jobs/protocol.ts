/**
 * What the job queue's caller-thread side (`JobWorker`, worker.ts) and its three actors (dispatcher,
 * watchdog, scheduler) say to each other, and the args they are spawned with.
 *
 * Everything here crosses a thread through the actor mailboxes (msgpackr): plain data, `Date`s and
 * `Buffer`s only. The protocol of each actor is described at the top of its module. The batches of the
 * hot path (claimed jobs, results, acks) go column by column — an array per field instead of an object
 * per job — which msgpackr encodes and decodes faster than the objects, in fewer bytes (no key per
 * field per job).
 */
import { toWire, type WireError } from '../../runtime/errors.js'
import type { ConnectionConfig } from '../../transports/postgres/jobs/actor-pool.js'
import type { ClaimedJob, FailedJob, FailOutcome, LeaseRef } from '../../transports/postgres/jobs/hot-path.js'

/** An actor's error as it crosses to the owner (a `warning`, a failure): without its stack, noise across the ring. */
export function wireOf(error: unknown): WireError {
  const { stack: _stack, ...rest } = toWire(error)
  return rest
}

// ---- dispatcher ----

/** Claimed jobs column by column: job i is `{ id: id[i], name: name[i], … }`. */
export interface JobColumns {
  id: string[]
  name: string[]
  argsJson: (string | null)[]
  argsBytes: (Buffer | null)[]
  attempt: number[]
  maxAttempts: number[]
  priority: number[]
  leaseToken: string[]
  /** Only from a dispatcher with `metrics` (claims `withWait`). */
  waitMs?: number[]
  /** The jobs' trace contexts; absent when no job of the batch has one (none without an SDK). */
  traceContext?: (string | null)[]
}

export function toJobColumns(jobs: readonly ClaimedJob[], withWait = false): JobColumns {
  const columns: JobColumns = {
    id: jobs.map((j) => j.id),
    name: jobs.map((j) => j.name),
    argsJson: jobs.map((j) => j.argsJson),
    argsBytes: jobs.map((j) => j.argsBytes),
    attempt: jobs.map((j) => j.attempt),
    maxAttempts: jobs.map((j) => j.maxAttempts),
    priority: jobs.map((j) => j.priority),
    leaseToken: jobs.map((j) => j.leaseToken),
  }
  if (jobs.some((j) => j.traceContext !== null)) columns.traceContext = jobs.map((j) => j.traceContext)
  if (withWait) columns.waitMs = jobs.map((j) => j.waitMs ?? 0)
  return columns
}

export function fromJobColumns(c: JobColumns): ClaimedJob[] {
  const jobs: ClaimedJob[] = c.id.map((id, i) => ({
    id,
    name: c.name[i] as string,
    argsJson: c.argsJson[i] ?? null,
    argsBytes: c.argsBytes[i] ?? null,
    attempt: c.attempt[i] as number,
    maxAttempts: c.maxAttempts[i] as number,
    priority: c.priority[i] as number,
    leaseToken: c.leaseToken[i] as string,
    traceContext: c.traceContext?.[i] ?? null,
  }))
  const wait = c.waitMs
  if (wait !== undefined) jobs.forEach((job, i) => (job.waitMs = wait[i] ?? 0))
  return jobs
}

/** Leases column by column: lease i is `{ id: ids[i], leaseToken: tokens[i] }`. */
export interface LeaseColumns {
  ids: string[]
  tokens: string[]
}

export function toLeaseColumns(leases: readonly LeaseRef[]): LeaseColumns {
  return { ids: leases.map((l) => l.id), tokens: leases.map((l) => l.leaseToken) }
}

export function fromLeaseColumns(c: LeaseColumns): LeaseRef[] {
  return c.ids.map((id, i) => ({ id, leaseToken: c.tokens[i] as string }))
}

export interface DispatcherArgs {
  connection: ConnectionConfig
  /**
   * `connection` goes through a transaction-mode pooler: no session state there
   * (transports/postgres/jobs/actor-pool.ts).
   */
  transactionPooler: boolean
  /** Where to LISTEN for new jobs; null: nowhere (LISTEN is off, the poll finds them). */
  listenConnection: ConnectionConfig | null
  schema: string
  owner: string
  leaseTtlMs: number
  pollIntervalMs: number
  claimBatchMax: number
  /** The owner's `concurrency + prefetch`: the credits it grants at start. */
  window: number
  /** Count claims (the `stats` ask) and send each job's wait with it. */
  metrics: boolean
}

export type DispatcherMsg =
  /**
   * `n` more jobs it may claim (a credit is spent by a claim and returned when the job's handler
   * finished, before its ack); `reset` replaces the count (after a restart).
   */
  | { t: 'credit'; n: number; reset?: boolean; window?: number }
  /**
   * The job names it may claim (an empty list claims nothing), and every name registered (its wake
   * group, wakes.ts) when that changed.
   */
  | { t: 'names'; names: string[]; registered?: string[] }
  /** Results to ack. */
  | { t: 'done'; completed: LeaseColumns; failed: FailedJob[] }
  /** Stop claiming; answered by the `closed` emit, after the `jobs` of any claim in flight. */
  | { t: 'close' }
  /** Answered by `flushed` with the same `seq` once every result sent before it is acked (or given up). */
  | { t: 'flush'; seq: number }
  /** Ask: release the pool, the LISTEN client and the timers (the actor stays, idle). */
  | { t: 'stop' }
  /** Ask (with `metrics`): the claim counts since the last `stats` (`ClaimCounts`, metrics.ts). */
  | { t: 'stats' }

/** A fail outcome with the lease token it was acked for (so the owner can tell attempts apart). */
export interface AckedFailure extends FailOutcome {
  leaseToken: string
}

export type DispatcherOut =
  | { t: 'jobs'; jobs: JobColumns }
  /**
   * An ack batch ran: the lease tokens of the completions the database confirmed, the failures it
   * confirmed, and the tokens of the leases whose transition it refused (no longer held: the job was
   * reaped, canceled or re-dispatched meanwhile).
   */
  | { t: 'acked'; completed: string[]; failed: AckedFailure[]; fenced: string[] }
  | { t: 'closed' }
  | { t: 'flushed'; seq: number }
  | { t: 'warning'; message: string; error: WireError }

// ---- watchdog ----

export interface WatchdogArgs {
  connection: ConnectionConfig
  /**
   * `connection` goes through a transaction-mode pooler: no session state there
   * (transports/postgres/jobs/actor-pool.ts).
   */
  transactionPooler: boolean
  schema: string
  owner: string
  leaseTtlMs: number
  sweepIntervalMs: number
  /** Retry delays in ms after attempt 1, 2, … (the last one repeats): the queue's backoff as data. */
  backoffTable: number[]
}

export type WatchdogMsg =
  /** Leases to renew (the dispatcher also hands its claims over directly: see lease-book.ts). */
  { t: 'running'; jobs: LeaseRef[] } | { t: 'finished'; ids: string[] } | { t: 'stop' }

export interface ReapedJob extends FailOutcome {
  name: string
  /** When it can run again (status 'retrying'). */
  retryAt: Date | undefined
}

export type WatchdogOut =
  /** Leases this owner no longer holds: `ids[i]` was held with `tokens[i]`. */
  | { t: 'lost'; ids: string[]; tokens: string[] }
  /** Lapsed leases (of any owner) this sweep moved to retrying or dead. */
  | { t: 'reaped'; jobs: ReapedJob[] }
  | { t: 'warning'; message: string; error: WireError }

// ---- scheduler ----

export interface SchedulerArgs {
  connection: ConnectionConfig
  schema: string
  tickMs: number
}

export type SchedulerMsg = { t: 'stop' }

export type SchedulerOut = { t: 'fired'; count: number } | { t: 'warning'; message: string; error: WireError }
