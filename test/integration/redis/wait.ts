/** Bounded waits for the Redis integration tests: an event, or a promise, within `ms`. */
import type { EventEmitter } from 'node:events'

import { withTimeout } from '../../../runtime/lifecycle.js'

export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(promise, ms, () => new Error(`${what} did not happen within ${ms} ms`))
}

/** Resolves on the next `event` of `emitter`; rejects (and stops listening) after `ms`. */
export async function nextEvent(emitter: EventEmitter, event: string, ms: number): Promise<void> {
  let listener: () => void = () => {}
  const happened = new Promise<void>((resolve) => {
    listener = resolve
    emitter.once(event, listener)
  })
  try {
    await within(happened, ms, `event '${event}'`)
  } finally {
    emitter.off(event, listener)
  }
}

/** Runs `fn` and returns how long it took to settle, with its outcome. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const start = performance.now()
  const [result] = await Promise.allSettled([fn()])
  return { ms: performance.now() - start, result: result as PromiseSettledResult<T> }
}
