/**
 * Durations in flags: `1m`, `30s`, `500ms`, `2h`, `1d` (or a bare number of ms), parsed with `ms`.
 * Anything else, a negative or a fractional millisecond count is refused naming the flag.
 */
import ms from 'ms'

import { InvalidArgumentError } from '../../runtime/errors.js'

/** `text` in ms; throws `InvalidArgumentError` naming `flag` when it is not a duration of at least `min`. */
export function parseDuration(text: string, flag: string, { min = 0 } = {}): number {
  const value = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : ms(text as ms.StringValue)
  if (typeof value !== 'number' || !Number.isFinite(value) || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(
      `${flag} must be a duration like 500ms, 30s, 1m or 2h${min > 0 ? ` of at least ${min} ms` : ''} (got ${JSON.stringify(text)})`,
      { data: { option: flag } },
    )
  }
  return value
}

/** `value` ms as `ms` writes it: `1m`, `30s`, `500ms`. */
export function formatDuration(value: number): string {
  return ms(Math.round(value))
}
