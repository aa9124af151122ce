/**
 * The one bounded wait of the tests: poll observed state (a database row, a Redis key, a stats object)
 * until it holds, and fail past a deadline naming what was awaited. Where the code under test emits an
 * event, await the event instead.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  /** Fails past this. @default 10000 */
  readonly timeoutMs?: number
  /** Between two checks. @default 10 */
  readonly intervalMs?: number
  /** Named in the error. @default 'the condition' */
  readonly what?: string
}

/** Resolves once `check` holds; rejects after `timeoutMs` with an error naming `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 10, what = 'the condition' } = options
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`)
    await sleep(intervalMs)
  }
}
