/**
 * The dispatcher actor: it owns claims and acks for one owner (one `JobWorker`), on the jobs thread.
 *
 * Protocol (messages in `DispatcherMsg`, emits in `DispatcherOut`, protocol.ts):
 *
 *   - The owner grants credits, `{ t: 'credit', n }` (its `concurrency + prefetch` at start), and says
 *     which names it can take now: `{ t: 'names', names }`. The dispatcher never holds more claimed-but-unfinished jobs
 *     than it was granted: a claim asks for min(credits, claimBatchMax) rows in ONE `claimJobs`
 *     statement, subtracts what it got, writes the leases into the owner's lease book (the co-located
 *     watchdog renews them from then on) and emits `{ t: 'jobs', jobs }`. No names, no claim.
 *   - The owner returns results: `{ t: 'done', completed, failed }`. They are acked in batches: what
 *     arrived while the previous ack ran goes into the next one (`completeJobs` + `failJobs`, fenced by
 *     lease token), then `{ t: 'acked', completed, failed, fenced }` lists the transitions the database
 *     confirmed and the leases it refused; the leases leave the book and their credits come back (a
 *     job counts against the credits from its claim to its ack, so the database never shows more
 *     running jobs of this owner than it was granted). A database error keeps the batch and retries
 *     it. The owner returns credits itself only for jobs it drops without a result (lease lost).
 *   - `{ t: 'close' }` stops claiming: `{ t: 'closed' }` follows the `jobs` of a claim still in flight.
 *     `{ t: 'flush', seq }` is answered by `{ t: 'flushed', seq }` once the results sent before it are
 *     acked. The `stop` ask (or the actor's stop) releases the pool, the LISTEN client and the timers.
 *
 * Claim loop:
 *
 *                  wake: NOTIFY, poll tick, retry due, reconnect  (sets `ready`)
 *                  credit (claims only when `ready`)
 *   idle ──────────────────────────────────────────────────────────▶ claiming
 *    ▲   (credits > 0, names ≠ ∅, open)                                  │
 *    │                                                                   │ rows < limit: ready = false
 *    └──── credits = 0, or not ready, or closing ◀───────────────────────┤ rows = limit: ready = true
 *                                                                        │ a wake during the claim: ready = true
 *          error: ready = true, retry after a backoff ◀──────────────────┘
 *
 * `ready` means "ready jobs may exist": a claim that came back short proves the queue was empty at its
 * snapshot, so new credit alone does not send another statement until a wake says otherwise. That
 * keeps an idle queue at one claim per wake instead of one per finished job. The dispatcher also
 * arms a timer for the earliest `retryAt` it acked, so a retry is claimed on time without NOTIFY.
 *
 * `receive` only updates counters and starts the loops; the statements run in the actor's own async
 * loops, so the thread stays free for the co-located watchdog and scheduler.
 */
import type pg from 'pg'

import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { onceAsync } from '../../runtime/lifecycle.js'
import { claimJobs, completeJobs, failJobs, type FailedJob, type LeaseRef } from '../../transports/postgres/jobs/hot-path.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { endPool, NotifyListener, openActorPool, retryDelayMs, wireOf } from './actor-pg.js'
import { type LeaseBook, leaseBook } from './lease-book.js'
import type { AckedFailure, DispatcherArgs, DispatcherMsg, DispatcherOut } from './protocol.js'

/** Claims and acks can run at once; a third connection lets a fail batch go beside a complete batch. */
const kPoolSize = 3

class Dispatcher {
  readonly #args: DispatcherArgs
  readonly #ctx: ActorContext
  readonly #q: string
  readonly #pool: pg.Pool
  readonly #book: LeaseBook
  readonly #listener: NotifyListener
  #credits = 0
  #names: string[] = []
  #ready = true
  #wokeDuringClaim = false
  #claiming = false
  #claimFailures = 0
  #closing = false
  #stopped = false
  #completed: LeaseRef[] = []
  #failed: FailedJob[] = []
  #acking = false
  #flushes: number[] = []
  #pollTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retryTimerAt = Infinity

  constructor(args: DispatcherArgs, ctx: ActorContext) {
    this.#args = args
    this.#ctx = ctx
    this.#q = quoteSchema(args.schema)
    this.#pool = openActorPool(args.connection, kPoolSize, 'pulse-jobs-dispatcher')
    this.#book = leaseBook(args.schema, args.owner)
    this.#listener = new NotifyListener({
      connection: args.connection,
      channel: `pulse_jobs:${args.schema}`,
      applicationName: 'pulse-jobs-listen',
      onNotify: () => this.#wake(),
      onReady: () => this.#wake(),
      onError: (error) => this.#warn('LISTEN connection lost; reconnecting', error),
    })
    this.#listener.start()
    this.#pollTimer = setInterval(() => this.#wake(), args.pollIntervalMs)
  }

  receive(msg: DispatcherMsg, ctx: ActorContext): void | Promise<void> {
    if (this.#stopped) return
    switch (msg.t) {
      case 'credit':
        this.#credits = msg.reset === true ? msg.n : this.#credits + msg.n
        this.#kick()
        return
      case 'names':
        this.#names = msg.names
        this.#ready = true
        this.#kick()
        return
      case 'done':
        for (const job of msg.completed) this.#completed.push(job)
        for (const job of msg.failed) this.#failed.push(job)
        void this.#ackLoop()
        return
      case 'close':
        this.#closing = true
        if (!this.#claiming) this.#emit({ t: 'closed' })
        return
      case 'flush':
        if (!this.#acking && this.#completed.length === 0 && this.#failed.length === 0) this.#emit({ t: 'flushed', seq: msg.seq })
        else this.#flushes.push(msg.seq)
        return
      case 'stop':
        return this.stop().then(() => ctx.reply(true))
    }
  }

  /** Releases everything; results not acked yet are left to lapse (the watchdogs reap them). */
  readonly stop = onceAsync(async (): Promise<void> => {
    this.#stopped = true
    this.#closing = true
    clearInterval(this.#pollTimer)
    clearTimeout(this.#retryTimer)
    await this.#listener.close()
    await endPool(this.#pool)
  })

  #emit(out: DispatcherOut): void {
    if (!this.#stopped) this.#ctx.emit(out)
  }

  #warn(message: string, error: unknown): void {
    this.#emit({ t: 'warning', message, error: wireOf(error) })
  }

  /** Ready jobs may exist. */
  #wake(): void {
    if (this.#claiming) this.#wokeDuringClaim = true
    this.#ready = true
    this.#kick()
  }

  #kick(): void {
    if (this.#claiming || this.#closing || !this.#ready || this.#credits <= 0 || this.#names.length === 0) return
    void this.#claimLoop()
  }

  async #claimLoop(): Promise<void> {
    this.#claiming = true
    try {
      while (!this.#closing && this.#ready && this.#credits > 0 && this.#names.length > 0) {
        const limit = Math.min(this.#credits, this.#args.claimBatchMax)
        this.#wokeDuringClaim = false
        let jobs
        try {
          jobs = await claimJobs(this.#pool, this.#q, { owner: this.#args.owner, names: this.#names, limit, leaseTtlMs: this.#args.leaseTtlMs })
        } catch (error) {
          if (this.#stopped) return
          this.#claimFailures++
          this.#warn('claim failed; retrying', error)
          this.#armRetry(Date.now() + retryDelayMs(this.#claimFailures))
          return
        }
        this.#claimFailures = 0
        this.#ready = jobs.length >= limit || this.#wokeDuringClaim
        if (jobs.length === 0) continue
        this.#credits -= jobs.length
        this.#book.hold(jobs)
        this.#emit({ t: 'jobs', jobs })
      }
    } finally {
      this.#claiming = false
      if (this.#closing) this.#emit({ t: 'closed' })
    }
  }

  /** Wakes the claim loop at `at` (the earliest wanted time wins). */
  #armRetry(at: number): void {
    if (this.#stopped || at >= this.#retryTimerAt) return
    clearTimeout(this.#retryTimer)
    this.#retryTimerAt = at
    this.#retryTimer = setTimeout(() => {
      this.#retryTimerAt = Infinity
      this.#wake()
    }, Math.max(0, at - Date.now()))
  }

  async #ackLoop(): Promise<void> {
    if (this.#acking) return
    this.#acking = true
    let failures = 0
    try {
      while (!this.#stopped && (this.#completed.length > 0 || this.#failed.length > 0)) {
        const completed = this.#completed
        const failed = this.#failed
        this.#completed = []
        this.#failed = []
        const [done, outcomes] = await Promise.allSettled([completeJobs(this.#pool, this.#q, completed), failJobs(this.#pool, this.#q, failed)])
        if (this.#stopped) return
        const acked: LeaseRef[] = []
        const ackedFailures: AckedFailure[] = []
        const fenced: string[] = []
        if (done.status === 'fulfilled') {
          const ids = new Set(done.value)
          for (const job of completed) {
            if (ids.has(job.id)) acked.push(job)
            else fenced.push(job.leaseToken)
          }
          this.#book.release(completed)
          this.#credits += completed.length
        } else {
          this.#completed.unshift(...completed)
        }
        if (outcomes.status === 'fulfilled') {
          const byId = new Map(outcomes.value.map((outcome) => [outcome.id, outcome]))
          for (const job of failed) {
            const outcome = byId.get(job.id)
            if (outcome === undefined) {
              fenced.push(job.leaseToken)
              continue
            }
            ackedFailures.push({ ...outcome, leaseToken: job.leaseToken })
            if (job.retryAt !== undefined) this.#armRetry(job.retryAt.getTime())
          }
          this.#book.release(failed)
          this.#credits += failed.length
        } else {
          this.#failed.unshift(...failed)
        }
        if (acked.length > 0 || ackedFailures.length > 0 || fenced.length > 0) this.#emit({ t: 'acked', completed: acked, failed: ackedFailures, fenced })
        this.#kick()
        const error: unknown = done.status === 'rejected' ? done.reason : outcomes.status === 'rejected' ? outcomes.reason : undefined
        if (error !== undefined) {
          failures++
          this.#warn('ack failed; retrying', error)
          await new Promise((resolve) => setTimeout(resolve, retryDelayMs(failures)))
        } else {
          failures = 0
        }
      }
    } finally {
      this.#acking = false
      if (!this.#stopped && this.#completed.length === 0 && this.#failed.length === 0) {
        for (const seq of this.#flushes.splice(0)) this.#emit({ t: 'flushed', seq })
      }
    }
  }
}

export default defineActor<Dispatcher, DispatcherMsg, DispatcherArgs>({
  init: (args, ctx) => new Dispatcher(args, ctx),
  // Synchronous but for `stop`: an async receive would hold the shared thread's loop.
  receive: (state, msg, ctx) => {
    const pending = state.receive(msg, ctx)
    return pending === undefined ? state : pending.then(() => state)
  },
  stop: (state) => state.stop(),
})
