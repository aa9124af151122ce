/** Reads for operators: one job, pages of jobs, stats, dispatch status, schedules, the audit log. */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkInteger, checkKnownKeys } from '../../runtime/options.js'
import { listAudit } from '../../transports/postgres/jobs/audit.js'
import { getDispatchState } from '../../transports/postgres/jobs/pause.js'
import { getJob as readJob, jobStats, listJobs as readJobs } from '../../transports/postgres/jobs/reads.js'
import { listSchedules as readSchedules } from '../../transports/postgres/jobs/schedules.js'
import { JOB_STATUSES } from '../../transports/postgres/jobs/status.js'
import { checkId, type JobQueueInternals } from './internal.js'
import {
  boundedRead,
  checkJobMatch,
  checkReadOptions,
  checkReadTimeout,
  checkStatuses,
  JOB_MATCH_KEYS,
} from './read-options.js'
import type { ScheduleSpec } from './schedule-spec.js'
import { checkText } from './submit.js'
import type {
  AuditLogEntry,
  AuditLogOptions,
  DispatchStatus,
  JobInfo,
  JobList,
  JobStats,
  JobStatusCounts,
  ListJobsOptions,
  ReadOptions,
  ScheduleInfo,
} from './types.js'

const kMaxPage = 1_000
const kDefaultPage = 100

export async function getJob(
  ctx: JobQueueInternals,
  id: string,
  options: ReadOptions = {},
): Promise<JobInfo | undefined> {
  const jobId = checkId(id, 'id')
  const timeoutMs = checkReadOptions(options)
  ctx.assertOpen('getJob')
  if (jobId === undefined) return undefined
  return boundedRead(ctx, 'getJob', timeoutMs, (db) => readJob(db, ctx.q, jobId))
}

export async function listJobs(ctx: JobQueueInternals, options: ListJobsOptions = {}): Promise<JobList> {
  checkKnownKeys(options, ['status', 'name', 'id', 'limit', 'cursor', 'timeoutMs', ...JOB_MATCH_KEYS])
  const statuses =
    options.status === undefined ? undefined : checkStatuses(options.status, 'options.status', JOB_STATUSES)
  const name = options.name === undefined ? undefined : checkText(options.name, 'options.name')
  const match = checkJobMatch(options)
  const timeoutMs = checkReadTimeout(options)
  const limit =
    options.limit === undefined ? kDefaultPage : checkInteger(options.limit, 'options.limit', { min: 1, max: kMaxPage })
  let before: string | undefined
  if (options.cursor !== undefined) {
    before = checkId(options.cursor, 'options.cursor')
    if (before === undefined)
      throw new InvalidArgumentError('options.cursor must be a cursor returned by listJobs', {
        data: { option: 'options.cursor' },
      })
  }
  let id: string | undefined
  if (options.id !== undefined) {
    id = checkId(options.id, 'options.id')
    // No job can have this id: an empty page, without a query.
    if (id === undefined) {
      ctx.assertOpen('listJobs')
      return { jobs: [], cursor: undefined }
    }
  }
  const page = await boundedRead(ctx, 'listJobs', timeoutMs, (db) =>
    readJobs(db, ctx.q, { statuses, name, id, ...match, limit, before }),
  )
  return { jobs: page.jobs, cursor: page.next }
}

function zeroCounts(): JobStatusCounts {
  return Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as JobStatusCounts
}

export async function stats(ctx: JobQueueInternals): Promise<JobStats> {
  ctx.assertOpen('stats')
  const { counts, oldestPendingAgeMs } = await jobStats(ctx.db, ctx.q)
  // A map first: a job named `__proto__` must not touch a prototype.
  const byName = new Map<string, JobStatusCounts>()
  for (const { name, status, count } of counts) {
    const entry = byName.get(name) ?? zeroCounts()
    entry[status] = count
    byName.set(name, entry)
  }
  return { byName: Object.fromEntries(byName), oldestPendingAgeMs }
}

export async function dispatchStatus(ctx: JobQueueInternals, options: ReadOptions = {}): Promise<DispatchStatus> {
  const timeoutMs = checkReadOptions(options)
  return boundedRead(ctx, 'dispatchStatus', timeoutMs, (db) => getDispatchState(db, ctx.q))
}

export async function listSchedules(ctx: JobQueueInternals, options: ReadOptions = {}): Promise<ScheduleInfo[]> {
  const timeoutMs = checkReadOptions(options)
  const rows = await boundedRead(ctx, 'listSchedules', timeoutMs, (db) => readSchedules(db, ctx.q))
  // Specs were checked when stored; a row edited by hand is still listed as it is.
  return rows.map((row) => ({ ...row, spec: row.spec as ScheduleSpec }))
}

export async function auditLog(ctx: JobQueueInternals, options: AuditLogOptions = {}): Promise<AuditLogEntry[]> {
  checkKnownKeys(options, ['limit', 'before', 'action', 'timeoutMs'])
  const timeoutMs = checkReadTimeout(options)
  const actions = options.action === undefined ? undefined : checkActions(options.action)
  const limit =
    options.limit === undefined ? kDefaultPage : checkInteger(options.limit, 'options.limit', { min: 1, max: kMaxPage })
  let before: string | undefined
  if (options.before !== undefined) {
    before = checkId(options.before, 'options.before')
    if (before === undefined)
      throw new InvalidArgumentError('options.before must be an audit entry id', { data: { option: 'options.before' } })
  }
  return boundedRead(ctx, 'auditLog', timeoutMs, (db) => listAudit(db, ctx.q, { limit, before, actions }))
}

function checkActions(value: string | readonly string[]): string[] {
  const list: readonly unknown[] = typeof value === 'string' ? [value] : value
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidArgumentError('options.action must be an action or a non-empty list of them', {
      data: { option: 'options.action' },
    })
  return list.map((action, i) =>
    checkText(action, typeof value === 'string' ? 'options.action' : `options.action[${i}]`),
  )
}
