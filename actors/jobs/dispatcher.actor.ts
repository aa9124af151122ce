/**
 * The dispatcher actor: it owns claims and acks for one owner (one `JobWorker`), on the jobs thread.
 *
 * Protocol (messages in `DispatcherMsg`, emits in `DispatcherOut`, protocol.ts):
 *
 *   - The owner grants credits, `{ t: 'credit', n }` (its `concurrency + prefetch` at start, then one
 *     back per job whose handler finished or that it dropped), and says which names it can take now:
 *     `{ t: 'names', names }`. A claim asks for min(credits, claimBatchMax) rows, subtracts what it got,
 *     writes the leases into the owner's lease book (the co-located watchdog renews them from then on)
 *     and emits `{ t: 'jobs', jobs }`. No names, no claim. So the owner never holds more than
 *     `concurrency + prefetch` claimed jobs whose handler has not finished.
 *   - The owner returns results: `{ t: 'done', completed, failed }`. Their credits came back with the
 *     handler's end, not with the ack: the next claim does not wait for the database to confirm the
 *     previous batch. Acks ride with claims instead: see the cycle below. `{ t: 'acked', completed,
 *     failed, fenced }` lists the transitions the database confirmed and the leases it refused; the
 *     leases leave the book then. A database error keeps the results and retries them.
 *   - `{ t: 'close' }` stops claiming: `{ t: 'closed' }` follows the `jobs` of a claim still in flight.
 *     `{ t: 'flush', seq }` is answered by `{ t: 'flushed', seq }` once the results sent before it are
 *     acked. The `stop` ask (or the actor's stop) releases the pool, the LISTEN client and the timers.
 *
 * The cycle: ONE loop, one cycle at a time. A cycle takes every result waiting here and, when it may
 * claim, the claim: completions + claim go in ONE statement (`completeAndClaim`: one commit for the
 * acks of batch k and the claim of batch k + 1), failures in a `failJobs` beside it on a second
 * connection. A cycle with nothing to claim only acks; one with no results only claims.
 *
 *                  wake: NOTIFY, poll tick, retry due, reconnect  (sets `ready`)
 *                  credit, names, results
 *   idle ──────────────────────────────────────────────────────────▶ cycle
 *    ▲   (results waiting, or credits > 0 ∧ names ≠ ∅ ∧ ready ∧ open)     │
 *    │                                                                   │ claimed < limit: ready = false
 *    └──── nothing to ack and nothing to claim ◀─────────────────────────┤ claimed = limit: ready = true
 *                                                                        │ a wake during the claim: ready = true
 *          error: results kept, ready = true, retry after a backoff ◀────┘
 *
 * Bound: the database shows at most 2 × (concurrency + prefetch) running jobs of this owner. The
 * owner holds at most `concurrency + prefetch` unfinished jobs (credits); the results not acked yet
 * are those of jobs that finished since the last cycle started (each cycle acks all it has), which
 * were held, so they are at most as many again.
 *
 * `ready` means "ready jobs may exist": a claim that came back short proves the queue was empty at its
 * snapshot, so new credit alone does not send another claim until a wake says otherwise. That keeps
 * an idle queue at one claim per wake instead of one per finished job. The dispatcher also arms a
 * timer for the earliest `retryAt` it acked, so a retry is claimed on time without NOTIFY.
 *
 * `receive` only updates counters and starts the loop; the statements run in the actor's own async
 * loop, so the thread stays free for the co-located watchdog and scheduler.
 */
import type pg from 'pg'

import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { InvalidArgumentError, JobTooLargeError } from '../../runtime/errors.js'
import { onceAsync } from '../../runtime/lifecycle.js'
import { type ClaimedJob, type CycleResult, completeAndClaim, failJobs, type FailedJob, type FailOutcome, type LeaseRef } from '../../transports/postgres/jobs/hot-path.js'
import { type Queryable, quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { endPool, NotifyListener, openActorPool, preparedQueryable, retryDelayMs, wireOf } from './actor-pg.js'
import { type LeaseBook, leaseBook } from './lease-book.js'
import type { AckedFailure, DispatcherArgs, DispatcherMsg, DispatcherOut } from './protocol.js'

/** A cycle's two statements (complete + claim, fail) run at once; a third connection is spare. */
const kPoolSize = 3
/**
 * Every statement of the dispatcher finds its rows through an index: the ready ones in claim order
 * through `jobs_ready` (an ordered scan that stops at LIMIT), the acked ones by primary key. With stale
 * statistics (a table analysed while small or empty, then filled: a fresh deployment, a TRUNCATE) the
 * planner took a bitmap scan of the whole backlog plus a sort for every claim instead, a cost that grows
 * with the backlog. Its sessions rule those plans out.
 *
 * Its statements are prepared (`preparedQueryable`): parsed once per connection, planned per execution
 * with the values at hand (`force_custom_plan`). The generic plan of the cycle, which PostgreSQL's
 * default would switch to after five executions, joins the acked `(id, token)` pairs to the running rows
 * in a nested loop that rescans the pairs per row: 500 acks cost 36 ms there, 0.6 ms in a custom plan's
 * hash join (EXPLAIN ANALYZE; a 500-job bulk cycle took 40 ms instead of 14).
 */
export const DISPATCHER_SESSION_SQL = 'SET enable_bitmapscan = off; SET enable_seqscan = off; SET plan_cache_mode = force_custom_plan'

class Dispatcher {
  readonly #args: DispatcherArgs
  readonly #ctx: ActorContext
  readonly #q: string
  readonly #pool: pg.Pool
  readonly #db: Queryable
  readonly #book: LeaseBook
  readonly #listener: NotifyListener
  #credits = 0
  #names: string[] = []
  #ready = true
  #wokeDuringClaim = false
  #kickQueued = false
  /** A cycle runs. */
  #cycling = false
  /** The running cycle claims. */
  #claiming = false
  #closing = false
  #stopped = false
  #completed: LeaseRef[] = []
  #failed: FailedJob[] = []
  #flushes: number[] = []
  #pollTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retryTimerAt = Infinity
  /** The backoff after a failed cycle, cut short by `stop`. */
  #pause: { timer: NodeJS.Timeout; resolve: () => void } | undefined

  constructor(args: DispatcherArgs, ctx: ActorContext) {
    this.#args = args
    this.#ctx = ctx
    this.#q = quoteSchema(args.schema)
    this.#pool = openActorPool(args.connection, kPoolSize, 'pulse-jobs-dispatcher', DISPATCHER_SESSION_SQL)
    this.#db = preparedQueryable(this.#pool)
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
        this.#kickSoon()
        return
      case 'names':
        this.#names = msg.names
        this.#ready = true
        this.#kickSoon()
        return
      case 'done':
        for (const job of msg.completed) this.#completed.push(job)
        for (const job of msg.failed) this.#failed.push(job)
        this.#kickSoon()
        return
      case 'close':
        this.#closing = true
        if (!this.#claiming) this.#emit({ t: 'closed' })
        return
      case 'flush':
        if (!this.#cycling && this.#completed.length === 0 && this.#failed.length === 0) this.#emit({ t: 'flushed', seq: msg.seq })
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
    if (this.#pause !== undefined) {
      clearTimeout(this.#pause.timer)
      this.#pause.resolve()
    }
    await this.#listener.close()
    await endPool(this.#pool)
  })

  #emit(out: DispatcherOut): void {
    if (!this.#stopped) this.#ctx.emit(out)
  }

  /**
   * Hands claimed jobs to the owner. A batch too large for one message of the mailbox goes in halves;
   * a job too large alone is dead-lettered with JobTooLargeError by the next cycle (its credit comes
   * back at once; the owner never sees it) instead of staying leased and never run.
   */
  #emitJobs(jobs: ClaimedJob[]): void {
    if (this.#stopped) return
    try {
      this.#ctx.emit({ t: 'jobs', jobs } satisfies DispatcherOut)
      return
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error
    }
    if (jobs.length > 1) {
      const half = jobs.length >> 1
      this.#emitJobs(jobs.slice(0, half))
      this.#emitJobs(jobs.slice(half))
      return
    }
    const [job] = jobs as [ClaimedJob]
    const maxBytes = this.#ctx.maxMessageBytes
    const tooLarge = new JobTooLargeError(`job ${job.id} ("${job.name}") is too large for one message of the runtime's mailbox (${maxBytes} bytes); raise the runtime's mailboxBytes and requeue it`, {
      data: { id: job.id, name: job.name, maxBytes },
    })
    this.#credits += 1
    this.#failed.push({ id: job.id, leaseToken: job.leaseToken, error: wireOf(tooLarge), retryAt: undefined })
    this.#warn(`dead-lettered job ${job.id}: too large for the mailbox`, tooLarge)
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

  /** How many rows the next cycle claims (0: none). */
  #claimLimit(): number {
    if (this.#closing || !this.#ready || this.#names.length === 0) return 0
    return Math.max(0, Math.min(this.#credits, this.#args.claimBatchMax))
  }

  /**
   * Kicks once the batch of messages being received is in: results and the credits they freed arrive
   * together (one `tellMany`), and go out together, as one cycle (acks + claim).
   */
  #kickSoon(): void {
    if (this.#kickQueued) return
    this.#kickQueued = true
    queueMicrotask(() => {
      this.#kickQueued = false
      this.#kick()
    })
  }

  #kick(): void {
    if (this.#cycling || this.#stopped) return
    if (this.#completed.length === 0 && this.#failed.length === 0 && this.#claimLimit() === 0) return
    void this.#cycleLoop()
  }

  async #cycleLoop(): Promise<void> {
    this.#cycling = true
    let failures = 0
    try {
      while (!this.#stopped) {
        const limit = this.#claimLimit()
        const completed = this.#completed
        const failed = this.#failed
        if (limit === 0 && completed.length === 0 && failed.length === 0) break
        this.#completed = []
        this.#failed = []
        this.#wokeDuringClaim = false
        this.#claiming = limit > 0
        const claim = limit > 0 ? { owner: this.#args.owner, names: this.#names, limit, leaseTtlMs: this.#args.leaseTtlMs } : undefined
        const [cycle, outcomes] = await Promise.allSettled([completeAndClaim(this.#db, this.#q, completed, claim), failJobs(this.#db, this.#q, failed)])
        this.#claiming = false
        if (this.#stopped) return
        this.#acked(completed, failed, cycle, outcomes)
        if (cycle.status === 'fulfilled' && limit > 0) {
          const jobs = cycle.value.claimed
          this.#ready = jobs.length >= limit || this.#wokeDuringClaim
          if (jobs.length > 0) {
            this.#credits -= jobs.length
            this.#book.hold(jobs)
            this.#emitJobs(jobs)
          }
        }
        // A claim that was in flight when `close` came has delivered its jobs: nothing more will come.
        if (limit > 0 && this.#closing) this.#emit({ t: 'closed' })
        if (this.#completed.length === 0 && this.#failed.length === 0) {
          for (const seq of this.#flushes.splice(0)) this.#emit({ t: 'flushed', seq })
        }
        const error: unknown = cycle.status === 'rejected' ? cycle.reason : outcomes.status === 'rejected' ? outcomes.reason : undefined
        if (error === undefined) {
          failures = 0
          continue
        }
        failures++
        this.#ready = true
        this.#warn(limit > 0 ? 'claim failed; retrying' : 'ack failed; retrying', error)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, retryDelayMs(failures))
          this.#pause = { timer, resolve }
        })
        this.#pause = undefined
      }
    } finally {
      this.#cycling = false
      this.#claiming = false
    }
  }

  /** Books a cycle's acks: what the database confirmed, what it fenced off; failed statements keep theirs. */
  #acked(completed: LeaseRef[], failed: FailedJob[], cycle: PromiseSettledResult<CycleResult>, outcomes: PromiseSettledResult<FailOutcome[]>): void {
    const acked: LeaseRef[] = []
    const ackedFailures: AckedFailure[] = []
    const fenced: string[] = []
    if (cycle.status === 'fulfilled') {
      if (completed.length > 0) {
        const ids = new Set(cycle.value.completed)
        for (const job of completed) {
          if (ids.has(job.id)) acked.push(job)
          else fenced.push(job.leaseToken)
        }
        this.#book.release(completed)
      }
    } else {
      this.#completed.unshift(...completed)
    }
    if (outcomes.status === 'fulfilled') {
      if (failed.length > 0) {
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
      }
    } else {
      this.#failed.unshift(...failed)
    }
    if (acked.length > 0 || ackedFailures.length > 0 || fenced.length > 0) this.#emit({ t: 'acked', completed: acked, failed: ackedFailures, fenced })
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
