/**
 * The events a sink instance holds: read from Redis and not acked yet. Each is either still in the
 * subscriptions' buffer or handed to the caller's code ('in hand'). The caller's side reports how many
 * events it consumed (with its credits), in the order they were emitted.
 *
 * Why the distinction: an event in the buffer has not been worked on, so the actor always keeps it
 * (resets its idle time); one in hand is kept only while the caller's thread is unresponsive (a handler
 * blocking it), else it is redelivered after the grace period like in v1.6.5: it was forgotten.
 *
 * Layout: the events in emit order, as parallel arrays (key, id, gone), with no object or map entry per
 * event on the hot path:
 *
 *     [ gone … | held or gone …                     ]
 *      0        head            hand                 length
 *               └─ in hand ────┘└─ in the buffer ───┘
 *
 * Acks usually come in emit order, so `delete` first looks where the last one ended (`#next`); only
 * when that misses does it build an index of key and id to position (kept until the arrays are
 * compacted). An event claimed again is added again; `toKeep` lists an id once.
 */
export class HeldEvents {
  #keys: string[] = []
  #ids: string[] = []
  #gone: boolean[] = []
  #head = 0
  #hand = 0
  #next = 0
  #size = 0
  #index: Map<string, number> | undefined

  /** Events held (an event added twice counts twice until both are gone). */
  get size(): number {
    return this.#size
  }

  /** Read (or claimed again): in the buffer now. */
  add(key: string, id: string): void {
    this.#index?.set(token(key, id), this.#ids.length)
    this.#keys.push(key)
    this.#ids.push(id)
    this.#gone.push(false)
    this.#size++
  }

  /** Acked, or no longer this instance's. */
  delete(key: string, id: string): void {
    let i = this.#next
    if (!(i < this.#ids.length && this.#ids[i] === id && this.#keys[i] === key)) {
      i = this.#find(key, id)
      if (i < 0) return
    }
    this.#next = i + 1
    if (this.#gone[i] === true) return
    this.#gone[i] = true
    this.#size--
    this.#trim()
  }

  /** The caller took `n` more events out of its buffer. */
  consumed(n: number): void {
    this.#hand = Math.min(this.#hand + n, this.#ids.length)
  }

  /** Per key, the ids to keep: the buffered ones, and those in hand when `includeHand`. */
  toKeep(includeHand: boolean): Map<string, string[]> {
    const keep = new Map<string, Set<string>>()
    for (let i = includeHand ? this.#head : Math.max(this.#head, this.#hand); i < this.#ids.length; i++) {
      if (this.#gone[i] === true) continue
      const key = this.#keys[i] as string
      let ids = keep.get(key)
      if (ids === undefined) keep.set(key, (ids = new Set()))
      ids.add(this.#ids[i] as string)
    }
    return new Map([...keep].map(([key, ids]) => [key, [...ids]]))
  }

  /** Keeps, of `key`'s events, only those in `still` (the others were claimed by another instance). */
  retain(key: string, asked: readonly string[], still: readonly string[]): void {
    const kept = new Set(still)
    for (const id of asked) {
      if (kept.has(id)) continue
      for (let i = this.#find(key, id); i >= 0 && this.#gone[i] !== true; i = this.#find(key, id)) {
        this.#gone[i] = true
        this.#size--
      }
    }
    this.#trim()
  }

  clear(): void {
    this.#keys = []
    this.#ids = []
    this.#gone = []
    this.#head = this.#hand = this.#next = this.#size = 0
    this.#index = undefined
  }

  /** The position of the latest `key` `id` still held, else of any, else -1. */
  #find(key: string, id: string): number {
    if (this.#index === undefined) {
      this.#index = new Map()
      for (let i = this.#head; i < this.#ids.length; i++)
        if (this.#gone[i] !== true) this.#index.set(token(this.#keys[i] as string, this.#ids[i] as string), i)
    }
    const i = this.#index.get(token(key, id))
    if (i === undefined) return -1
    if (this.#gone[i] === true) {
      // An earlier copy (the event claimed again) may still be held.
      for (let j = i - 1; j >= this.#head; j--)
        if (this.#gone[j] !== true && this.#ids[j] === id && this.#keys[j] === key) return j
    }
    return i
  }

  /** Moves `head` past gone events; compacts the arrays once most of them are behind it. */
  #trim(): void {
    while (this.#head < this.#ids.length && this.#gone[this.#head] === true) this.#head++
    if (this.#head < 1024 || this.#head * 2 < this.#ids.length) return
    const head = this.#head
    this.#keys = this.#keys.slice(head)
    this.#ids = this.#ids.slice(head)
    this.#gone = this.#gone.slice(head)
    this.#hand = Math.max(0, this.#hand - head)
    this.#next = Math.max(0, this.#next - head)
    this.#head = 0
    this.#index = undefined
  }
}

function token(key: string, id: string): string {
  return `${key}\n${id}`
}
