/**
 * The leases one owner holds, shared by its dispatcher and watchdog inside their thread.
 *
 * The two actors are co-located on purpose (worker.ts spawns them on one thread). The dispatcher
 * writes a claim's leases here *before* it emits the jobs, and drops them once their ack statement
 * returned; the watchdog renews whatever is here. So a lease is renewed from the moment it is claimed,
 * even while the jobs wait in the ring for an event loop that a handler keeps busy (scenario 17: a job
 * is never reaped while it sits unstarted). The watchdog's `running`/`finished` messages write the
 * same book, for an owner whose dispatcher lives elsewhere or after the thread was replaced.
 *
 * Keyed by lease token: after a lapse the same job id can come back to the same owner with a new token
 * while the old attempt is still winding down.
 */
import type { LeaseRef } from '../../transports/postgres/jobs/hot-path.js'

export class LeaseBook {
  /** Lease token → job id (no object per lease: a claim of hundreds writes here at once). */
  readonly #idByToken = new Map<string, string>()

  get size(): number {
    return this.#idByToken.size
  }

  hold(leases: readonly LeaseRef[]): void {
    for (const { id, leaseToken } of leases) this.#idByToken.set(leaseToken, id)
  }

  release(leases: readonly LeaseRef[]): void {
    for (const lease of leases) this.#idByToken.delete(lease.leaseToken)
  }

  releaseIds(ids: readonly string[]): void {
    const gone = new Set(ids)
    for (const [token, id] of this.#idByToken) if (gone.has(id)) this.#idByToken.delete(token)
  }

  holds(lease: LeaseRef): boolean {
    return this.#idByToken.get(lease.leaseToken) === lease.id
  }

  all(): LeaseRef[] {
    return Array.from(this.#idByToken, ([leaseToken, id]) => ({ id, leaseToken }))
  }

  clear(): void {
    this.#idByToken.clear()
  }
}

const books = new Map<string, LeaseBook>()

/** The book of `owner` on `schema` in this thread (made on first use). */
export function leaseBook(schema: string, owner: string): LeaseBook {
  const key = `${schema}\0${owner}`
  let book = books.get(key)
  if (book === undefined) {
    book = new LeaseBook()
    books.set(key, book)
  }
  return book
}

/** Forgets the book of `owner` (its watchdog stopped). */
export function dropLeaseBook(schema: string, owner: string): void {
  books.delete(`${schema}\0${owner}`)
}
