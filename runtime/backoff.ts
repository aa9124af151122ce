/**
 * The one exponential backoff of the package: attempt n (1, 2, …) waits `baseMs · 2^(n−1)`, at most
 * `maxDoublings` doublings and at most `maxMs`. With `jitter` the wait is drawn from the upper half of
 * that ceiling ("equal jitter"), so that many clients retrying after one outage do not retry in step.
 * Actor restarts, child-process restarts, Redis reconnects and database retries all wait this way.
 */
export interface BackoffShape {
  readonly baseMs: number
  /** @default Infinity */
  readonly maxMs?: number | undefined
  /** @default 30 (past it the ceiling stops growing) */
  readonly maxDoublings?: number | undefined
  /** @default false */
  readonly jitter?: boolean | undefined
}

export function backoffMs(attempt: number, shape: BackoffShape): number {
  const doublings = Math.min(Math.max(attempt - 1, 0), shape.maxDoublings ?? 30)
  const ceiling = Math.min(shape.maxMs ?? Number.POSITIVE_INFINITY, shape.baseMs * 2 ** doublings)
  return shape.jitter === true ? Math.round(ceiling / 2 + (Math.random() * ceiling) / 2) : ceiling
}
