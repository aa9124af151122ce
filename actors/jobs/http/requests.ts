/**
 * The jobs API's request bodies and query strings, read into the library's arguments. Shapes are
 * checked here only as far as the library does not check them itself (a date given as text, a
 * duration given as `30s`); everything else is the library's validation, with its messages.
 */
import ms from 'ms'

import { InvalidArgumentError, ProtocolError } from '../../../runtime/errors.js'
import { checkKnownKeys } from '../../../runtime/options.js'
import { at, cron, every, type ScheduleSpec } from '../schedule-spec.js'
import type { BulkActionOptions, EnqueueManyItem, JobFilter, JobMatch, JobStatus, ListJobsOptions } from '../types.js'

export type Json = Record<string, unknown>

const kJobKeys = ['name', 'args', 'priority', 'runAt', 'maxAttempts', 'idempotencyKey'] as const

/** `body` as a JSON object, or a 400 naming `what`. */
export function objectBody(body: unknown, what: string): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ProtocolError(`the body must be a JSON object (${what})`)
  }
  return body as Json
}

/** PostgreSQL's earliest timestamp (4714-11-24 BC); `Date`'s latest is before PostgreSQL's. */
const kEarliestMs = Date.parse('-004713-11-24T00:00:00Z')

function date(value: unknown, name: string): Date {
  const parsed = typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined
  if (parsed === undefined || Number.isNaN(parsed.getTime()) || parsed.getTime() < kEarliestMs) {
    throw new InvalidArgumentError(`${name} must be an ISO 8601 date (got ${JSON.stringify(value)})`, {
      data: { option: name },
    })
  }
  return parsed
}

/** One job of a submit body: `{ name, args?, priority?, runAt?, maxAttempts?, idempotencyKey? }`. */
export function jobItem(value: unknown, where: string): EnqueueManyItem {
  const item = objectBody(value, where)
  checkKnownKeys(item, kJobKeys, where)
  return {
    name: item.name as string,
    args: item.args ?? null,
    ...(item.priority === undefined ? {} : { priority: item.priority as number }),
    ...(item.runAt === undefined ? {} : { runAt: date(item.runAt, `${where}.runAt`) }),
    ...(item.maxAttempts === undefined ? {} : { maxAttempts: item.maxAttempts as number }),
    ...(item.idempotencyKey === undefined ? {} : { idempotencyKey: item.idempotencyKey as string }),
  }
}

/** The jobs of a batch body `{ jobs: [...] }`, at most `max`. */
export function jobBatch(body: unknown, max: number): EnqueueManyItem[] {
  const { jobs } = objectBody(body, 'a batch is { jobs: [...] }')
  if (!Array.isArray(jobs) || jobs.length === 0 || jobs.length > max) {
    throw new InvalidArgumentError(`jobs must be a list of 1 to ${max} jobs`, { data: { option: 'jobs' } })
  }
  return jobs.map((job, i) => jobItem(job, `jobs[${i}]`))
}

function statuses(query: URLSearchParams): JobStatus[] | undefined {
  const all = query.getAll('status').flatMap((s) => s.split(','))
  return all.length === 0 ? undefined : (all as JobStatus[])
}

/** The integer query parameter `name`, if given. */
export function integer(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name)
  if (text === null) return undefined
  if (!/^-?\d+$/.test(text)) {
    throw new InvalidArgumentError(`${name} must be an integer (got ${JSON.stringify(text)})`, {
      data: { option: name },
    })
  }
  return Number(text)
}

/** `?args=<JSON>&createdAfter=<date>&createdBefore=<date>` as the filters beyond status and name. */
function matchQuery(query: URLSearchParams): JobMatch {
  const args = query.get('args')
  const after = query.get('createdAfter')
  const before = query.get('createdBefore')
  return {
    ...(args === null ? {} : { argsContain: jsonParam(args, 'args') as JobMatch['argsContain'] }),
    ...(after === null ? {} : { createdAfter: date(after, 'createdAfter') }),
    ...(before === null ? {} : { createdBefore: date(before, 'createdBefore') }),
  }
}

function jsonParam(text: string, name: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new InvalidArgumentError(`${name} must be JSON, e.g. {"to":"a@example.com"}`, { data: { option: name } })
  }
}

/** `?status=dead&status=…&name=&id=&args=&createdAfter=&createdBefore=&limit=&cursor=` as `listJobs` options. */
export function listQuery(query: URLSearchParams): ListJobsOptions {
  const limit = integer(query, 'limit')
  const id = query.get('id')
  return {
    ...filterQuery(query),
    ...(id === null ? {} : { id }),
    ...(limit === undefined ? {} : { limit }),
    ...(query.get('cursor') === null ? {} : { cursor: query.get('cursor') as string }),
  }
}

/** `?status=&name=&args=&createdAfter=&createdBefore=` as a filter. */
export function filterQuery(query: URLSearchParams): JobFilter {
  const status = statuses(query)
  const name = query.get('name')
  return { ...(status === undefined ? {} : { status }), ...(name === null ? {} : { name }), ...matchQuery(query) }
}

/** A bulk action's body: `{ status?, name?, args?, createdAfter?, createdBefore?, reason? }` (empty: every job the action takes). */
export function bulkBody(body: unknown): Omit<BulkActionOptions, 'actor' | 'limit'> {
  const fields = body === undefined ? {} : objectBody(body, 'a filter { status?, name?, args?, createdAfter?, … }')
  checkKnownKeys(fields, ['status', 'name', 'reason', 'args', 'createdAfter', 'createdBefore'], 'body')
  const { args, createdAfter, createdBefore, ...rest } = fields
  return {
    ...rest,
    ...(args === undefined ? {} : { argsContain: args as JobMatch['argsContain'] }),
    ...(createdAfter === undefined ? {} : { createdAfter: date(createdAfter, 'createdAfter') }),
    ...(createdBefore === undefined ? {} : { createdBefore: date(createdBefore, 'createdBefore') }),
  }
}

/** `{ reason? }`, or an empty body. */
export function reasonBody(body: unknown): string | undefined {
  const fields = body === undefined ? {} : objectBody(body, '{ reason? }')
  checkKnownKeys(fields, ['reason'], 'body')
  return fields.reason as string | undefined
}

export interface ScheduleBody {
  name: string | undefined
  jobName: string
  payload: unknown
  spec: ScheduleSpec
}

function everyMs(value: unknown): number {
  // `ms` throws a plain Error on the empty string; `every` refuses what is not a period.
  const parsed = typeof value === 'string' ? (value === '' ? undefined : ms(value as ms.StringValue)) : value
  return parsed as number
}

/** `{ jobName, name?, payload?, cron?, tz?, every?, at? }` with exactly one of cron, every and at. */
export function scheduleBody(body: unknown): ScheduleBody {
  const fields = objectBody(body, 'a schedule { jobName, cron | every | at, … }')
  checkKnownKeys(fields, ['name', 'jobName', 'payload', 'cron', 'tz', 'every', 'at'], 'body')
  const given = (['cron', 'every', 'at'] as const).filter((key) => fields[key] !== undefined)
  if (given.length !== 1) {
    throw new InvalidArgumentError('a schedule needs exactly one of cron, every and at', { data: { option: 'spec' } })
  }
  const spec =
    given[0] === 'cron'
      ? cron(fields.cron as string, fields.tz === undefined ? {} : { tz: fields.tz as string })
      : given[0] === 'every'
        ? every(everyMs(fields.every))
        : at(date(fields.at, 'at'))
  return {
    name: fields.name as string | undefined,
    jobName: fields.jobName as string,
    payload: fields.payload ?? null,
    spec,
  }
}
