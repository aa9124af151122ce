/**
 * The events a sink instance holds: read from Redis and not acked yet, per stream key. Each is either
 * still in the subscriptions' buffer ('buffer') or handed to the caller's code ('hand'). The caller's
 * side reports how many events it consumed (with its credits), in the order they were emitted, so the
 * actor moves that many from 'buffer' to 'hand'.
 *
 * Why the distinction: an event in the buffer has not been worked on, so the actor always keeps it
 * (resets its idle time); one in hand is kept only while the caller's thread is unresponsive (a handler
 * blocking it), else it is redelivered after the grace period like in v1.6.5: it was forgotten.
 */
type Where = 'buffer' | 'hand'

export class HeldEvents {
  readonly #byKey = new Map<string, Map<string, Where>>()
  /** Keys and ids in emit order (two arrays: no pair allocated per event), for `consumed`; acked ones are skipped when reached. */
  #orderKeys: string[] = []
  #orderIds: string[] = []
  #head = 0

  get size(): number {
    let size = 0
    for (const ids of this.#byKey.values()) size += ids.size
    return size
  }

  /** Read (or claimed again): in the buffer now. */
  add(key: string, id: string): void {
    let ids = this.#byKey.get(key)
    if (ids === undefined) this.#byKey.set(key, (ids = new Map<string, Where>()))
    ids.set(id, 'buffer')
    this.#orderKeys.push(key)
    this.#orderIds.push(id)
  }

  /** Acked, or no longer this instance's. */
  delete(key: string, id: string): void {
    const ids = this.#byKey.get(key)
    if (ids === undefined) return
    ids.delete(id)
    if (ids.size === 0) this.#byKey.delete(key)
  }

  /** The caller took `n` more events out of its buffer. */
  consumed(n: number): void {
    let key: string | undefined
    let ids: Map<string, Where> | undefined
    for (let i = 0; i < n && this.#head < this.#orderIds.length; i++) {
      const k = this.#orderKeys[this.#head] as string
      const id = this.#orderIds[this.#head++] as string
      if (k !== key) {
        key = k
        ids = this.#byKey.get(k)
      }
      if (ids?.get(id) === 'buffer') ids.set(id, 'hand')
    }
    if (this.#head > 1024 && this.#head * 2 > this.#orderIds.length) {
      this.#orderKeys = this.#orderKeys.slice(this.#head)
      this.#orderIds = this.#orderIds.slice(this.#head)
      this.#head = 0
    }
  }

  /** Per key, the ids to keep: the buffered ones, and those in hand when `includeHand`. */
  toKeep(includeHand: boolean): Map<string, string[]> {
    const keep = new Map<string, string[]>()
    for (const [key, ids] of this.#byKey) {
      const list = [...ids].filter(([, where]) => includeHand || where === 'buffer').map(([id]) => id)
      if (list.length > 0) keep.set(key, list)
    }
    return keep
  }

  /** Keeps, of `key`'s events, only those in `still` (the others were claimed by another instance). */
  retain(key: string, asked: readonly string[], still: readonly string[]): void {
    const kept = new Set(still)
    for (const id of asked) if (!kept.has(id)) this.delete(key, id)
  }

  clear(): void {
    this.#byKey.clear()
    this.#orderKeys = []
    this.#orderIds = []
    this.#head = 0
  }
}
