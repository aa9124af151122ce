/**
 * `map.subscribe()`: a coalescing async iterator of change kinds.
 *
 * A feed holds at most ONE pending notification: a new one merges into it, keeping the strongest kind
 * (`reset` > `delete` > `change`). So a subscriber that reads slowly (or never) costs O(1) memory and
 * never holds up a writer or the replica; when it reads, it learns that something changed since its
 * last read and re-reads the map, which is the whole contract (goa.design/pulse: a channel with a
 * buffer of one and a non-blocking send). Nothing is lost that matters: the map itself is the state.
 */
import { throwIfAborted } from '../../runtime/lifecycle.js'

/** What changed: `'change'` (a set), `'delete'` (a key went away), `'reset'` (the map was emptied or reloaded). */
export type MapEventKind = 'change' | 'delete' | 'reset'

const kStrength: Readonly<Record<MapEventKind, number>> = { change: 1, delete: 2, reset: 3 }

/** The stronger of two kinds (`reset` > `delete` > `change`); `undefined` is weaker than any. */
export function strongerKind(a: MapEventKind | undefined, b: MapEventKind | undefined): MapEventKind | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return kStrength[b] > kStrength[a] ? b : a
}

export interface ChangeFeedOptions {
  /** Aborting it ends the iteration: the pending `next()` (or the next one) rejects with its reason. */
  signal?: AbortSignal | undefined
}

interface Waiter {
  resolve(result: IteratorResult<MapEventKind, undefined>): void
  reject(reason: unknown): void
}

const kDone: IteratorResult<MapEventKind, undefined> = Object.freeze({ done: true, value: undefined })

export class ChangeFeed implements AsyncIterableIterator<MapEventKind, undefined> {
  #pending: MapEventKind | undefined
  #waiters: Waiter[] = []
  #done = false
  #failure: { reason: Error } | undefined
  readonly #unregister: (feed: ChangeFeed) => void
  readonly #signal: AbortSignal | undefined

  /** @param unregister called once when the feed ends (break, `return()`, abort or the map closing) */
  constructor(unregister: (feed: ChangeFeed) => void, options: ChangeFeedOptions = {}) {
    this.#unregister = unregister
    this.#signal = options.signal
    throwIfAborted(this.#signal)
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Notifications waiting to be read: 0 or 1, however many changes happened. */
  get queued(): number {
    return this.#pending === undefined ? 0 : 1
  }

  /** The pending kind, if any (for inspection). */
  get pending(): MapEventKind | undefined {
    return this.#pending
  }

  get done(): boolean {
    return this.#done
  }

  /** Delivers `kind` to a waiting reader, or merges it into the pending notification. Never blocks. */
  notify(kind: MapEventKind): void {
    if (this.#done) return
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) waiter.resolve({ done: false, value: kind })
    else this.#pending = strongerKind(this.#pending, kind)
  }

  /** The owner closed: a pending notification is still delivered, then the iteration ends. */
  end(): void {
    this.#finish()
  }

  next(): Promise<IteratorResult<MapEventKind, undefined>> {
    const pending = this.#pending
    if (pending !== undefined) {
      this.#pending = undefined
      return Promise.resolve({ done: false, value: pending })
    }
    if (this.#failure !== undefined) {
      const { reason } = this.#failure
      this.#failure = undefined
      return Promise.reject(reason)
    }
    if (this.#done) return Promise.resolve(kDone)
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  /** `break` in a `for await` lands here: the feed ends and unregisters. */
  return(): Promise<IteratorResult<MapEventKind, undefined>> {
    this.#pending = undefined
    this.#failure = undefined
    this.#finish()
    return Promise.resolve(kDone)
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  readonly #onAbort = (): void => {
    if (this.#done) return
    const reason = this.#signal?.reason as Error
    this.#pending = undefined
    const waiters = this.#waiters
    this.#waiters = []
    if (waiters.length === 0) this.#failure = { reason }
    for (const waiter of waiters) waiter.reject(reason)
    this.#finish()
  }

  #finish(): void {
    if (this.#done) return
    this.#done = true
    this.#signal?.removeEventListener('abort', this.#onAbort)
    const waiters = this.#waiters
    this.#waiters = []
    for (const waiter of waiters) waiter.resolve(kDone)
    this.#unregister(this)
  }
}
