/**
 * A bounded buffer read by any number of subscriptions, each an async iterator that sees every item
 * pushed after it (or still held when it) subscribed. The producer waits for space (`whenSpace`)
 * before it reads more from Redis: backpressure, nothing dropped. Memory layout:
 *
 *     items:   [ … consumed by every subscription … | held (≤ capacity) ]
 *               base ─────────────────────────────▶ low          tail
 *
 * `low` is the lowest cursor of the subscriptions (it stays put while there are none, so what was
 * pushed before the first subscription goes to it). Items before `low` are dropped in batches.
 * `end()` finishes every subscription at once (what is held is not yielded: the owner closed).
 *
 * `onTake` (the owner's delivery span, tracing.ts) is called as a subscription takes an item; what it
 * returns is ended when that subscription moves on: its next `next()`, or its `return()`.
 */
/** What `take` returns when there is nothing to take (no object per item taken). */
export const kNone: unique symbol = Symbol('none')

interface Waiter {
  readonly resolve: () => void
}

/** What the subscription holds while its consumer has the item it took (a span). */
export interface Taken {
  end(): void
}

export class Subscription<T> implements AsyncIterableIterator<T> {
  readonly #fanout: Fanout<T>
  cursor: number
  #wake: (() => void) | undefined
  #taken: Taken | undefined
  done = false

  constructor(fanout: Fanout<T>, cursor: number) {
    this.#fanout = fanout
    this.cursor = cursor
  }

  async next(): Promise<IteratorResult<T>> {
    this.#moveOn()
    for (;;) {
      if (this.done) return { done: true, value: undefined }
      const item = this.#fanout.take(this)
      if (item !== kNone) {
        this.#taken = this.#fanout.onTake?.(item)
        return { done: false, value: item }
      }
      const error = this.#fanout.error
      if (error !== undefined) throw error
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  /** `break` out of `for await`: the subscription leaves; the owner keeps running. */
  return(): Promise<IteratorResult<T>> {
    this.#moveOn()
    this.#fanout.leave(this)
    return Promise.resolve({ done: true, value: undefined })
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  #moveOn(): void {
    const taken = this.#taken
    if (taken === undefined) return
    this.#taken = undefined
    taken.end()
  }

  wake(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }
}

export class Fanout<T> {
  readonly capacity: number
  #items: T[] = []
  #base = 0
  #low = 0
  readonly #subscriptions = new Set<Subscription<T>>()
  #spaceWaiters: Waiter[] = []
  #ended = false
  error: Error | undefined
  /** Called when a subscription arrives (the owner starts reading on the first one). */
  onSubscribe: (() => void) | undefined
  /** Called when items were consumed (the owner may read more). */
  onSpace: (() => void) | undefined
  /** Called when a subscription takes an item; what it returns is ended when that subscription moves on. */
  onTake: ((item: T) => Taken | undefined) | undefined

  constructor(capacity: number) {
    this.capacity = capacity
  }

  get tail(): number {
    return this.#base + this.#items.length
  }

  /** Items held for the slowest subscription. */
  get held(): number {
    return this.tail - this.#low
  }

  get space(): number {
    return Math.max(0, this.capacity - this.held)
  }

  get subscribers(): number {
    return this.#subscriptions.size
  }

  subscribe(): Subscription<T> {
    const subscription = new Subscription(this, this.#low)
    if (this.#ended) subscription.done = true
    else this.#subscriptions.add(subscription)
    this.onSubscribe?.()
    return subscription
  }

  push(items: readonly T[]): void {
    if (this.#ended || items.length === 0) return
    for (const item of items) this.#items.push(item)
    for (const subscription of this.#subscriptions) subscription.wake()
  }

  /** Resolves when there is space for one more item (at once when there is), or the fanout ended. */
  whenSpace(): Promise<void> {
    if (this.space > 0 || this.#ended) return Promise.resolve()
    return new Promise((resolve) => this.#spaceWaiters.push({ resolve }))
  }

  /** The subscription's next item, or `kNone`. */
  take(subscription: Subscription<T>): T | typeof kNone {
    if (subscription.cursor >= this.tail) return kNone
    const value = this.#items[subscription.cursor - this.#base] as T
    subscription.cursor++
    this.#advance()
    return value
  }

  leave(subscription: Subscription<T>): void {
    subscription.done = true
    if (this.#subscriptions.delete(subscription)) this.#advance()
    subscription.wake()
  }

  /** Ends every subscription: iterators finish (or throw `error`), producers stop waiting. */
  end(error?: Error): void {
    if (this.#ended) return
    this.#ended = true
    this.error = error
    this.#items = []
    this.#base = this.#low = 0
    for (const subscription of this.#subscriptions) {
      if (error === undefined) subscription.done = true
      subscription.wake()
    }
    this.#subscriptions.clear()
    this.#releaseSpaceWaiters()
  }

  get ended(): boolean {
    return this.#ended
  }

  #advance(): void {
    if (this.#subscriptions.size === 0) return
    let low = Infinity
    for (const subscription of this.#subscriptions) low = Math.min(low, subscription.cursor)
    if (low <= this.#low) return
    this.#low = low
    const drop = this.#low - this.#base
    if (drop >= 1024 || drop === this.#items.length) {
      this.#items = this.#items.slice(drop)
      this.#base = this.#low
    }
    this.#releaseSpaceWaiters()
    this.onSpace?.()
  }

  #releaseSpaceWaiters(): void {
    if (this.#spaceWaiters.length === 0 || (this.space === 0 && !this.#ended)) return
    const waiters = this.#spaceWaiters
    this.#spaceWaiters = []
    for (const waiter of waiters) waiter.resolve()
  }
}
