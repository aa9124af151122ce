/**
 * The writers waiting in `setAndWait` for the local replica to hold their committed revision.
 *
 * A waiter is released when the replica applies its revision or any later one (a later overwrite by
 * someone else releases it too: goa.design/pulse #62), or when a reload installs a snapshot read after
 * the waiter registered (its write committed before that read, so the snapshot holds it or something
 * newer, whatever the revision arithmetic says: this is what releases writers across a revision
 * regression). Each waiter gets a sequence number so that a reload can tell which ones it covers.
 */
import { abortable } from '../../runtime/lifecycle.js'

interface Waiter {
  readonly rev: number
  readonly seq: number
  resolve(): void
  reject(reason: Error): void
}

export class RevisionWaiters {
  #waiters: Waiter[] = []
  #seq = 0
  /** Set by `rejectAll`: later waits reject with it at once. */
  #closedWith: Error | undefined
  /** The lowest revision waited for, to skip the scan on most applies. */
  #minRev = Number.POSITIVE_INFINITY

  get size(): number {
    return this.#waiters.length
  }

  /** The sequence number of the latest waiter: a reload started now covers every waiter up to it. */
  get lastSeq(): number {
    return this.#seq
  }

  /**
   * Resolves once `release(rev')` with rev' ≥ `rev` or `releaseUpToSeq(seq')` covering this waiter is
   * called; rejects with the signal's reason on abort, or with `rejectAll`'s error. `rev` may be
   * `Infinity`: then only a covering reload releases it.
   */
  wait(rev: number, signal?: AbortSignal): Promise<void> {
    if (this.#closedWith !== undefined) return Promise.reject(this.#closedWith)
    let resolve!: () => void
    let reject!: (reason: Error) => void
    const promise = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    const waiter: Waiter = { rev, seq: ++this.#seq, resolve, reject }
    this.#waiters.push(waiter)
    if (rev < this.#minRev) this.#minRev = rev
    if (signal === undefined) return promise
    return abortable(promise, signal).finally(() => this.#remove(waiter))
  }

  /** Releases every waiter whose revision is ≤ `rev`. */
  release(rev: number): void {
    if (rev < this.#minRev) return
    this.#settle((waiter) => waiter.rev <= rev)
  }

  /** Releases every waiter registered at or before sequence number `seq`. */
  releaseUpToSeq(seq: number): void {
    this.#settle((waiter) => waiter.seq <= seq)
  }

  /** Rejects every waiter with `error`, and every later `wait` too. */
  rejectAll(error: Error): void {
    this.#closedWith = error
    const waiters = this.#waiters
    this.#waiters = []
    this.#minRev = Number.POSITIVE_INFINITY
    for (const waiter of waiters) waiter.reject(error)
  }

  #settle(done: (waiter: Waiter) => boolean): void {
    const kept: Waiter[] = []
    let minRev = Number.POSITIVE_INFINITY
    for (const waiter of this.#waiters) {
      if (done(waiter)) {
        waiter.resolve()
      } else {
        kept.push(waiter)
        if (waiter.rev < minRev) minRev = waiter.rev
      }
    }
    this.#waiters = kept
    this.#minRev = minRev
  }

  #remove(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter)
    if (index !== -1) this.#waiters.splice(index, 1)
  }
}
