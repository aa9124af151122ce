/**
 * The attempts in flight of a `JobWorker`: the jobs it holds (claimed, their handler not settled), the
 * ones waiting for a slot, and the handlers running, on the caller's event loop or on a `HandlerPool`
 * thread. Results, releases and freed credits go to the dispatcher link (`AttemptsLink`,
 * dispatcher-link.ts), which hands the claimed jobs in (`receive`).
 *
 * A held job:
 *
 *   received ──a slot free (global and per name)──▶ running ──settles──▶ result reported ──▶ settled
 *     │  (else waiting, in claim order)                │                 (slot + credit back)
 *     │ lease lost: dropped, settled                   │ lease lost: signal aborts (LeaseLostError),
 *     │ close: released at once                        │   result discarded
 *     ▼                                                │ timeoutMs: signal aborts (JobTimeoutError), the
 *   released (fail, retry now)                         │   attempt fails at once
 *                                                      │ close bound passed: signal aborts (ClosedError),
 *                                                      ▼   released (retry now)
 *                                          its slot comes back when the handler's promise settles
 *
 * Invariants:
 *   - every held job is waiting (in `#waiting`, counted in its name's `waiting`) or running (counted in
 *     `#runningCount` and its name's `running`), never both;
 *   - at most `concurrency` run at once, and at most a name's own `concurrency` of that name;
 *   - an attempt has one outcome: its result or its release is reported once ('sent'), or its lease
 *     was lost and nothing is reported ('dropped');
 *   - a held job's credit goes back once, when it leaves `#held` (`#settle`), except at close, when
 *     no credit goes back any more.
 *
 *   new ──start──▶ started ──close──▶ closing   (new ──close──▶ closing)
 *
 * `closing`: nothing starts any more, and a claimed job that still comes is released at once.
 */
import type pg from 'pg'

import { ClosedError, coerceError, JobTimeoutError, LeaseLostError } from '../../runtime/errors.js'
import { HandlerPool, type HandlerPoolOptions } from '../../runtime/handler-pool.js'
import { childOf } from '../../runtime/metrics.js'
import { checkNumber } from '../../runtime/options.js'
import type { Span } from '../../runtime/tracing.js'
import { type ClaimedJob, type LeaseRef, parseArgs, renewLeases } from '../../transports/postgres/jobs/hot-path.js'
import { setJobProgress } from '../../transports/postgres/jobs/progress.js'
import type { JobContext, JobHandler, Registration } from './handlers.js'
import type { JobMetrics } from './metrics.js'
import type { ThreadJobPayload } from './thread-job.js'
import { endAttempt, runAttempt, startAttempt, threadCarrier } from './tracing.js'
import type { WorkerEvents } from './worker-events.js'
import { DEFAULT_JOB_CONCURRENCY } from './worker-options.js'

const kThreadJob = new URL(import.meta.url.endsWith('.ts') ? './thread-job.ts' : './thread-job.js', import.meta.url)

/** What the attempts ask of the dispatcher link (dispatcher-link.ts). */
export interface AttemptsLink {
  /** The outcome of an attempt (`error` undefined: it completed), for the next ack batch. */
  report(job: ClaimedJob, error: Error | undefined): void
  /** Gives a claimed job back (retry now), without running it. */
  release(job: ClaimedJob): void
  /** A held job left: its credit comes back. `runMs`: how long its handler ran; undefined: it never ran. */
  freed(runMs: number | undefined): void
  /** The claimable names may have changed. */
  syncNames(): void
  /** Something is waiting to go to the dispatcher. */
  scheduleFlush(): void
}

export interface AttemptsOptions {
  /** The caller's pool, for `job.progress()` and `job.heartbeat()`. */
  readonly pool: pg.Pool
  /** The schema as a quoted identifier. */
  readonly q: string
  readonly leaseTtlMs: number
  readonly link: AttemptsLink
  readonly events: WorkerEvents
  readonly metrics: JobMetrics | undefined
}

/** A job this worker holds: claimed, its handler not settled yet. */
interface Held {
  readonly job: ClaimedJob
  readonly reg: Registration
  state: 'waiting' | 'running'
  /** Made on first use (the handler reads `job.signal`, or the attempt is aborted): most never need one. */
  controller: AbortController | undefined
  /**
   * 'sent': its result (or its release) went to the dispatcher link for the next ack;
   * 'dropped': its lease was lost, so there is nothing to ack.
   * Either way nothing more is reported for it; its credit comes back when it leaves `#held`.
   */
  outcome: 'none' | 'sent' | 'dropped'
  /** `performance.now()` at the handler's start. */
  startedAt: number
  /** The attempt's `process` span, from its start until its outcome is known (tracing.ts). */
  span: Span | undefined
}

/** What an attempt's context asks of the attempts. */
interface AttemptHooks {
  signal(held: Held): AbortSignal
  progress(held: Held, value: number): Promise<void>
  heartbeat(held: Held): Promise<void>
}

/**
 * The `job` a handler gets: one object per attempt, without a closure per attempt. `progress` and
 * `heartbeat` are made (bound to the attempt) on first read, so `const { progress } = job` works too.
 */
class AttemptContext implements JobContext {
  readonly id: string
  readonly name: string
  readonly attempt: number
  readonly maxAttempts: number
  readonly priority: number
  readonly #held: Held
  readonly #hooks: AttemptHooks
  #progress: ((value: number) => Promise<void>) | undefined
  #heartbeat: (() => Promise<void>) | undefined

  constructor(held: Held, hooks: AttemptHooks) {
    const { job } = held
    this.id = job.id
    this.name = job.name
    this.attempt = job.attempt
    this.maxAttempts = job.maxAttempts
    this.priority = job.priority
    this.#held = held
    this.#hooks = hooks
  }

  get signal(): AbortSignal {
    return this.#hooks.signal(this.#held)
  }

  get progress(): (value: number) => Promise<void> {
    return (this.#progress ??= this.#hooks.progress.bind(this.#hooks, this.#held))
  }

  get heartbeat(): () => Promise<void> {
    return (this.#heartbeat ??= this.#hooks.heartbeat.bind(this.#hooks, this.#held))
  }
}

export class Attempts {
  readonly #pool: pg.Pool
  readonly #q: string
  readonly #leaseTtlMs: number
  readonly #link: AttemptsLink
  readonly #events: WorkerEvents
  readonly #metrics: JobMetrics | undefined
  readonly #handlers = new Map<string, Registration>()
  /** Some name has a `concurrency` of its own (its saturation changes the claimable names). */
  #limitedNames = false
  readonly #held = new Map<string, Held>()
  /** Held jobs waiting for a slot, in claim order. */
  #waiting: Held[] = []
  #runningCount = 0
  /** Handlers running (their promise not settled), for the drain at close. */
  readonly #running = new Set<Promise<void>>()
  readonly #hooks: AttemptHooks = {
    signal: (held) => this.#signal(held),
    progress: (held, value) => this.#progress(held, value),
    heartbeat: (held) => this.#heartbeat(held),
  }
  #phase: 'new' | 'started' | 'closing' = 'new'
  #concurrency = DEFAULT_JOB_CONCURRENCY
  #handlerPool: HandlerPool | undefined
  #handlerPoolOptions: HandlerPoolOptions | undefined

  constructor(options: AttemptsOptions) {
    this.#pool = options.pool
    this.#q = options.q
    this.#leaseTtlMs = options.leaseTtlMs
    this.#link = options.link
    this.#events = options.events
    this.#metrics = options.metrics
  }

  /** Jobs held now (claimed, their handler not settled). */
  get held(): number {
    return this.#held.size
  }

  /** Handlers running now. */
  get running(): number {
    return this.#runningCount
  }

  has(name: string): boolean {
    return this.#handlers.has(name)
  }

  register(reg: Registration): void {
    this.#handlers.set(reg.name, reg)
    if (Number.isFinite(reg.concurrency)) this.#limitedNames = true
    if (reg.thread !== undefined && this.#phase === 'started')
      this.#handlerPool ??= new HandlerPool(this.#handlerPoolOptions)
  }

  /** The options of `start`, before the actors spawn: at most `concurrency` run at once. */
  prepare(concurrency: number, handlerPool: HandlerPoolOptions | undefined): void {
    this.#concurrency = concurrency
    this.#handlerPoolOptions = handlerPool
  }

  /** The actors run: thread handlers get their pool (made now, or when the first one registers). */
  start(): void {
    this.#phase = 'started'
    if ([...this.#handlers.values()].some((reg) => reg.thread !== undefined))
      this.#handlerPool ??= new HandlerPool(this.#handlerPoolOptions)
  }

  registeredNames(): string[] {
    return [...this.#handlers.keys()]
  }

  /**
   * The names with a free slot of their own (a saturated name is not claimed until one frees), or
   * undefined when they are the ones `sent` last.
   */
  claimableNames(sent: readonly string[] | undefined): string[] | undefined {
    // Without per-name limits every registered name is claimable: nothing changes until one is added.
    if (!this.#limitedNames && sent !== undefined && sent.length === this.#handlers.size) return undefined
    const names: string[] = []
    for (const reg of this.#handlers.values()) if (reg.running + reg.waiting < reg.concurrency) names.push(reg.name)
    if (sent !== undefined && sent.length === names.length && sent.every((n, i) => n === names[i])) return undefined
    return names
  }

  /** The leases of the held jobs. */
  leases(): LeaseRef[] {
    return [...this.#held.values()].map(({ job }) => ({ id: job.id, leaseToken: job.leaseToken }))
  }

  /** A claimed job: it runs now if a slot is free, else it waits. */
  receive(job: ClaimedJob): void {
    const reg = this.#handlers.get(job.name)
    if (reg === undefined || this.#phase === 'closing') {
      // A name this worker does not handle (never claimed on purpose) or a claim that raced close().
      this.#link.release(job)
      this.#link.freed(undefined)
      return
    }
    const held: Held = {
      job,
      reg,
      state: 'waiting',
      controller: undefined,
      outcome: 'none',
      startedAt: 0,
      span: undefined,
    }
    if (this.#metrics !== undefined && job.waitMs !== undefined)
      childOf(this.#metrics.wait, job.name).observe(job.waitMs / 1000)
    this.#held.set(job.leaseToken, held)
    if (this.#runningCount < this.#concurrency && reg.running < reg.concurrency && reg.waiting === 0) {
      this.#run(held)
    } else {
      reg.waiting++
      this.#waiting.push(held)
    }
  }

  /** The lease of `token` is lost: a waiting job is dropped, a running one's signal aborts. */
  lost(token: string): void {
    const held = this.#held.get(token)
    if (held === undefined || held.outcome !== 'none') return
    held.outcome = 'dropped'
    const error = new LeaseLostError(
      `the lease of job ${held.job.id} (attempt ${held.job.attempt}) was lost; its result is discarded`,
      {
        data: { id: held.job.id, attempt: held.job.attempt },
      },
    )
    if (held.state === 'waiting') {
      this.#waiting.splice(this.#waiting.indexOf(held), 1)
      held.reg.waiting--
      this.#settle(held)
    } else {
      this.#abort(held, error)
    }
  }

  // ---- close ----

  /** Nothing starts any more; a claimed job that still comes is released. */
  close(): void {
    this.#phase = 'closing'
  }

  /** Gives back the jobs that have not started. */
  releaseWaiting(): void {
    for (const held of this.#waiting.splice(0)) {
      held.outcome = 'sent'
      held.reg.waiting--
      this.#held.delete(held.job.leaseToken)
      this.#link.release(held.job)
    }
  }

  /** Settles once the handlers running now have settled. */
  settled(): Promise<unknown> {
    return Promise.all(this.#running)
  }

  /** Aborts the attempts still running (`ClosedError`) and gives their jobs back. */
  releaseRunning(): void {
    for (const held of this.#held.values()) {
      if (held.outcome !== 'none') continue
      held.outcome = 'sent'
      this.#abort(held, new ClosedError(`job ${held.job.id} was released: the worker shut down before it finished`))
      this.#link.release(held.job)
    }
  }

  async closeHandlerPool(): Promise<void> {
    await this.#handlerPool?.close()
  }

  // ---- running handlers ----

  /**
   * Starts waiting jobs while slots are free (global and per name), in claim order. It stops at the
   * first job that finds no global slot, so a settled job costs one start, not a walk of the queue.
   */
  #pump(): void {
    const waiting = this.#waiting
    if (waiting.length === 0 || this.#phase === 'closing' || this.#runningCount >= this.#concurrency) return
    let i = 0
    let skipped: Held[] | undefined
    while (i < waiting.length && this.#runningCount < this.#concurrency) {
      const held = waiting[i++] as Held
      if (held.reg.running < held.reg.concurrency) {
        held.reg.waiting--
        this.#run(held)
      } else {
        ;(skipped ??= []).push(held)
      }
    }
    if (skipped === undefined) waiting.splice(0, i)
    else this.#waiting = skipped.concat(waiting.slice(i))
  }

  #run(held: Held): void {
    const { job, reg } = held
    held.state = 'running'
    reg.running++
    this.#runningCount++
    held.startedAt = performance.now()
    if (this.#events.listening('started'))
      this.#events.emit('started', { id: job.id, name: job.name, attempt: job.attempt })
    let timer: NodeJS.Timeout | undefined
    if (reg.timeoutMs !== undefined) {
      const timeoutMs = reg.timeoutMs
      timer = setTimeout(() => {
        const error = new JobTimeoutError(
          `job ${job.id} ("${job.name}", attempt ${job.attempt}) did not finish within ${timeoutMs} ms`,
          {
            data: { id: job.id, name: job.name, attempt: job.attempt, timeoutMs },
          },
        )
        this.#abort(held, error)
        this.#report(held, error)
      }, timeoutMs)
    }
    const span = (held.span = startAttempt(job))
    const args = parseArgs(job)
    const outcome = runAttempt(span, () =>
      reg.thread === undefined ? this.#invoke(held, args) : this.#invokeInThread(held, args, this.#signal(held)),
    )
    const running: Promise<void> = outcome.then(
      () => this.#attemptEnded(held, running, timer, undefined),
      (error: unknown) => this.#attemptEnded(held, running, timer, coerceError(error)),
    )
    this.#running.add(running)
  }

  /** The handler's promise settled. */
  #attemptEnded(held: Held, running: Promise<void>, timer: NodeJS.Timeout | undefined, error: Error | undefined): void {
    if (this.#metrics !== undefined)
      childOf(this.#metrics.run, held.job.name).observe((performance.now() - held.startedAt) / 1000)
    this.#report(held, error)
    clearTimeout(timer)
    this.#running.delete(running)
    this.#settle(held)
  }

  #invoke(held: Held, args: unknown): Promise<unknown> {
    try {
      return Promise.resolve((held.reg.fn as JobHandler)(args, new AttemptContext(held, this.#hooks)))
    } catch (error) {
      return Promise.reject(coerceError(error))
    }
  }

  #invokeInThread(held: Held, args: unknown, signal: AbortSignal): Promise<unknown> {
    const { job, reg } = held
    const pool = this.#handlerPool
    const ref = reg.thread
    if (pool === undefined || ref === undefined)
      return Promise.reject(new ClosedError('the handler pool is not running'))
    const payload: ThreadJobPayload = {
      module: ref.module,
      export: ref.export,
      args,
      job: { id: job.id, name: job.name, attempt: job.attempt, maxAttempts: job.maxAttempts, priority: job.priority },
    }
    const trace = held.span === undefined ? undefined : threadCarrier(held.span)
    if (trace !== undefined) payload.trace = trace
    return pool.run({ module: kThreadJob, export: 'runJob' }, payload, { signal })
  }

  /** The attempt's outcome, once: to the dispatcher link for the next ack batch. */
  #report(held: Held, error: Error | undefined): void {
    this.#endSpan(held, error)
    if (held.outcome !== 'none') return
    held.outcome = 'sent'
    this.#link.report(held.job, error)
  }

  /** Ends the attempt's span, once: when its outcome is known, or when it is aborted. */
  #endSpan(held: Held, error: Error | undefined): void {
    const span = held.span
    if (span === undefined) return
    held.span = undefined
    endAttempt(span, error)
  }

  /**
   * The handler is gone (or the job never started): its slot and its credit come back. The credit
   * does not wait for the ack of the result: the dispatcher sends that ack beside its next claim.
   */
  #settle(held: Held): void {
    if (this.#held.get(held.job.leaseToken) !== held) return
    this.#held.delete(held.job.leaseToken)
    const { reg } = held
    const ran = held.state === 'running'
    if (ran) {
      reg.running--
      this.#runningCount--
    }
    this.#link.freed(ran ? performance.now() - held.startedAt : undefined)
    this.#pump()
    this.#link.syncNames()
    this.#link.scheduleFlush()
  }

  /** The attempt's signal (its controller made on first use). */
  #signal(held: Held): AbortSignal {
    held.controller ??= new AbortController()
    return held.controller.signal
  }

  #abort(held: Held, reason: Error): void {
    this.#endSpan(held, reason)
    held.controller ??= new AbortController()
    held.controller.abort(reason)
  }

  async #progress(held: Held, value: number): Promise<void> {
    checkNumber(value, 'value')
    const { job } = held
    if (held.outcome !== 'none')
      throw new LeaseLostError(`job ${job.id} (attempt ${job.attempt}) is no longer running here`, {
        data: { id: job.id },
      })
    const stored = await setJobProgress(this.#pool, this.#q, { id: job.id, leaseToken: job.leaseToken }, value)
    if (!stored)
      throw new LeaseLostError(`the lease of job ${job.id} (attempt ${job.attempt}) was lost`, { data: { id: job.id } })
    this.#events.emit('progress', { id: job.id, name: job.name, attempt: job.attempt, progress: value })
  }

  async #heartbeat(held: Held): Promise<void> {
    const { job } = held
    if (held.outcome !== 'none')
      throw new LeaseLostError(`job ${job.id} (attempt ${job.attempt}) is no longer running here`, {
        data: { id: job.id },
      })
    const lost = await renewLeases(this.#pool, this.#q, [{ id: job.id, leaseToken: job.leaseToken }], this.#leaseTtlMs)
    if (lost.length > 0) {
      this.lost(job.leaseToken)
      throw new LeaseLostError(`the lease of job ${job.id} (attempt ${job.attempt}) was lost`, { data: { id: job.id } })
    }
  }
}
