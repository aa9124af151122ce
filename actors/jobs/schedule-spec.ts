/**
 * Schedule specs: when a schedule fires. A spec is plain JSON (it is stored as such and shown by
 * `listSchedules()`), built by one of:
 *
 * - `every(ms)`: every `ms` milliseconds, on a grid aligned to the Unix epoch (BullMQ's `every`): the
 *   occurrences are the multiples of `ms`, so `every(5 * MINUTE)` fires at :00, :05, :10… on every
 *   replica alike, and intervals never drift with tick lag.
 * - `cron(expr, { tz })`: a cron expression (5 fields, or 6 with seconds first, or a `@hourly`-style
 *   alias), read by cron-parser in the time zone `tz` (default UTC).
 * - `at(date)`: once, at `date` (a past date fires on the next scheduler tick). The schedule is deleted
 *   once it has fired.
 * - `after(ms)`: `at(now + ms)`.
 *
 * A spec that is invalid is refused with `PULSE_ERR_INVALID_ARG` naming it, by the builder and again
 * when the schedule is created (a spec may also be hand-written JSON).
 */
import { CronExpressionParser } from 'cron-parser'

import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkInteger, checkKnownKeys, checkString } from '../../runtime/options.js'

export interface EverySpec {
  readonly kind: 'every'
  /** The period in ms: occurrences are the multiples of it since the Unix epoch. */
  readonly everyMs: number
}

export interface CronSpec {
  readonly kind: 'cron'
  readonly expr: string
  /** An IANA time zone. */
  readonly tz: string
}

export interface AtSpec {
  readonly kind: 'at'
  /** ISO 8601, UTC. */
  readonly at: string
}

export type ScheduleSpec = EverySpec | CronSpec | AtSpec

export interface CronOptions {
  /**
   * The time zone the expression is read in.
   * @default 'UTC'
   */
  tz?: string | undefined
}

/** Fires every `ms` milliseconds (an integer ≥ 1), aligned to the Unix epoch. */
export function every(ms: number): EverySpec {
  return Object.freeze({ kind: 'every', everyMs: checkEveryMs(ms, 'ms') })
}

/** Fires on the cron expression `expr`; an invalid expression throws `PULSE_ERR_INVALID_ARG`. */
export function cron(expr: string, options: CronOptions = {}): CronSpec {
  checkKnownKeys(options, ['tz'])
  const tz = options.tz === undefined ? 'UTC' : checkString(options.tz, 'options.tz', { nonEmpty: true })
  checkCron(expr, tz, 'expr')
  return Object.freeze({ kind: 'cron', expr, tz })
}

/** Fires once, at `date`. */
export function at(date: Date | string | number): AtSpec {
  return Object.freeze({ kind: 'at', at: checkDate(date, 'date').toISOString() })
}

/** Fires once, `ms` milliseconds from now: `at(Date.now() + ms)`. */
export function after(ms: number): AtSpec {
  checkInteger(ms, 'ms', { min: 0 })
  return at(Date.now() + ms)
}

/**
 * The first occurrence of `spec` strictly after `after`, or `undefined` when there is none (an `at`
 * whose time has come). Throws `PULSE_ERR_INVALID_ARG` when `spec` is not a valid spec.
 */
export function nextOccurrence(spec: unknown, after: Date): Date | undefined {
  const valid = checkScheduleSpec(spec)
  const t = after.getTime()
  switch (valid.kind) {
    case 'every':
      return new Date((Math.floor(t / valid.everyMs) + 1) * valid.everyMs)
    case 'cron':
      return cronNext(valid.expr, valid.tz, after)
    case 'at': {
      const when = new Date(valid.at)
      return when.getTime() > t ? when : undefined
    }
  }
}

/**
 * The occurrence a new schedule waits for: an `at` spec's own time (even if past: it fires on the next
 * tick), else the first occurrence after `now`.
 */
export function firstOccurrence(spec: unknown, now: Date): Date | undefined {
  const valid = checkScheduleSpec(spec)
  return valid.kind === 'at' ? new Date(valid.at) : nextOccurrence(valid, now)
}

/** Checks a spec (built or hand-written) and returns it normalised; `name` is used in errors. */
export function checkScheduleSpec(value: unknown, name = 'spec'): ScheduleSpec {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidArgumentError(`${name} must be a schedule spec: every(ms), cron(expr), at(date) or after(ms)`, {
      data: { option: name },
    })
  }
  const kind = (value as { kind?: unknown }).kind
  switch (kind) {
    case 'every': {
      checkKnownKeys(value, ['kind', 'everyMs'], name)
      return { kind, everyMs: checkEveryMs((value as { everyMs?: unknown }).everyMs, `${name}.everyMs`) }
    }
    case 'cron': {
      checkKnownKeys(value, ['kind', 'expr', 'tz'], name)
      const { expr, tz } = value as { expr?: unknown; tz?: unknown }
      const zone = tz === undefined ? 'UTC' : checkString(tz, `${name}.tz`, { nonEmpty: true })
      return { kind, expr: checkCron(expr, zone, `${name}.expr`), tz: zone }
    }
    case 'at': {
      checkKnownKeys(value, ['kind', 'at'], name)
      return { kind, at: checkDate((value as { at?: unknown }).at, `${name}.at`).toISOString() }
    }
    default:
      throw new InvalidArgumentError(
        `${name}.kind must be 'every', 'cron' or 'at' (got ${JSON.stringify(kind) ?? 'undefined'})`,
        {
          data: { option: `${name}.kind` },
        },
      )
  }
}

/** A hundred years: longer periods would put occurrences past the end of `Date`'s range. */
const kMaxEveryMs = 100 * 365 * 24 * 3_600_000

function checkEveryMs(value: unknown, name: string): number {
  return checkInteger(value, name, { min: 1, max: kMaxEveryMs })
}

/** Fields of a cron expression: 5 (minute first) or 6 (second first); or one `@alias`. */
const kCronFields = /^\s*(?:@[a-z]+|\S+(?:\s+\S+){4,5})\s*$/

function checkCron(value: unknown, tz: string, name: string): string {
  const expr = checkString(value, name, { nonEmpty: true })
  if (!kCronFields.test(expr)) {
    throw new InvalidArgumentError(
      `${name} must be a cron expression of 5 fields (or 6 with seconds), or an @alias (got ${JSON.stringify(expr)})`,
      {
        data: { option: name },
      },
    )
  }
  try {
    // Parsing checks the fields; computing one occurrence checks the time zone and satisfiability.
    cronNext(expr, tz, new Date())
  } catch (error) {
    throw new InvalidArgumentError(
      `${name} is not a valid cron expression in time zone ${JSON.stringify(tz)}: ${(error as Error).message}`,
      {
        cause: error,
        data: { option: name },
      },
    )
  }
  return expr
}

function cronNext(expr: string, tz: string, after: Date): Date | undefined {
  const expression = CronExpressionParser.parse(expr, { tz, currentDate: after })
  return expression.hasNext() ? expression.next().toDate() : undefined
}

function checkDate(value: unknown, name: string): Date {
  const date =
    value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError(`${name} must be a valid Date, ISO 8601 string or epoch ms`, {
      data: { option: name },
    })
  }
  return date
}
