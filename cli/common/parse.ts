/**
 * Parsers of the commands' arguments (JSON, integers, counts, ISO dates). They run before a command
 * connects, so that a refused command writes nothing; each error names its flag.
 */
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

const kIsoDate = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?$/i

/** `text` as a date: ISO 8601 (`2030-01-31`, `2030-01-31T09:00:00Z`); `flag` names it in the error. */
export function parseIsoDate(text: string, flag: string): Date {
  const date = new Date(text)
  if (!kIsoDate.test(text.trim()) || Number.isNaN(date.getTime())) {
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
