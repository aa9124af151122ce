/**
 * Batched wake-ups between threads. A consumer that finds its rings empty polls them for a bounded
 * spin window (none by default), then announces that it sleeps, checks once more (a producer may have
 * written in between), and waits with `Atomics.waitAsync`. A producer rings only when the consumer
 * announced sleep, so a consumer that is busy or spinning is never woken per message: one notify covers
 * everything written until it next sleeps.
 *
 * The race that matters: the consumer stores kSleeping = 1 and then re-reads the rings; the producer
 * publishes its tail and then reads kSleeping. Both are sequentially consistent atomics, so at least
 * one side sees the other's write: either the consumer sees the data or the producer sees the sleeper.
 * The spin window leaves this as it is: kSleeping stays 0 while the consumer polls (a producer that
 * writes then does not ring, and the next poll, or the re-read after the announce, sees its tail), and
 * the window ends with the same store-then-re-read. A producer that sees the sleeper swaps kSleeping
 * back to 0 before it notifies, so a notify that comes between the re-read and `Atomics.waitAsync`
 * makes the wait return at once ('not-equal') instead of being lost.
 *
 * The spin yields to the event loop (`setImmediate`) before each burst of polls and a burst lasts at
 * most kBurstMs, so the consumer's own timers, I/O and promise reactions run while it spins. It adapts:
 * after kMaxMisses windows in a row that ended with nothing, a wait parks at once, except one in
 * kProbeEvery that spins again (a hit resumes spinning). A peer that answers slowly, sporadic traffic,
 * or a machine whose cores are all busy (where a spinner keeps its peer off the CPU for the whole window,
 * so the window ends empty) thus cost that occasional window instead of one per wait.
 *
 * `nudge()` ends a sleep from the consumer's own thread, at once (no cross-thread notify to wait for):
 * the runtime nudges its pump after it writes an ask, so the pump spins for the reply instead of
 * sleeping until the reply's notify.
 */
import { kDoorbellBytes, kRings, kSleeping } from './layout.js'

/** How a `wait` ended: work seen (while spinning or at the announce), a ring or wake, or the timeout. */
export type WaitOutcome = 'work' | 'woken' | 'timeout'

/** The longest the spin blocks its thread's event loop at a time. */
const kBurstMs = 0.01
/** Windows in a row that found nothing, after which waits park at once ... */
export const kMaxMisses = 2
/** ... except one wait in this many, which spins to see whether spinning pays again. */
export const kProbeEvery = 16

export class Doorbell {
  readonly buffer: SharedArrayBuffer
  readonly #words: Int32Array
  readonly #now: () => number
  /** Ends the current sleep of this thread's `wait` (set only while it sleeps). */
  #nudge: (() => void) | undefined
  #misses = 0
  #sinceProbe = 0

  /** `now` (ms, monotonic) times the spin window; a test may pass its own clock. */
  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(kDoorbellBytes), now: () => number = monotonicMs) {
    this.buffer = buffer
    this.#words = new Int32Array(buffer, 0, 2)
    this.#now = now
  }

  /** Producer side: wakes the consumer if it sleeps. Cheap (one atomic load) when it does not. */
  ring(): void {
    if (Atomics.load(this.#words, kSleeping) === 0) return
    if (Atomics.exchange(this.#words, kSleeping, 0) === 1) {
      Atomics.add(this.#words, kRings, 1)
      Atomics.notify(this.#words, kSleeping)
    }
  }

  /**
   * Consumer side: polls `hasWork()` for up to `spinUs` microseconds, then sleeps until a producer
   * rings, `wake()` or `nudge()` is called, or `timeoutMs` passes — unless `hasWork()` (checked after
   * announcing sleep) says there is something to do. On Node 20 a pending `Atomics.waitAsync` does not
   * keep the event loop alive, and a thread with nothing else to do would exit in the middle of the
   * wait; so the wait holds a timer handle until it ends (only when it really sleeps).
   */
  async wait(hasWork: () => boolean, timeoutMs = Infinity, spinUs = 0): Promise<WaitOutcome> {
    if (spinUs > 0 && this.#shouldSpin()) {
      const hit = await this.#spin(hasWork, spinUs / 1000)
      this.#misses = hit ? 0 : this.#misses + 1
      if (hit) return 'work'
    }
    Atomics.store(this.#words, kSleeping, 1)
    if (hasWork()) {
      Atomics.store(this.#words, kSleeping, 0)
      return 'work'
    }
    const outcome = await this.#sleep(timeoutMs)
    Atomics.store(this.#words, kSleeping, 0)
    return outcome
  }

  /** Wakes a consumer sleeping in `wait`, e.g. to make it notice that it should stop. */
  wake(): void {
    Atomics.store(this.#words, kSleeping, 0)
    Atomics.notify(this.#words, kSleeping)
    this.#nudge?.()
  }

  /** Consumer's own thread: ends its sleep now if it sleeps (the pending wait is released too). */
  nudge(): void {
    if (this.#nudge !== undefined) this.wake()
  }

  get rings(): number {
    return Atomics.load(this.#words, kRings)
  }

  #shouldSpin(): boolean {
    if (this.#misses < kMaxMisses) return true
    if (++this.#sinceProbe < kProbeEvery) return false
    this.#sinceProbe = 0
    return true
  }

  /** Polls until `hasWork()` or `windowMs` passed; kSleeping stays 0 meanwhile. */
  async #spin(hasWork: () => boolean, windowMs: number): Promise<boolean> {
    const end = this.#now() + windowMs
    for (;;) {
      await yieldToLoop()
      const burstEnd = Math.min(end, this.#now() + kBurstMs)
      do if (hasWork()) return true
      while (this.#now() < burstEnd)
      if (this.#now() >= end) return false
    }
  }

  async #sleep(timeoutMs: number): Promise<WaitOutcome> {
    const result = Atomics.waitAsync(this.#words, kSleeping, 1, timeoutMs)
    if (!result.async) return result.value === 'timed-out' ? 'timeout' : 'woken'
    const nudged = new Promise<'ok'>((resolve) => {
      this.#nudge = () => resolve('ok')
    })
    try {
      return (await keepAliveUntil(Promise.race([result.value, nudged]))) === 'timed-out' ? 'timeout' : 'woken'
    } finally {
      this.#nudge = undefined
    }
  }
}

/** Holds the event loop open until `promise` settles (see `Doorbell.wait`). */
export async function keepAliveUntil<T>(promise: Promise<T>): Promise<T> {
  const handle = setInterval(noop, 1 << 30)
  try {
    return await promise
  } finally {
    clearInterval(handle)
  }
}

function monotonicMs(): number {
  return performance.now()
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

function noop(): void {}
