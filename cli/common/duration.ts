/**
 * Durations in flags: `1m`, `30s`, `500ms`, `2h`, `1d` (or a bare number of ms), parsed with `ms`.
 * Anything else, a negative or a fractional millisecond count, or one past `max` is refused naming the
 * flag. A flag that becomes a timer takes `max: kMaxTimerMs`: past it, Node fires the timer at once.
 */
import ms from 'ms'

import { InvalidArgumentError } from '../../runtime/errors.js'

/** `text` in ms; throws `InvalidArgumentError` naming `flag` when it is not a duration from `min` to `max`. */
export function parseDuration(
  text: string,
  flag: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  const value = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : msOf(text)
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const atLeast = min > 0 ? ` of at least ${min} ms` : ''
    const atMost = max < Number.MAX_SAFE_INTEGER ? `${min > 0 ? ' and' : ''} at most ${max} ms` : ''
    const range = `${atLeast}${atMost}`
    throw new InvalidArgumentError(
      `${flag} must be a duration like 500ms, 30s, 1m or 2h${range} (got ${JSON.stringify(text)})`,
      { data: { option: flag } },
    )
  }
  return value
}

/** `text` read by `ms`, which throws (a plain `Error`) on the empty string: undefined then. */
function msOf(text: string): number | undefined {
  try {
    return ms(text as ms.StringValue)
  } catch {
    return undefined
  }
}

/** `value` ms as `ms` writes it: `1m`, `30s`, `500ms`. */
export function formatDuration(value: number): string {
  return ms(Math.round(value))
}
