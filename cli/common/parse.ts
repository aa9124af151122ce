/**
 * Parsers of the commands' arguments (JSON, integers, counts, ISO dates, addresses, stream positions).
 * They run before a command
 * connects, so that a refused command writes nothing; each error names its flag.
 */
import type { StartPosition } from '../../actors/streaming/index.js'
import { InvalidArgumentError } from '../../runtime/errors.js'

const kInt32 = { min: -2_147_483_648, max: 2_147_483_647 }

/** `text` parsed as JSON; `what` names it in the error. */
export function parseJsonArgument(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new InvalidArgumentError(`${what} must be JSON, e.g. '{"to":"a@b.com"}' (${(error as Error).message})`, {
      data: { option: what },
    })
  }
}

/** `text` as an integer within `range`; `flag` names it in the error. */
export function parseInteger(text: string, flag: string, range: { min?: number; max?: number } = {}): number {
  const { min = kInt32.min, max = kInt32.max } = range
  const value = Number(text)
  if (!/^\s*-?\d+\s*$/.test(text) || value < min || value > max) {
    throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`, {
      data: { option: flag },
    })
  }
  return value
}

const kIsoDate = /^(\d{4})-(\d\d)-(\d\d)(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?$/i

/** Whether `day` exists in `month` (1-12) of `year`: the Date parser rolls `02-31` over into March. */
function isCalendarDay(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate()
}

/** `text` as a date: ISO 8601 (`2030-01-31`, `2030-01-31T09:00:00Z`); `flag` names it in the error. */
export function parseIsoDate(text: string, flag: string): Date {
  const date = new Date(text)
  const parts = kIsoDate.exec(text.trim())
  if (
    parts === null ||
    !isCalendarDay(Number(parts[1]), Number(parts[2]), Number(parts[3])) ||
    Number.isNaN(date.getTime())
  ) {
    throw new InvalidArgumentError(
      `${flag} must be an ISO 8601 date, e.g. 2030-01-31T09:00:00Z (got ${JSON.stringify(text)})`,
      { data: { option: flag } },
    )
  }
  return date
}

/** `--count`: an integer ≥ 1, or none. */
export function parseCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError(`--count must be an integer of at least 1 (got ${JSON.stringify(text)})`, {
      data: { option: '--count' },
    })
  }
  return Number(text)
}

/** `host:port`, `[v6]:port` or `:port`. */
export function parseAddr(addr: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr)
  const port = Number(match?.[3])
  if (match === null || port > 65_535) {
    throw new InvalidArgumentError(`PULSE_HTTP_ADDR must be host:port (got ${JSON.stringify(addr)})`, {
      data: { option: '--addr' },
    })
  }
  return { host: match[1] ?? (match[2] === '' ? '127.0.0.1' : (match[2] as string)), port }
}

const kMaxSeq = 18446744073709551615n

/** `--from` as a reader start; an id is made inclusive by starting after the id just before it. */
export function parseFrom(text: string): StartPosition {
  if (text === 'newest' || text === 'oldest') return text
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(text)
  const ms = match === null ? undefined : BigInt(match[1] as string)
  const seq = match === null ? undefined : BigInt(match[2] ?? '0')
  if (ms === undefined || seq === undefined || ms > kMaxSeq || seq > kMaxSeq) {
    throw new InvalidArgumentError(
      `--from must be newest, oldest or an event id like 1700000000000-0 (got ${JSON.stringify(text)})`,
      { data: { option: '--from' } },
    )
  }
  if (seq > 0n) return { after: `${ms}-${seq - 1n}` }
  return ms > 0n ? { after: `${ms - 1n}-${kMaxSeq}` } : 'oldest'
}
