/**
 * What operators' reads and bulk actions share: the check of the job filters beyond status and name
 * (args containment, creation time range) into their SQL fields, and the time bound of a read
 * (`timeoutMs`: the read runs under a statement timeout, bounded.ts).
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkDurationMs, checkKnownKeys, checkOneOf } from '../../runtime/options.js'
import { withStatementTimeout } from '../../transports/postgres/jobs/bounded.js'
import type { Queryable } from '../../transports/postgres/jobs/queryable.js'
import type { JobStatus } from '../../transports/postgres/jobs/status.js'
import { encodeArgs } from './args.js'
import type { JobQueueInternals } from './internal.js'
import type { JobMatch, ReadOptions } from './types.js'

/** The keys of `JobMatch`, for `checkKnownKeys`. */
export const JOB_MATCH_KEYS: readonly string[] = Object.freeze(['argsContain', 'createdAfter', 'createdBefore'])

/** `JobMatch` as the SQL takes it: the containment as JSON text. */
export interface JobMatchQuery {
  argsContain?: string | undefined
  createdAfter?: Date | undefined
  createdBefore?: Date | undefined
}

function checkDate(value: unknown, name: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    throw new InvalidArgumentError(`${name} must be a valid Date`, { data: { option: name } })
  return value
}

function checkContainment(value: unknown, name: string): string {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) {
    throw new InvalidArgumentError(`${name} must be a JSON object or array`, { data: { option: name } })
  }
  encodeArgs(value, name)
  return JSON.stringify(value)
}

/** The checked `JobMatch` fields of `options` (`path`: how messages name it). */
export function checkJobMatch(options: JobMatch, path = 'options'): JobMatchQuery {
  const query: JobMatchQuery = {}
  if (options.argsContain !== undefined)
    query.argsContain = checkContainment(options.argsContain, `${path}.argsContain`)
  if (options.createdAfter !== undefined) query.createdAfter = checkDate(options.createdAfter, `${path}.createdAfter`)
  if (options.createdBefore !== undefined)
    query.createdBefore = checkDate(options.createdBefore, `${path}.createdBefore`)
  return query
}

/** The given fields of `query` for an audit row (the containment as JSON again). */
export function jobMatchData(query: JobMatchQuery): Record<string, unknown> {
  const { argsContain, createdAfter, createdBefore } = query
  return {
    ...(argsContain === undefined ? {} : { argsContain: JSON.parse(argsContain) as unknown }),
    ...(createdAfter === undefined ? {} : { createdAfter }),
    ...(createdBefore === undefined ? {} : { createdBefore }),
  }
}

const kMaxReadTimeoutMs = 600_000

/** `options.timeoutMs`, checked; `undefined` when not given. */
export function checkReadTimeout(options: ReadOptions, path = 'options'): number | undefined {
  return options.timeoutMs === undefined
    ? undefined
    : checkDurationMs(options.timeoutMs, `${path}.timeoutMs`, { min: 1, max: kMaxReadTimeoutMs })
}

/** `options` of a read that takes nothing else (`ReadOptions`), checked: its `timeoutMs`, if any. */
export function checkReadOptions(options: ReadOptions): number | undefined {
  checkKnownKeys(options, ['timeoutMs'])
  return checkReadTimeout(options)
}

/**
 * Runs the read `fn` on the queue's database: under a statement timeout of `timeoutMs` when given
 * (`TimeoutError` past it), else as plain autocommit statements.
 */
export function boundedRead<T>(
  ctx: JobQueueInternals,
  what: string,
  timeoutMs: number | undefined,
  fn: (db: Queryable) => Promise<T>,
): Promise<T> {
  ctx.assertOpen(what)
  return timeoutMs === undefined ? fn(ctx.db) : withStatementTimeout(ctx.pool, timeoutMs, what, fn)
}

/**
 * A status filter: one status or a non-empty list, each one of `allowed`. A list's element is named by its
 * index (`options.status[1]`) unless `listOnly`, where a filter must be a list and errors name the option.
 */
export function checkStatuses(
  value: unknown,
  name: string,
  allowed: readonly JobStatus[],
  listOnly = false,
): JobStatus[] {
  const list: unknown[] = Array.isArray(value) ? value : [value]
  if (list.length === 0 || (listOnly && !Array.isArray(value))) {
    const one = listOnly ? 'a list of at least one status' : 'at least one status'
    throw new InvalidArgumentError(`${name} must name ${one} of ${allowed.join(', ')}`, { data: { option: name } })
  }
  const element = (i: number) => (Array.isArray(value) && !listOnly ? `${name}[${i}]` : name)
  return list.map((status, i) => checkOneOf(status, element(i), allowed))
}
