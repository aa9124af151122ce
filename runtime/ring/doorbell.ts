/**
 * Batched wake-ups between threads. A consumer that finds its rings empty announces that it sleeps,
 * checks once more (a producer may have written in between), and waits with `Atomics.waitAsync`. A
 * producer rings only when the consumer announced sleep, so a consumer that is busy is never woken per
 * message: one notify covers everything written until it next sleeps.
 *
 * The race that matters: the consumer stores kSleeping = 1 and then re-reads the rings; the producer
 * publishes its tail and then reads kSleeping. Both are sequentially consistent atomics, so at least
 * one side sees the other's write: either the consumer sees the data or the producer sees the sleeper.
 */
import { kDoorbellBytes, kRings, kSleeping } from './layout.js'

export class Doorbell {
  readonly buffer: SharedArrayBuffer
  readonly #words: Int32Array

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(kDoorbellBytes)) {
    this.buffer = buffer
    this.#words = new Int32Array(buffer, 0, 2)
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
   * Consumer side: sleeps until a producer rings or `timeoutMs` passes, unless `hasWork()` (checked
   * after announcing sleep) says there is something to do. On Node 20 a pending `Atomics.waitAsync`
   * does not keep the event loop alive, and a thread with nothing else to do would exit in the middle
   * of the wait; so the wait holds a timer handle until it ends (only when it really sleeps).
   */
  async wait(hasWork: () => boolean, timeoutMs = Infinity): Promise<void> {
    Atomics.store(this.#words, kSleeping, 1)
    if (hasWork()) {
      Atomics.store(this.#words, kSleeping, 0)
      return
    }
    const result = Atomics.waitAsync(this.#words, kSleeping, 1, timeoutMs)
    if (result.async) await keepAliveUntil(result.value)
    Atomics.store(this.#words, kSleeping, 0)
  }

  /** Wakes a consumer sleeping in `wait`, e.g. to make it notice that it should stop. */
  wake(): void {
    Atomics.store(this.#words, kSleeping, 0)
    Atomics.notify(this.#words, kSleeping)
  }

  get rings(): number {
    return Atomics.load(this.#words, kRings)
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

function noop(): void {}
