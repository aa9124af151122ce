/** Bounded waits on observed state (test/helpers/wait.ts) and periodic sampling for the chaos scenarios. */
import { setTimeout as sleep } from 'node:timers/promises'

import { waitFor as waitForState, type WaitOptions } from '../helpers/wait.js'

/** `waitFor` of test/helpers/wait.ts, checking every 50 ms by default: the checks query servers under faults. */
export function waitFor(check: () => boolean | Promise<boolean>, options: WaitOptions): Promise<void> {
  return waitForState(check, { intervalMs: 50, ...options })
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
