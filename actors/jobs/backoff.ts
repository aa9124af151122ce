/**
 * Retry backoff of the job queue: after attempt n fails, the job waits `delay(n)` ms before it can be
 * claimed again. Given as a number, it is the unit of the default quadratic curve (n² × unit: 1 s,
 * 4 s, 9 s… with the default unit of 1 s); given as a function, it is the delay itself.
 *
 * The watchdog, which reaps lapsed leases on its own thread, cannot call a function of the caller's
 * thread: it gets the curve as a table (`backoffTable`), one delay per attempt, the last repeating.
 */
import { checkDurationMs, kMaxTimerMs } from '../../runtime/options.js'
import { InvalidArgumentError } from '../../runtime/errors.js'

/** The unit of `attempt² × unit` in ms, or `(attempt) => delayMs`. */
export type Backoff = number | ((attempt: number) => number)

export const DEFAULT_BACKOFF_UNIT_MS = 1_000

/** Attempts the table covers; beyond it the last delay repeats. */
const kTableLength = 64

export function checkBackoff(value: unknown, name: string): Backoff {
  if (typeof value === 'function') return value as (attempt: number) => number
  if (typeof value === 'number') return checkDurationMs(value, name)
  throw new InvalidArgumentError(
    `${name} must be a number of milliseconds or a function of the attempt (got ${typeof value})`,
    { data: { option: name } },
  )
}

/** The delay after attempt `attempt` (1-based) failed, in ms, clamped to [0, kMaxTimerMs]. */
export function backoffDelayMs(backoff: Backoff, attempt: number): number {
  const n = Math.max(1, attempt)
  const raw = typeof backoff === 'function' ? backoff(n) : n * n * backoff
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return 0
  return Math.min(kMaxTimerMs, Math.max(0, Math.round(raw)))
}

export function backoffTable(backoff: Backoff): number[] {
  return Array.from({ length: kTableLength }, (_, i) => backoffDelayMs(backoff, i + 1))
}

export function delayFromTable(table: readonly number[], attempt: number): number {
  return table[Math.min(Math.max(1, attempt), table.length) - 1] ?? 0
}
