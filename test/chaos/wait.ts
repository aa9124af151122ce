/** Bounded waits on observed state: the chaos scenarios poll the database or Redis, never sleep blind. */
import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  /** Fails past this. */
  readonly timeoutMs: number
  /** Between two checks. @default 50 */
  readonly intervalMs?: number
  /** Named in the error. */
  readonly what: string
}

/** Resolves once `check` holds; rejects after `timeoutMs`, naming `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${options.what}: not within ${options.timeoutMs} ms`)
    await sleep(options.intervalMs ?? 50)
  }
}

/** Calls `sample` every `intervalMs` until `stop()`; `stop()` resolves after the sample under way. */
export function every(intervalMs: number, sample: () => Promise<void>): { stop: () => Promise<void> } {
  const controller = new AbortController()
  const loop = (async () => {
    while (!controller.signal.aborted) {
      await sample()
      await sleep(intervalMs, undefined, { signal: controller.signal }).catch(() => undefined)
    }
  })()
  return {
    stop: async () => {
      controller.abort()
      await loop
    },
  }
}
