/**
 * The link of a `JobWorker` to its dispatcher actor (dispatcher.actor.ts, protocol in protocol.ts):
 * what goes to the dispatcher, batched per turn of the event loop, and what comes back from it.
 *
 *   out   `done` (results), `credit` (with the claim window's new size when it changed), `names` (the
 *         claimable names), and at close `close` and `flush`: everything of one turn in one `tellMany`
 *         (`#flushNow`); what the mailbox cannot take now stays in the outbox and goes 5 ms later
 *   in    `jobs` (to the attempts, `JobIntake`), `acked` (events fire; fenced results are dropped),
 *         `closed`, `flushed` (their waiters resolve) and `warning`
 *
 * Backpressure. The link grants the dispatcher `concurrency + prefetch` credits (the claim window:
 * prefetch `'auto'`, the default, sizes itself from the handlers' run time, claim-window.ts). A job
 * holds its credit from its claim until its handler settles (or it is dropped or released), and the
 * dispatcher never claims past its credits: the worker never holds more than `concurrency + prefetch`
 * unfinished jobs. The credit comes back with the result, before the database confirmed it, so the
 * next claim does not wait for the ack (acks go in batches of their own, beside the claims). The
 * dispatcher claims no further while the unfinished jobs and the finished ones whose ack is on its way
 * would pass 2 × (concurrency + prefetch): the database never shows more running jobs of this worker.
 * A name registered with its own `concurrency` leaves the claimable names while it is saturated.
 *
 * Results are batched: everything that settles within one turn of the event loop goes out in one
 * message, with the credits it frees, and the dispatcher acks it in one statement (failures beside
 * it) with the others of the next few milliseconds. A result stays here (`#unacked`) until its ack
 * comes back, to fire its events then, or to be sent again to a restarted dispatcher (acks are fenced
 * by the lease, so twice is harmless).
 *
 *   unlinked ──attach──▶ linked ──open──▶ granting credits ──stopClaiming──▶ results only
 *                │ the start failed: detach ──▶ unlinked
 *
 * Once claims stop (close), no credit and no names go out any more; results, releases and the last
 * `flush` still do. `close()` is one step of the worker's close, not the link's end: it is memoised (every
 * call waits for the same 'closed'). The link ends at `dispose()`, when the actors stop: from then on
 * nothing goes out, what comes in is dropped (its lease lapses and is reaped), and every `close()` and
 * `flush()` still pending settles. They settle too once nothing can reach the dispatcher any more (no
 * dispatcher linked, or the runtime closed): no reply can come then.
 */
import type { ActorRef } from '../../runtime/actor-ref.js'
import { coerceError, fromWire, toWire, type WireError } from '../../runtime/errors.js'
import { onceAsync } from '../../runtime/lifecycle.js'
import { childOf } from '../../runtime/metrics.js'
import type { ClaimedJob, FailedJob, LeaseRef } from '../../transports/postgres/jobs/hot-path.js'
import type { AttemptsLink } from './attempts.js'
import { type Backoff, backoffDelayMs } from './backoff.js'
import type { ClaimWindow } from './claim-window.js'
import type { JobMetrics } from './metrics.js'
import {
  type AckedFailure,
  type DispatcherMsg,
  type DispatcherOut,
  fromJobColumns,
  toLeaseColumns,
} from './protocol.js'
import { eventOf, type WorkerEvents } from './worker-events.js'

/** The error of a job given back without running to the end (a release at close). */
const kReleasedError: WireError = { name: 'ClosedError', code: 'PULSE_ERR_CLOSED', message: 'released at shutdown' }
/** How soon the outbox goes again when the mailbox could not take all of it. */
const kRetryFlushMs = 5

/** What the link hands claimed jobs to and asks of them: the attempts in flight (attempts.ts). */
export interface JobIntake {
  receive(job: ClaimedJob): void
  /** Jobs held now (claimed, their handler not settled). */
  readonly held: number
  /** The names with a free slot, or undefined when they are still the ones `sent`. */
  claimableNames(sent: readonly string[] | undefined): string[] | undefined
  /** Every name registered (names are only ever added). */
  registeredNames(): string[]
}

export interface DispatcherLinkOptions {
  readonly backoff: Backoff
  readonly events: WorkerEvents
  readonly metrics: JobMetrics | undefined
}

/** A result sent to the dispatcher, kept until acked (to fire its events, or to send it again). */
interface Unacked {
  readonly job: ClaimedJob
  /** The failure sent; undefined for a completion. */
  readonly failure: FailedJob | undefined
  readonly error: WireError | undefined
  readonly retryAt: Date | undefined
}

/** The dispatcher, once spawned, and what the link needs beside it. */
interface Linked {
  readonly dispatcher: ActorRef<DispatcherMsg, unknown, DispatcherOut>
  readonly window: ClaimWindow
  readonly intake: JobIntake
}

export class DispatcherLink implements AttemptsLink {
  readonly #backoff: Backoff
  readonly #events: WorkerEvents
  readonly #metrics: JobMetrics | undefined
  #linked: Linked | undefined
  /** Credits and names go out (until the close). */
  #claiming = true
  #credit = 0
  #sentNames: string[] | undefined
  /** How many registered names went out last (-1: none yet, since the open or a restart). */
  #sentRegistered = -1
  // Results for the next `done` message.
  #completed: LeaseRef[] = []
  #failed: FailedJob[] = []
  readonly #unacked = new Map<string, Unacked>()
  #outbox: DispatcherMsg[] = []
  #flushImmediate: NodeJS.Immediate | undefined
  #flushTimer: NodeJS.Timeout | undefined
  #flushSeq = 0
  readonly #flushWaiters = new Map<number, () => void>()
  #closedWaiter: (() => void) | undefined
  /** Set by `dispose()`: nothing goes out any more. */
  #disposed = false

  constructor(options: DispatcherLinkOptions) {
    this.#backoff = options.backoff
    this.#events = options.events
    this.#metrics = options.metrics
  }

  /** Results sent and not acked yet. */
  get unacked(): number {
    return this.#unacked.size
  }

  isUnacked(leaseToken: string): boolean {
    return this.#unacked.has(leaseToken)
  }

  /** The leases of the results not acked yet. */
  unackedLeases(): LeaseRef[] {
    return [...this.#unacked.values()].map(({ job }) => ({ id: job.id, leaseToken: job.leaseToken }))
  }

  /**
   * Links the spawned dispatcher: its messages are handled from now on, its claimed jobs go to
   * `intake`, and `window` counts the credits. Returns the unsubscribe of its messages.
   */
  attach(
    dispatcher: ActorRef<DispatcherMsg, unknown, DispatcherOut>,
    window: ClaimWindow,
    intake: JobIntake,
  ): () => void {
    this.#linked = { dispatcher, window, intake }
    return dispatcher.onMessage((msg) => this.#onMessage(msg))
  }

  /** The start failed: nothing goes out any more. */
  detach(): void {
    this.#linked = undefined
  }

  /** The worker started: the whole window goes out as credits, with the claimable names. */
  open(): void {
    if (this.#linked === undefined) return
    this.#credit += this.#linked.window.size
    this.#sentNames = undefined
    this.#sentRegistered = -1
    this.syncNames()
    this.#flushNow()
  }

  // ---- from the attempts ----

  report(job: ClaimedJob, error: Error | undefined): void {
    if (this.#disposed) return
    if (error === undefined) {
      this.#completed.push(job)
      this.#unacked.set(job.leaseToken, { job, failure: undefined, error: undefined, retryAt: undefined })
    } else {
      const wire = toWire(error)
      const retryAt =
        job.attempt >= job.maxAttempts ? undefined : new Date(Date.now() + backoffDelayMs(this.#backoff, job.attempt))
      const failure = { id: job.id, leaseToken: job.leaseToken, error: wire, retryAt }
      this.#failed.push(failure)
      this.#unacked.set(job.leaseToken, { job, failure, error: wire, retryAt })
    }
    this.scheduleFlush()
  }

  release(job: ClaimedJob): void {
    if (this.#disposed) return
    const failure = { id: job.id, leaseToken: job.leaseToken, error: kReleasedError, retryAt: new Date() }
    this.#failed.push(failure)
    this.#unacked.set(job.leaseToken, { job, failure, error: kReleasedError, retryAt: undefined })
    this.scheduleFlush()
  }

  freed(runMs: number | undefined): void {
    if (this.#claiming) this.#credit += this.#linked?.window.settled(runMs) ?? 1
  }

  /** Sends the claimable names when they changed (a saturated name is not claimed until a slot frees). */
  syncNames(): void {
    const linked = this.#linked
    if (linked === undefined || !this.#claiming) return
    const names = linked.intake.claimableNames(this.#sentNames)
    if (names === undefined) return
    this.#sentNames = names
    const registered = linked.intake.registeredNames()
    if (registered.length === this.#sentRegistered) this.#outbox.push({ t: 'names', names })
    else this.#outbox.push({ t: 'names', names, registered })
    this.#sentRegistered = registered.length
    this.scheduleFlush()
  }

  scheduleFlush(): void {
    if (this.#disposed || this.#flushImmediate !== undefined || this.#flushTimer !== undefined) return
    this.#flushImmediate = setImmediate(() => {
      this.#flushImmediate = undefined
      this.#flushNow()
    })
  }

  // ---- close ----

  /** No credits and no names go out any more. */
  stopClaiming(): void {
    this.#claiming = false
  }

  /** Asks the dispatcher to stop claiming; settles on its 'closed': no job comes after that. Memoised. */
  readonly close = onceAsync((): Promise<void> => {
    const closed = new Promise<void>((resolve) => (this.#closedWaiter = resolve))
    this.#outbox.push({ t: 'close' })
    this.#flushNow()
    if (this.#linked === undefined || this.#disposed) this.#settleWaiters()
    return closed
  })

  /** Sends what is left; settles once the dispatcher has acked everything sent before. */
  flush(): Promise<void> {
    const seq = ++this.#flushSeq
    const flushed = new Promise<void>((resolve) => this.#flushWaiters.set(seq, resolve))
    this.#flushNow()
    this.#outbox.push({ t: 'flush', seq })
    this.#flushNow()
    if (this.#linked === undefined || this.#disposed) this.#settleWaiters()
    return flushed
  }

  /** The actors are stopping: drops the pending sends, settles the waiters; nothing goes out any more. */
  dispose(): void {
    this.#disposed = true
    clearImmediate(this.#flushImmediate)
    clearTimeout(this.#flushTimer)
    this.#flushImmediate = undefined
    this.#flushTimer = undefined
    this.#outbox = []
    this.#completed = []
    this.#failed = []
    this.#settleWaiters()
  }

  /** No reply can come any more: whoever waits for 'closed' or 'flushed' goes on. */
  #settleWaiters(): void {
    const closed = this.#closedWaiter
    this.#closedWaiter = undefined
    closed?.()
    for (const resolve of this.#flushWaiters.values()) resolve()
    this.#flushWaiters.clear()
  }

  /**
   * The dispatcher restarted: its credits and the results it had not acked died with it. The results
   * go again, and credits start over from the jobs held here.
   */
  restarted(): void {
    const linked = this.#linked
    if (linked === undefined) return
    this.#credit = 0
    this.#outbox = []
    this.#completed = []
    this.#failed = []
    for (const { job, failure } of this.#unacked.values()) {
      if (failure === undefined) this.#completed.push(job)
      else this.#failed.push(failure)
    }
    const { window } = linked
    this.#outbox.push({ t: 'credit', n: window.restart(linked.intake.held), window: window.size, reset: true })
    this.#sentNames = undefined
    this.#sentRegistered = -1
    this.syncNames()
  }

  // ---- to the dispatcher ----

  #flushNow(): void {
    const linked = this.#linked
    if (linked === undefined || this.#disposed) return
    if (this.#completed.length > 0 || this.#failed.length > 0) {
      this.#outbox.push({ t: 'done', completed: toLeaseColumns(this.#completed), failed: this.#failed })
      this.#completed = []
      this.#failed = []
    }
    const window = linked.window.takeChange()
    if ((this.#credit > 0 || window !== undefined) && this.#claiming) {
      this.#outbox.push({ t: 'credit', n: this.#credit, ...(window === undefined ? {} : { window }) })
      this.#credit = 0
    }
    if (this.#outbox.length === 0) return
    let taken: number
    try {
      taken = linked.dispatcher.tellMany(this.#outbox)
    } catch (error) {
      // The runtime is closed: nothing can be sent any more (unacked leases lapse and are reaped).
      this.#outbox = []
      this.#events.warn('the jobs runtime is closed; results not acked', coerceError(error))
      this.#settleWaiters()
      return
    }
    this.#outbox.splice(0, taken)
    if (this.#outbox.length > 0 && this.#flushTimer === undefined) {
      // Mailbox full (or the dispatcher restarting): try again shortly.
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined
        this.#flushNow()
      }, kRetryFlushMs)
    }
  }

  // ---- from the dispatcher ----

  #onMessage(msg: DispatcherOut): void {
    switch (msg.t) {
      case 'jobs': {
        const intake = this.#linked?.intake
        if (intake !== undefined) for (const job of fromJobColumns(msg.jobs)) intake.receive(job)
        this.syncNames()
        this.scheduleFlush()
        return
      }
      case 'acked':
        this.#onAcked(msg.completed, msg.failed)
        for (const token of msg.fenced) this.#unacked.delete(token)
        // A refused ack is a lease lost before its result landed (the watchdog's report of it skipped it).
        if (msg.fenced.length > 0) this.#metrics?.leasesLost.inc(msg.fenced.length)
        return
      case 'closed': {
        const closed = this.#closedWaiter
        this.#closedWaiter = undefined
        closed?.()
        return
      }
      case 'flushed':
        this.#flushWaiters.get(msg.seq)?.()
        this.#flushWaiters.delete(msg.seq)
        return
      case 'warning':
        this.#events.warn(msg.message, fromWire(msg.error))
        return
    }
  }

  /**
   * The transitions the database confirmed: their events fire now. Completions are counted once per
   * name per batch (`inc(n)`), not once per job.
   */
  #onAcked(completed: readonly string[], failed: readonly AckedFailure[]): void {
    const listened = this.#events.listening('completed')
    const counts = this.#metrics === undefined ? undefined : new Map<string, number>()
    for (const leaseToken of completed) {
      const unacked = this.#unacked.get(leaseToken)
      if (unacked === undefined) continue
      this.#unacked.delete(leaseToken)
      counts?.set(unacked.job.name, (counts.get(unacked.job.name) ?? 0) + 1)
      if (listened) this.#events.emit('completed', eventOf(unacked.job))
    }
    if (counts !== undefined && this.#metrics !== undefined)
      for (const [name, n] of counts) childOf(this.#metrics.completed, name).inc(n)
    for (const outcome of failed) {
      const unacked = this.#unacked.get(outcome.leaseToken)
      if (unacked === undefined) continue
      this.#unacked.delete(outcome.leaseToken)
      this.#events.failure(unacked.job, unacked.error ?? kReleasedError, outcome.status, unacked.retryAt)
    }
  }
}
