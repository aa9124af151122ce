/**
 * The dispatcher actor: it owns claims and acks for one owner (one `JobWorker`), on the jobs thread.
 *
 * Protocol (messages in `DispatcherMsg`, emits in `DispatcherOut`, protocol.ts):
 *
 *   - The owner grants credits, `{ t: 'credit', n }` (its `concurrency + prefetch` at start, then one
 *     back per job whose handler finished or that it dropped; more, or fewer, when its claim window
 *     grows or shrinks, whose new size `window` the message then carries), and says which names it
 *     can take now: `{ t: 'names', names }`. A claim asks for at most its free credits (and the limits
 *     below), subtracts what it got, writes the leases into the owner's lease book (the co-located
 *     watchdog renews them from then on) and emits `{ t: 'jobs', jobs }`. No names, no claim. So the
 *     owner never holds more than `concurrency + prefetch` claimed jobs whose handler has not finished.
 *   - The owner returns results: `{ t: 'done', completed, failed }`. Their credits came back with the
 *     handler's end, not with the ack: claims never wait for acks. `{ t: 'acked', completed, failed,
 *     fenced }` lists the transitions the database confirmed and the leases it refused; the leases
 *     leave the book then. A database error keeps the results and retries them.
 *   - `{ t: 'close' }` stops claiming and ends the wake session (a waker's role goes to a standby):
 *     `{ t: 'closed' }` follows the `jobs` of the claim still in flight. `{ t: 'flush', seq }` is answered by `{ t: 'flushed', seq }` once the results sent before
 *     it are acked. The `stop` ask (or the actor's stop) releases the pools, the wake session and the
 *     timers.
 *   - With `metrics` (args), claims also return each job's wait and are counted; the `stats` ask answers
 *     the counts since the last one (metrics.ts pulls them at each scrape).
 *
 * Its state is five named states, one per concern, beside the counters (credits, the window, the
 * results waiting and in flight):
 *
 *   lifecycle  open ──close──▶ closing ──stop──▶ stopped              (open ──stop──▶ stopped)
 *              closing: no claim starts, waiting results are due at once, and 'closed' goes out as soon
 *              as no claim is in flight. stopped: nothing runs or is emitted any more.
 *
 *   claim      idle            ──wake──────────────────────▶ wanted
 *              wanted          ──limit > 0: claimJobs──────▶ claiming
 *              claiming        ──wake──────────────────────▶ claiming-wanted
 *              claiming        ──short batch───────────────▶ idle     (the queue was empty at its snapshot)
 *              claiming        ──full batch────────────────▶ wanted   (more may wait)
 *              claiming-wanted ──any batch─────────────────▶ wanted
 *              claiming(-wanted) ──error──▶ backoff ──delay──▶ wanted
 *
 *   ack        idle    ──results due──▶ acking ──settled, more due──▶ acking
 *                                       acking ──settled, none due──▶ idle
 *                                       acking ──error──▶ backoff ──delay──▶ acking (the same results)
 *
 *   batch      collecting        ──results waiting, not due──────────▶ timed (the kAckDelayMs timer)
 *   (waiting   timed             ──kAckDelayMs───────────────────────▶ due
 *   results)   collecting, timed ──a job dead-lettered, an ack failed──▶ due
 *              any               ──taken by an ack statement─────────▶ collecting
 *
 *   kick       none ──credit, names or done──▶ queued ──microtask: kick──▶ none
 *
 * A wake is a poll tick, a retry falling due, new names, or, through LISTEN (wakes.ts), a notification
 * of inserted jobs to the waker of this dispatcher's group or a change of its role there. A kick
 * starts what may start: the claim when its limit is > 0, and the ack loop when results are due. A
 * full claim after which no claim can go out at once (the credits or the bound are used up) tells the
 * wakes, which hand the waker's role to a standby of the group.
 * Results are due once the batch is `due`, the lifecycle is not `open`, a flush waits on them, or
 * they fill a batch.
 *
 * Claims and acks run on connections of their own (dispatcher-sessions.ts), so neither waits for the other:
 *
 *   claims   one claim statement at a time, of at most half the window: the next one goes out as
 *            soon as the last one's jobs are emitted, while they run. So the batches come out in the
 *            order the database handed out the rows, priority order (two claims in flight can come
 *            back in either order, and a worker would then run a lower-priority job first).
 *   acks     one statement pair at a time: completeJobs ∥ failJobs → emit acked → flushed
 *   either   error → results kept / claim wanted, retry after a backoff
 *
 * Durability. An ack commits durably before `acked` is emitted (the owner's `completed`, `failed` and
 * `dead` events follow it). A claim commits asynchronously (`synchronous_commit = off`): it returns
 * without waiting for its WAL flush, which is most of a claim's time at a steady trickle. A claim only
 * moves a ready job to running under a lease; the flush of any later durable commit (the job's ack
 * first of all) carries it. Should the server crash before that, the job is ready again after
 * recovery, its worker's renewals and ack are fenced off (the token is gone), and it runs again — the
 * at-least-once the queue promises, with the lost claim's 'started' event missing from the history.
 *
 * Bound: the database shows at most 2 × window running jobs of this owner (window = concurrency +
 * prefetch, the credits granted at start). Those rows are the owner's unfinished jobs (window − credits)
 * and the results not acked yet (waiting here or in the ack in flight), so a claim takes at most
 * 2 × window − unfinished − unacked rows; a finishing job only moves from one side to the other. With
 * as many results unacked as the window, they are due at once.
 *
 * A claim that came back short proves the queue was empty at its snapshot, so new credit alone does not
 * send another claim until a wake says otherwise. That keeps an idle queue at one claim per wake
 * instead of one per finished job. The dispatcher also arms a timer for the earliest `retryAt` it acked,
 * so a retry is claimed on time without NOTIFY.
 *
 * `receive` only updates counters and states and starts statements; they run in the actor's own async
 * functions, so the thread stays free for the co-located watchdog and scheduler.
 */
import { defineActor, type ActorContext } from '../../runtime/actor.js'
import { InvalidArgumentError, JobTooLargeError } from '../../runtime/errors.js'
import { onceAsync } from '../../runtime/lifecycle.js'
import { endPool, retryDelayMs } from '../../transports/postgres/jobs/actor-pool.js'
import {
  type ClaimedJob,
  claimJobs,
  completeJobs,
  failJobs,
  type FailedJob,
  type FailOutcome,
  type LeaseRef,
} from '../../transports/postgres/jobs/hot-path.js'
import { quoteSchema } from '../../transports/postgres/jobs/queryable.js'
import { type DispatcherDbs, openDispatcherDbs } from './dispatcher-sessions.js'
import { type LeaseBook, leaseBook } from './lease-book.js'
import {
  type AckedFailure,
  type DispatcherArgs,
  type DispatcherMsg,
  type DispatcherOut,
  fromLeaseColumns,
  toJobColumns,
  wireOf,
} from './protocol.js'
import { Wakes } from './wakes.js'

export { DISPATCHER_SESSION_SQL, DISPATCHER_TRANSACTION_SQL } from './dispatcher-sessions.js'

/** The dispatcher as a whole (see the top of the module). */
type Lifecycle = 'open' | 'closing' | 'stopped'
/** The claim side: whether a claim is wanted, and whether one is in flight or waiting out a backoff. */
type ClaimState = 'idle' | 'wanted' | 'claiming' | 'claiming-wanted' | 'backoff'
/** The ack loop: idle, running a statement pair, or waiting out a backoff after a failed one. */
type AckState = 'idle' | 'acking' | 'backoff'
/** The results waiting: not due yet (no timer, or the `kAckDelayMs` timer armed), or due now. */
type BatchState = 'collecting' | 'timed' | 'due'
/** A kick waiting for the end of the batch of messages being received. */
type KickState = 'none' | 'queued'

/** A claim takes at most 1/kWindowShares of the window, so that the next one can go out while its jobs run. */
const kWindowShares = 2
/** How long results may wait for more to go out with them (unless a flush, the close or a full batch waits). */
const kAckDelayMs = 5

class Dispatcher {
  readonly #args: DispatcherArgs
  readonly #ctx: ActorContext
  readonly #q: string
  readonly #dbs: DispatcherDbs
  readonly #book: LeaseBook
  /** None when LISTEN is off (a transaction pooler and no `listenConnection`): the poll finds the jobs. */
  readonly #wakes: Wakes | undefined
  #lifecycle: Lifecycle = 'open'
  /** Wanted at start: ready jobs may exist already. */
  #claim: ClaimState = 'wanted'
  #ack: AckState = 'idle'
  #batch: BatchState = 'collecting'
  #kick: KickState = 'none'
  #credits = 0
  /** The limit of the claim in flight (its credits are held). */
  #claiming = 0
  /** The owner's claim window (`concurrency + prefetch`); a credit message may resize it. */
  #window: number
  #names: string[] = []
  /** Results in the ack statement in flight. */
  #ackingCount = 0
  #claimFailures = 0
  /** Claim statements (and the empty ones) since the last `stats` ask; counted with `metrics` only. */
  #claimCounts = { claims: 0, empty: 0 }
  /** The results waiting for an ack statement. */
  #completed: LeaseRef[] = []
  #failed: FailedJob[] = []
  /** The `seq` of the flushes waiting for the results sent before them. */
  #flushes: number[] = []
  #pollTimer: NodeJS.Timeout | undefined
  /** Armed in the `timed` batch state: it makes the waiting results due. */
  #ackTimer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #retryTimerAt = Infinity
  /** The backoffs after failed statements, cut short by `stop`. */
  readonly #pauses = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>()

  constructor(args: DispatcherArgs, ctx: ActorContext) {
    this.#args = args
    this.#window = args.window
    this.#ctx = ctx
    this.#q = quoteSchema(args.schema)
    this.#dbs = openDispatcherDbs(args)
    this.#book = leaseBook(args.schema, args.owner)
    this.#wakes = this.#listen(args)
    this.#pollTimer = setInterval(() => this.#wake(), args.pollIntervalMs)
  }

  /** The wakes on `args.listenConnection`, started; none when that is null (LISTEN is off). */
  #listen(args: DispatcherArgs): Wakes | undefined {
    if (args.listenConnection === null) return undefined
    return new Wakes({
      connection: args.listenConnection,
      schema: args.schema,
      host: {
        wake: () => this.#wake(),
        claimable: () => this.#names,
        free: () => Math.max(0, this.#credits) + this.#claiming,
        warn: (message, error) => this.#warn(message, error),
      },
    })
  }

  receive(msg: DispatcherMsg, ctx: ActorContext): void | Promise<void> {
    if (this.#stopped()) return
    switch (msg.t) {
      case 'credit':
        this.#credits = msg.reset === true ? msg.n : this.#credits + msg.n
        if (msg.window !== undefined) this.#window = msg.window
        this.#kickSoon()
        return
      case 'names':
        this.#names = msg.names
        if (msg.registered !== undefined) this.#wakes?.registered(msg.registered)
        this.#want()
        this.#kickSoon()
        return
      case 'done':
        for (const job of fromLeaseColumns(msg.completed)) this.#completed.push(job)
        for (const job of msg.failed) this.#failed.push(job)
        this.#kickSoon()
        return
      case 'close':
        this.#lifecycle = 'closing'
        void this.#wakes?.close()
        if (!this.#claimInFlight()) this.#emit({ t: 'closed' })
        this.#kickNow()
        return
      case 'flush':
        if (this.#ack === 'idle' && this.#waiting() === 0) this.#emit({ t: 'flushed', seq: msg.seq })
        else this.#flushes.push(msg.seq)
        this.#kickNow()
        return
      case 'stop':
        return this.stop().then(() => ctx.reply(true))
      case 'stats':
        ctx.reply(this.#claimCounts)
        this.#claimCounts = { claims: 0, empty: 0 }
        return
    }
  }

  /** Releases everything; results not acked yet are left to lapse (the watchdogs reap them). */
  readonly stop = onceAsync(async (): Promise<void> => {
    this.#lifecycle = 'stopped'
    clearInterval(this.#pollTimer)
    clearTimeout(this.#retryTimer)
    clearTimeout(this.#ackTimer)
    for (const pause of this.#pauses) {
      clearTimeout(pause.timer)
      pause.resolve()
    }
    await this.#wakes?.close()
    await Promise.all(this.#dbs.pools.map((pool) => endPool(pool)))
  })

  /** Read through a call: the state changes across the awaits of the statements. */
  #stopped(): boolean {
    return this.#lifecycle === 'stopped'
  }

  #emit(out: DispatcherOut): void {
    if (!this.#stopped()) this.#ctx.emit(out)
  }

  /**
   * Hands claimed jobs to the owner. A batch too large for one message of the mailbox goes in halves;
   * a job too large alone is dead-lettered with JobTooLargeError by the next ack (its credit comes back
   * at once; the owner never sees it) instead of staying leased and never run.
   */
  #emitJobs(jobs: ClaimedJob[]): void {
    if (this.#stopped()) return
    try {
      this.#ctx.emit({ t: 'jobs', jobs: toJobColumns(jobs, this.#args.metrics) } satisfies DispatcherOut)
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
    const tooLarge = new JobTooLargeError(
      `job ${job.id} ("${job.name}") is too large for one message of the runtime's mailbox (${maxBytes} bytes); raise the runtime's mailboxBytes and requeue it`,
      {
        data: { id: job.id, name: job.name, maxBytes },
      },
    )
    this.#credits += 1
    this.#failed.push({ id: job.id, leaseToken: job.leaseToken, error: wireOf(tooLarge), retryAt: undefined })
    this.#batch = 'due'
    this.#warn(`dead-lettered job ${job.id}: too large for the mailbox`, tooLarge)
  }

  #warn(message: string, error: unknown): void {
    this.#emit({ t: 'warning', message, error: wireOf(error) })
  }

  /** Ready jobs may exist: a claim is wanted (after the one in flight, if any). */
  #want(): void {
    if (this.#claim === 'idle') this.#claim = 'wanted'
    else if (this.#claim === 'claiming') this.#claim = 'claiming-wanted'
  }

  #wake(): void {
    this.#want()
    this.#kickNow()
  }

  #claimInFlight(): boolean {
    return this.#claim === 'claiming' || this.#claim === 'claiming-wanted' || this.#claim === 'backoff'
  }

  /**
   * How many rows the next claim takes (0: none): within the free credits (a claim in flight holds
   * its limit's worth), the batch, half the window (credits are left for the next claim while this
   * one's jobs run), and the bound above.
   */
  #claimLimit(): number {
    if (this.#lifecycle !== 'open' || this.#claim !== 'wanted' || this.#names.length === 0) return 0
    const room = this.#window + this.#credits - this.#unacked()
    const share = Math.ceil(this.#window / kWindowShares)
    return Math.max(0, Math.min(this.#credits, this.#args.claimBatchMax, share, room))
  }

  /** Results not acked yet: waiting here, and in the ack in flight. */
  #unacked(): number {
    return this.#waiting() + this.#ackingCount
  }

  #waiting(): number {
    return this.#completed.length + this.#failed.length
  }

  /**
   * Results go out `kAckDelayMs` after the first of them came, so a steady trickle of jobs costs one
   * ack statement per few milliseconds rather than one per job; at once when a flush or the close waits
   * on them or they fill a batch. Arms the timer for results that are not due yet.
   */
  #acksDue(): boolean {
    const waiting = this.#waiting()
    if (waiting === 0) return false
    if (
      this.#batch === 'due' ||
      this.#lifecycle !== 'open' ||
      this.#flushes.length > 0 ||
      waiting >= Math.min(this.#args.claimBatchMax, this.#window)
    )
      return true
    if (this.#batch === 'collecting') {
      this.#batch = 'timed'
      this.#ackTimer = setTimeout(() => {
        this.#ackTimer = undefined
        this.#batch = 'due'
        this.#kickNow()
      }, kAckDelayMs)
    }
    return false
  }

  /**
   * Kicks once the batch of messages being received is in: results and the credits they freed arrive
   * together (one `tellMany`), and are acted on together.
   */
  #kickSoon(): void {
    if (this.#kick === 'queued') return
    this.#kick = 'queued'
    queueMicrotask(() => {
      this.#kick = 'none'
      this.#kickNow()
    })
  }

  /** Starts what may start: the claim when its limit is > 0, the ack loop when results are due. */
  #kickNow(): void {
    if (this.#stopped()) return
    const limit = this.#claimLimit()
    if (limit > 0) void this.#runClaim(limit)
    if (this.#ack === 'idle' && this.#acksDue()) void this.#ackLoop()
  }

  /**
   * One claim statement (`wanted` → `claiming`). A full batch leaves a claim wanted (more may wait), a
   * short one proves the queue empty at its snapshot (unless a wake came meanwhile: `claiming-wanted`).
   * Its credits are held while it runs, and the unused ones come back with its result.
   */
  async #runClaim(limit: number): Promise<void> {
    this.#claim = 'claiming'
    this.#credits -= limit
    this.#claiming = limit
    let jobs: ClaimedJob[] = []
    try {
      jobs = await claimJobs(this.#dbs.claim, this.#q, {
        owner: this.#args.owner,
        names: this.#names,
        limit,
        leaseTtlMs: this.#args.leaseTtlMs,
        withWait: this.#args.metrics,
      })
      this.#claimFailures = 0
      if (this.#args.metrics) {
        this.#claimCounts.claims++
        if (jobs.length === 0) this.#claimCounts.empty++
      }
    } catch (error) {
      if (this.#stopped()) return
      this.#claim = 'backoff'
      this.#warn('claim failed; retrying', error)
      await this.#backoff(++this.#claimFailures)
    } finally {
      this.#credits += limit - jobs.length
      this.#claiming = 0
      this.#claim = this.#claim === 'claiming' && jobs.length < limit ? 'idle' : 'wanted'
    }
    if (this.#stopped()) return
    if (jobs.length > 0) {
      this.#book.hold(jobs)
      this.#emitJobs(jobs)
    }
    // The claim that was in flight when `close` came has delivered its jobs: nothing more will come.
    if (this.#lifecycle === 'closing') this.#emit({ t: 'closed' })
    this.#kickNow()
    // A full batch and no room for the next claim: more jobs may wait than this dispatcher can take now.
    if (jobs.length === limit && this.#claim === 'wanted' && this.#lifecycle === 'open') this.#wakes?.overflow()
  }

  async #ackLoop(): Promise<void> {
    this.#ack = 'acking'
    let failures = 0
    try {
      while (!this.#stopped() && this.#acksDue()) {
        const completed = this.#completed
        const failed = this.#failed
        this.#completed = []
        this.#failed = []
        this.#batch = 'collecting'
        clearTimeout(this.#ackTimer)
        this.#ackTimer = undefined
        this.#ack = 'acking'
        this.#ackingCount = completed.length + failed.length
        const [done, outcomes] = await Promise.allSettled([
          completeJobs(this.#dbs.completions(completed.length), this.#q, completed),
          failJobs(this.#dbs.failures, this.#q, failed),
        ])
        this.#ackingCount = 0
        if (this.#stopped()) return
        this.#acked(completed, failed, done, outcomes)
        this.#kickNow()
        if (this.#waiting() === 0) {
          for (const seq of this.#flushes.splice(0)) this.#emit({ t: 'flushed', seq })
        }
        const error: unknown =
          done.status === 'rejected' ? done.reason : outcomes.status === 'rejected' ? outcomes.reason : undefined
        if (error === undefined) {
          failures = 0
          continue
        }
        this.#warn('ack failed; retrying', error)
        this.#batch = 'due'
        this.#ack = 'backoff'
        await this.#backoff(++failures)
      }
    } finally {
      this.#ack = 'idle'
    }
  }

  /** Waits before retry `failures` after a database error; `stop` cuts it short. */
  async #backoff(failures: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const pause = { timer: setTimeout(() => done(), retryDelayMs(failures)), resolve: () => done() }
      const done = (): void => {
        this.#pauses.delete(pause)
        resolve()
      }
      this.#pauses.add(pause)
    })
  }

  /** Books an ack's outcome: what the database confirmed, what it fenced off; failed statements keep theirs. */
  #acked(
    completed: LeaseRef[],
    failed: FailedJob[],
    done: PromiseSettledResult<string[]>,
    outcomes: PromiseSettledResult<FailOutcome[]>,
  ): void {
    const acked: string[] = []
    const ackedFailures: AckedFailure[] = []
    const fenced: string[] = []
    if (done.status === 'fulfilled') {
      if (completed.length > 0) {
        const ids = new Set(done.value)
        for (const job of completed) {
          if (ids.has(job.id)) acked.push(job.leaseToken)
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
    if (acked.length > 0 || ackedFailures.length > 0 || fenced.length > 0)
      this.#emit({ t: 'acked', completed: acked, failed: ackedFailures, fenced })
  }

  /** Wakes the claim side at `at` (the earliest wanted time wins). */
  #armRetry(at: number): void {
    if (this.#stopped() || at >= this.#retryTimerAt) return
    clearTimeout(this.#retryTimer)
    this.#retryTimerAt = at
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimerAt = Infinity
        this.#wake()
      },
      Math.max(0, at - Date.now()),
    )
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
