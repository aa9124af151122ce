/**
 * Operator actions: cancel, requeue and prune jobs, pause and resume dispatch, create, pause, resume
 * and delete schedules. Each runs in one transaction with its audit-log row (who, what, on what, why), so an
 * action and its record commit together or not at all. A refused action writes nothing.
 */
import { InvalidArgumentError, JobNotFoundError, JobStateError, ScheduleNotFoundError } from '../../runtime/errors.js'
import { checkInteger, checkKnownKeys } from '../../runtime/options.js'
import { cancelJob, requeueJob, type TransitionOutcome } from '../../transports/postgres/jobs/admin.js'
import { appendAudit } from '../../transports/postgres/jobs/audit.js'
import { setDispatchPaused } from '../../transports/postgres/jobs/pause.js'
import { PRUNABLE_STATUSES, pruneJobs } from '../../transports/postgres/jobs/prune.js'
import type { Queryable } from '../../transports/postgres/jobs/queryable.js'
import { deleteSchedule, setSchedulePaused, upsertSchedule } from '../../transports/postgres/jobs/schedules.js'
import { cancelMatching, countJobs, type JobFilterQuery, requeueMatching } from '../../transports/postgres/jobs/bulk.js'
import {
  CANCELABLE_STATUSES,
  JOB_STATUSES,
  REQUEUABLE_STATUSES,
  type JobStatus,
} from '../../transports/postgres/jobs/status.js'
import { encodeArgs } from './args.js'
import { checkId, type JobQueueInternals } from './internal.js'
import {
  boundedRead,
  checkJobMatch,
  checkReadOptions,
  checkStatuses,
  JOB_MATCH_KEYS,
  jobMatchData,
} from './read-options.js'
import { checkScheduleSpec, firstOccurrence } from './schedule-spec.js'
import { checkText, kMaxDelayMs } from './submit.js'
import type {
  BulkActionOptions,
  DispatchStatus,
  JobFilter,
  OperatorOptions,
  PruneJobsOptions,
  ReadOptions,
  ScheduleDefinition,
  ScheduleOptions,
} from './types.js'

interface Note {
  actor: string
  reason: string | undefined
}

function checkNote(
  ctx: JobQueueInternals,
  options: OperatorOptions,
  keys: readonly string[] = ['actor', 'reason'],
): Note {
  checkKnownKeys(options, keys)
  return {
    actor: options.actor === undefined ? ctx.options.actor : checkText(options.actor, 'options.actor'),
    reason: options.reason === undefined ? undefined : checkText(options.reason, 'options.reason', false),
  }
}

function transaction<T>(ctx: JobQueueInternals, what: string, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  ctx.assertOpen(what)
  return ctx.pool.withTransaction(fn)
}

function jobNotFound(id: string): Error {
  return new JobNotFoundError(`no job has id ${JSON.stringify(id)}`, { data: { id } })
}

function checkOutcome(outcome: TransitionOutcome, id: string, action: string, allowed: readonly JobStatus[]): void {
  if (outcome.ok) return
  if (outcome.status === undefined) throw jobNotFound(id)
  throw new JobStateError(`cannot ${action} job ${id}: it is ${outcome.status} (allowed from ${allowed.join(', ')})`, {
    data: { id, status: outcome.status, action, allowed: [...allowed] },
  })
}

/** pending | running | retrying → canceled. */
export async function cancel(ctx: JobQueueInternals, id: string, options: OperatorOptions = {}): Promise<void> {
  const note = checkNote(ctx, options)
  const jobId = checkId(id, 'id')
  if (jobId === undefined) throw jobNotFound(id)
  await transaction(ctx, 'cancel', async (tx) => {
    checkOutcome(await cancelJob(tx, ctx.q, jobId, note), jobId, 'cancel', CANCELABLE_STATUSES)
    await appendAudit(tx, ctx.q, { ...note, action: 'job.cancel', target: `job:${jobId}` })
  })
}

/** dead → pending, with a fresh attempt budget. */
export async function requeue(ctx: JobQueueInternals, id: string, options: OperatorOptions = {}): Promise<void> {
  const note = checkNote(ctx, options)
  const jobId = checkId(id, 'id')
  if (jobId === undefined) throw jobNotFound(id)
  await transaction(ctx, 'requeue', async (tx) => {
    checkOutcome(await requeueJob(tx, ctx.q, jobId, note), jobId, 'requeue', REQUEUABLE_STATUSES)
    await appendAudit(tx, ctx.q, { ...note, action: 'job.requeue', target: `job:${jobId}` })
  })
}

export async function pauseDispatch(
  ctx: JobQueueInternals,
  reason: string | undefined,
  options: Omit<OperatorOptions, 'reason'> = {},
): Promise<DispatchStatus> {
  const note = { actor: checkNote(ctx, options, ['actor']).actor, reason: checkReason(reason) }
  return transaction(ctx, 'pauseDispatch', async (tx) => {
    const state = await setDispatchPaused(tx, ctx.q, true, note.reason)
    await appendAudit(tx, ctx.q, { ...note, action: 'dispatch.pause', target: 'dispatch' })
    return state
  })
}

export async function resumeDispatch(ctx: JobQueueInternals, options: OperatorOptions = {}): Promise<DispatchStatus> {
  const note = checkNote(ctx, options)
  return transaction(ctx, 'resumeDispatch', async (tx) => {
    const state = await setDispatchPaused(tx, ctx.q, false)
    await appendAudit(tx, ctx.q, { ...note, action: 'dispatch.resume', target: 'dispatch' })
    return state
  })
}

/** Creates (or replaces, by name) a schedule; resolves to its id and whether it is new. */
export async function schedule(
  ctx: JobQueueInternals,
  jobName: string,
  payload: unknown,
  spec: unknown,
  options: ScheduleOptions = {},
): Promise<ScheduleDefinition> {
  checkKnownKeys(options, ['name', 'actor'])
  const job = checkText(jobName, 'jobName')
  const encoded = encodeArgs(payload, 'payload')
  const valid = checkScheduleSpec(spec, 'spec')
  const name = options.name === undefined ? job : checkText(options.name, 'options.name')
  const actor = options.actor === undefined ? ctx.options.actor : checkText(options.actor, 'options.actor')
  const nextRunAt = firstOccurrence(valid, new Date())
  return transaction(ctx, 'schedule', async (tx) => {
    const { schedule: row, created } = await upsertSchedule(tx, ctx.q, {
      name,
      jobName: job,
      ...encoded,
      spec: valid,
      nextRunAt,
    })
    await appendAudit(tx, ctx.q, {
      actor,
      action: created ? 'schedule.create' : 'schedule.update',
      target: `schedule:${row.id}`,
      data: { name, jobName: job, spec: valid },
    })
    return { id: row.id, created }
  })
}

function scheduleNotFound(id: string): Error {
  return new ScheduleNotFoundError(`no schedule has id ${JSON.stringify(id)}`, { data: { id } })
}

export async function setPaused(
  ctx: JobQueueInternals,
  id: string,
  paused: boolean,
  options: OperatorOptions = {},
): Promise<void> {
  const what = paused ? 'pauseSchedule' : 'resumeSchedule'
  const note = checkNote(ctx, options)
  const scheduleId = checkId(id, 'id')
  if (scheduleId === undefined) throw scheduleNotFound(id)
  await transaction(ctx, what, async (tx) => {
    const row = await setSchedulePaused(tx, ctx.q, scheduleId, paused)
    if (row === undefined) throw scheduleNotFound(scheduleId)
    await appendAudit(tx, ctx.q, {
      ...note,
      action: paused ? 'schedule.pause' : 'schedule.resume',
      target: `schedule:${scheduleId}`,
      data: { name: row.name },
    })
  })
}

/** Deletes a schedule (its jobs stay); `false` when there was none with this id. */
export async function removeSchedule(
  ctx: JobQueueInternals,
  id: string,
  options: OperatorOptions = {},
): Promise<boolean> {
  const note = checkNote(ctx, options)
  const scheduleId = checkId(id, 'id')
  if (scheduleId === undefined) return false
  return transaction(ctx, 'deleteSchedule', async (tx) => {
    if (!(await deleteSchedule(tx, ctx.q, scheduleId))) return false
    await appendAudit(tx, ctx.q, { ...note, action: 'schedule.delete', target: `schedule:${scheduleId}` })
    return true
  })
}

const kMaxPruneLimit = 100_000

/**
 * Deletes finished jobs (and their events) older than `olderThanMs`, at most `limit` of them, in one
 * transaction with its audit row; resolves to how many went. Call it again while it returns `limit`.
 */
export async function prune(ctx: JobQueueInternals, options: PruneJobsOptions): Promise<{ deleted: number }> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options must be { olderThanMs, statuses?, limit?, actor?, reason? }', {
      data: { option: 'options' },
    })
  }
  const note = checkNote(ctx, options, ['actor', 'reason', 'olderThanMs', 'statuses', 'limit'])
  const olderThanMs = checkInteger(options.olderThanMs, 'options.olderThanMs', { min: 0, max: kMaxDelayMs })
  const limit =
    options.limit === undefined ? 10_000 : checkInteger(options.limit, 'options.limit', { min: 1, max: kMaxPruneLimit })
  const statuses =
    options.statuses === undefined
      ? PRUNABLE_STATUSES
      : checkStatuses(options.statuses, 'options.statuses', PRUNABLE_STATUSES, true)
  const before = new Date(Date.now() - olderThanMs)
  return transaction(ctx, 'pruneJobs', async (tx) => {
    const deleted = await pruneJobs(tx, ctx.q, { before, statuses, limit })
    await appendAudit(tx, ctx.q, {
      ...note,
      action: 'job.prune',
      target: 'jobs',
      data: { deleted, before, statuses, limit },
    })
    return { deleted }
  })
}

function checkReason(value: unknown): string | undefined {
  return value === undefined ? undefined : checkText(value, 'reason', false)
}

const kMaxBulkLimit = 10_000

/** `filter` as a query: its statuses, each within `allowed` (the default is all of `allowed`). */
function checkFilter(filter: JobFilter, allowed: readonly JobStatus[], action: string): JobFilterQuery {
  const given =
    filter.status === undefined ? allowed : typeof filter.status === 'string' ? [filter.status] : filter.status
  const statuses = Array.isArray(given) ? (given as unknown[]) : [given]
  if (statuses.length === 0 || !statuses.every((s) => (allowed as readonly unknown[]).includes(s))) {
    throw new InvalidArgumentError(
      `options.status must be one or more of ${allowed.join(', ')} (the statuses a job can ${action} from)`,
      { data: { option: 'options.status', allowed: [...allowed] } },
    )
  }
  const name = filter.name === undefined ? undefined : checkText(filter.name, 'options.name')
  return { statuses: statuses as JobStatus[], name, ...checkJobMatch(filter) }
}

/** How many jobs match `filter` (every status by default). */
export async function count(
  ctx: JobQueueInternals,
  filter: JobFilter = {},
  options: ReadOptions = {},
): Promise<number> {
  checkKnownKeys(filter, ['status', 'name', ...JOB_MATCH_KEYS])
  const query = checkFilter(filter, JOB_STATUSES, 'be in')
  const timeoutMs = checkReadOptions(options)
  return boundedRead(ctx, 'countJobs', timeoutMs, (db) => countJobs(db, ctx.q, query))
}

type BulkTransition = typeof cancelMatching

async function bulk(
  ctx: JobQueueInternals,
  options: BulkActionOptions,
  what: 'cancel' | 'requeue',
  allowed: readonly JobStatus[],
  transition: BulkTransition,
): Promise<{ count: number }> {
  const note = checkNote(ctx, options, ['actor', 'reason', 'status', 'name', 'limit', ...JOB_MATCH_KEYS])
  const query = checkFilter(options, allowed, what)
  const limit =
    options.limit === undefined ? 1_000 : checkInteger(options.limit, 'options.limit', { min: 1, max: kMaxBulkLimit })
  return transaction(ctx, `${what}Jobs`, async (tx) => {
    const n = await transition(tx, ctx.q, query, limit, note)
    await appendAudit(tx, ctx.q, {
      ...note,
      action: `job.${what}_many`,
      target: 'jobs',
      data: { statuses: [...query.statuses], name: query.name ?? null, ...jobMatchData(query), limit, count: n },
    })
    return { count: n }
  })
}

/** Cancels up to `limit` jobs matching the filter (pending, running and retrying ones by default). */
export function cancelMany(ctx: JobQueueInternals, options: BulkActionOptions = {}): Promise<{ count: number }> {
  return bulk(ctx, options, 'cancel', CANCELABLE_STATUSES, cancelMatching)
}

/** Requeues up to `limit` dead jobs matching the filter. */
export function requeueMany(ctx: JobQueueInternals, options: BulkActionOptions = {}): Promise<{ count: number }> {
  return bulk(ctx, options, 'requeue', REQUEUABLE_STATUSES, requeueMatching)
}
