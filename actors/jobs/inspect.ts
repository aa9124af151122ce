/** Reads for operators: one job, pages of jobs, stats, dispatch status, schedules, the audit log. */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkInteger, checkKnownKeys, checkOneOf } from '../../runtime/options.js'
import { listAudit } from '../../transports/postgres/jobs/audit.js'
import { getDispatchState } from '../../transports/postgres/jobs/pause.js'
import { getJob as readJob, jobStats, listJobs as readJobs } from '../../transports/postgres/jobs/reads.js'
import { listSchedules as readSchedules } from '../../transports/postgres/jobs/schedules.js'
import { JOB_STATUSES, type JobStatus } from '../../transports/postgres/jobs/status.js'
import { checkId, type JobQueueInternals } from './internal.js'
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
  ScheduleInfo,
} from './types.js'

const kMaxPage = 1_000
const kDefaultPage = 100

export async function getJob(ctx: JobQueueInternals, id: string): Promise<JobInfo | undefined> {
  const jobId = checkId(id, 'id')
  ctx.assertOpen('getJob')
  return jobId === undefined ? undefined : readJob(ctx.db, ctx.q, jobId)
}

function checkStatuses(value: unknown): JobStatus[] {
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if (list.length === 0)
    throw new InvalidArgumentError('options.status must name at least one status', {
      data: { option: 'options.status' },
    })
  return list.map((status, i) =>
    checkOneOf(status, Array.isArray(value) ? `options.status[${i}]` : 'options.status', JOB_STATUSES),
  )
}

export async function listJobs(ctx: JobQueueInternals, options: ListJobsOptions = {}): Promise<JobList> {
  checkKnownKeys(options, ['status', 'name', 'limit', 'cursor'])
  const statuses = options.status === undefined ? undefined : checkStatuses(options.status)
  const name = options.name === undefined ? undefined : checkText(options.name, 'options.name')
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
  ctx.assertOpen('listJobs')
  const page = await readJobs(ctx.db, ctx.q, { statuses, name, limit, before })
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

export async function dispatchStatus(ctx: JobQueueInternals): Promise<DispatchStatus> {
  ctx.assertOpen('dispatchStatus')
  return getDispatchState(ctx.db, ctx.q)
}

export async function listSchedules(ctx: JobQueueInternals): Promise<ScheduleInfo[]> {
  ctx.assertOpen('listSchedules')
  const rows = await readSchedules(ctx.db, ctx.q)
  // Specs were checked when stored; a row edited by hand is still listed as it is.
  return rows.map((row) => ({ ...row, spec: row.spec as ScheduleSpec }))
}

export async function auditLog(ctx: JobQueueInternals, options: AuditLogOptions = {}): Promise<AuditLogEntry[]> {
  checkKnownKeys(options, ['limit', 'before'])
  const limit =
    options.limit === undefined ? kDefaultPage : checkInteger(options.limit, 'options.limit', { min: 1, max: kMaxPage })
  let before: string | undefined
  if (options.before !== undefined) {
    before = checkId(options.before, 'options.before')
    if (before === undefined)
      throw new InvalidArgumentError('options.before must be an audit entry id', { data: { option: 'options.before' } })
  }
  ctx.assertOpen('auditLog')
  return listAudit(ctx.db, ctx.q, { limit, before })
}
