/**
 * The watchdog actor: lease renewal for one owner, and reaping of lapsed leases of any owner.
 *
 * It runs on the jobs thread, not on the event loop that runs the handlers: a handler that blocks its
 * loop for many lease TTLs keeps its lease, because the renewal never waits for that loop.
 *
 *   - Renewal, every leaseTtlMs / 3: ONE `renewLeases` statement for every lease in the owner's lease
 *     book (lease-book.ts: the co-located dispatcher writes claims there before emitting them, and
 *     drops them once acked; `{ t: 'running', jobs }` / `{ t: 'finished', ids }` write it too). A lease
 *     the database no longer shows as this holder's (reaped after a lapse, canceled, re-dispatched)
 *     leaves the book and is reported: `{ t: 'lost', ids, tokens }`; the owner aborts that attempt's
 *     signal and discards its result. A database error reports nothing: the next tick tries again.
 *   - Reaping, every sweepIntervalMs: `reapExpiredLeases` (batches of 100) moves running jobs whose
 *     lease lapsed — whoever held it — to retrying at the queue's backoff, or to dead without attempts
 *     left, and emits `{ t: 'reaped', jobs }`. Every replica's watchdog sweeps; the statement's guards
 *     (status, token, expiry re-checked in the UPDATE) make a job that finished or was renewed between
 *     the scan and the update stay as it is, and racing sweepers never reap one job twice.
 *
 *   idle --tick--> renewing --statement settles--> idle   (the next tick is armed after the statement,
 *   idle --sweep--> reaping --batch < 100--------> idle    so a slow database never stacks them up)
 *   any --stop--> stopped
 */
import type pg from 'pg'

import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { onceAsync } from '../../runtime/lifecycle.js'
import { reapExpiredLeases, renewLeases } from '../../transports/postgres/jobs/hot-path.js'
import {
  endPool,
  INDEX_PLANS_LOCAL_SQL,
  INDEX_PLANS_SQL,
  openActorDb,
} from '../../transports/postgres/jobs/actor-pool.js'
import { type Queryable, quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { delayFromTable } from './backoff.js'
import { dropLeaseBook, type LeaseBook, leaseBook } from './lease-book.js'
import { type ReapedJob, type WatchdogArgs, type WatchdogMsg, type WatchdogOut, wireOf } from './protocol.js'

const kReapBatch = 100
/** Batches per sweep at most; the rest waits for the next sweep. */
const kReapBatchesPerSweep = 20
/** The watchdog's sessions: renewals find the held leases by primary key, reaps the lapsed ones through `jobs_leases`. */
export const WATCHDOG_SESSION_SQL = INDEX_PLANS_SQL
/** `WATCHDOG_SESSION_SQL` for each statement's transaction, through a transaction pooler (actor-pool.ts). */
export const WATCHDOG_TRANSACTION_SQL = INDEX_PLANS_LOCAL_SQL

class Watchdog {
  readonly #args: WatchdogArgs
  readonly #ctx: ActorContext
  readonly #q: string
  readonly #pool: pg.Pool
  readonly #db: Queryable
  readonly #book: LeaseBook
  #renewTimer: NodeJS.Timeout | undefined
  #sweepTimer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(args: WatchdogArgs, ctx: ActorContext) {
    this.#args = args
    this.#ctx = ctx
    this.#q = quoteSchema(args.schema)
    // Renewal and reaping each hold a connection at most: neither waits behind the other.
    const { pool, db } = openActorDb({
      connection: args.connection,
      max: 2,
      applicationName: 'pulse-jobs-watchdog',
      transactionPooler: args.transactionPooler,
      settings: { session: WATCHDOG_SESSION_SQL, transaction: WATCHDOG_TRANSACTION_SQL },
    })
    this.#pool = pool
    this.#db = db
    this.#book = leaseBook(args.schema, args.owner)
    this.#armRenew(this.#renewEveryMs())
    this.#armSweep(args.sweepIntervalMs)
  }

  receive(msg: WatchdogMsg, ctx: ActorContext): void | Promise<void> {
    if (this.#stopped) return
    switch (msg.t) {
      case 'running':
        this.#book.hold(msg.jobs)
        return
      case 'finished':
        this.#book.releaseIds(msg.ids)
        return
      case 'stop':
        return this.stop().then(() => ctx.reply(true))
    }
  }

  readonly stop = onceAsync(async (): Promise<void> => {
    this.#stopped = true
    clearTimeout(this.#renewTimer)
    clearTimeout(this.#sweepTimer)
    this.#book.clear()
    dropLeaseBook(this.#args.schema, this.#args.owner)
    await endPool(this.#pool)
  })

  #renewEveryMs(): number {
    return Math.max(1, Math.floor(this.#args.leaseTtlMs / 3))
  }

  #emit(out: WatchdogOut): void {
    if (!this.#stopped) this.#ctx.emit(out)
  }

  #armRenew(ms: number): void {
    if (this.#stopped) return
    this.#renewTimer = setTimeout(() => void this.#renew(), ms)
  }

  #armSweep(ms: number): void {
    if (this.#stopped) return
    this.#sweepTimer = setTimeout(() => void this.#sweep(), ms)
  }

  async #renew(): Promise<void> {
    const started = Date.now()
    const leases = this.#book.all()
    try {
      if (leases.length > 0) {
        const lostIds = new Set(await renewLeases(this.#db, this.#q, leases, this.#args.leaseTtlMs))
        // Only what is still in the book: a lease acked meanwhile is no loss.
        const lost = leases.filter((lease) => lostIds.has(lease.id) && this.#book.holds(lease))
        if (lost.length > 0) {
          this.#book.release(lost)
          this.#emit({ t: 'lost', ids: lost.map((l) => l.id), tokens: lost.map((l) => l.leaseToken) })
        }
      }
    } catch (error) {
      this.#emit({ t: 'warning', message: 'lease renewal failed; retrying', error: wireOf(error) })
    } finally {
      this.#armRenew(Math.max(0, this.#renewEveryMs() - (Date.now() - started)))
    }
  }

  async #sweep(): Promise<void> {
    try {
      for (let batch = 0; batch < kReapBatchesPerSweep && !this.#stopped; batch++) {
        const now = Date.now()
        const retryAt = (attempt: number) => new Date(now + delayFromTable(this.#args.backoffTable, attempt))
        const outcomes = await reapExpiredLeases(this.#db, this.#q, kReapBatch, retryAt)
        if (outcomes.length > 0) {
          const { rows } = await this.#db.query<{ id: string; name: string }>(
            `SELECT id::text, name FROM ${this.#q}.jobs WHERE id = ANY($1::bigint[])`,
            [outcomes.map((o) => o.id)],
          )
          const names = new Map(rows.map((r) => [r.id, r.name]))
          const jobs: ReapedJob[] = outcomes.map((o) => ({
            ...o,
            name: names.get(o.id) ?? '',
            retryAt: o.status === 'retrying' ? retryAt(o.attempt) : undefined,
          }))
          this.#emit({ t: 'reaped', jobs })
        }
        if (outcomes.length < kReapBatch) break
      }
    } catch (error) {
      this.#emit({ t: 'warning', message: 'lease sweep failed; retrying', error: wireOf(error) })
    } finally {
      this.#armSweep(this.#args.sweepIntervalMs)
    }
  }
}

export default defineActor<Watchdog, WatchdogMsg, WatchdogArgs>({
  init: (args, ctx) => new Watchdog(args, ctx),
  receive: (state, msg, ctx) => {
    const pending = state.receive(msg, ctx)
    return pending === undefined ? state : pending.then(() => state)
  },
  stop: (state) => state.stop(),
})
