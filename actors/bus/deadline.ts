/**
 * `within`: a wait for replies or confirmations, bounded by a deadline and a signal. Once it settles,
 * however it settles, it leaves no timer and no abort listener behind: a put or request that got its
 * answer early does not hold a timer for the rest of its timeout, nor a listener on the bus's signal.
 */

import { coerceError } from '../../runtime/errors.js'

/** `promise`'s value, or `undefined` after `ms`; rejects with the signal's reason when it aborts first. */
export function within<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error)
      return
    }
    const finish = (settle: () => void) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', onAbort)
      settle()
    }
    const onAbort = () => finish(() => reject(signal.reason as Error))
    const timer = setTimeout(() => finish(() => resolve(undefined)), ms)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => finish(() => resolve(value)),
      (error: unknown) => finish(() => reject(coerceError(error))),
    )
  })
}
