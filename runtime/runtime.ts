/**
 * The runtime: it spawns actors on threads, carries their messages over shared-memory rings, and
 * supervises them (one-for-one restarts with backoff, and an intensity limit past which it gives up
 * and closes). It is an EventEmitter: 'crash' ({ name, error }), 'restart' ({ name, restarts }) and
 * 'error' (supervision gave up; the runtime then closes).
 *
 * Per actor:
 *
 *   spawn --init ok--> running --crash--> restarting --backoff, init ok--> running
 *                        |                    |  (policy says no, or init keeps failing past the limit)
 *                        +---- close ----> stopped <--+
 *
 * One pump reads every thread's reply ring after one doorbell wake-up, and settles asks. Both sides of
 * a mailbox poll for `spinUs` before they sleep: an actor thread after it drained its mailbox, the
 * pump after it drained the reply rings, and the pump again when an ask is written while it sleeps
 * (`Doorbell.nudge`), so a reply that comes within the window costs neither side a wake-up.
 */
import type { ResourceLimits } from 'node:worker_threads'

import { ActorRef, type ActorRefTarget, type AskOptions } from './actor-ref.js'
import { ActorThread } from './actor-thread.js'
import {
  ActorCrashedError,
  ClosedError,
  coerceError,
  InvalidArgumentError,
  PulseError,
  SupervisorGaveUpError,
  TimeoutError,
} from './errors.js'
import { HandlerPool, type HandlerPoolOptions, resolveHandlerPoolOptions } from './handler-pool.js'
import { abortable, CloseableEmitter } from './lifecycle.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkString, resolveOptions } from './options.js'
import { BodyFormat, decodeBody, FrameKind, messageBytes, readEnvelope, writeMessage } from './ring/codec.js'
import { Doorbell } from './ring/doorbell.js'
import { isPowerOfTwo } from './ring/layout.js'
import { checkRegistry, type MetricsRegistry } from './metrics.js'
import { observeRuntime } from './runtime-metrics.js'
import type { ActorStats } from './stats.js'
import { isTypeScriptModule } from './thread-boot.js'
import {
  backoffDelayMs,
  checkRestartPolicy,
  resolveSupervision,
  RestartWindow,
  type RestartPolicy,
  shouldRestart,
  type SupervisionOptions,
} from './supervision.js'

export interface RuntimeOptions {
  supervision?: SupervisionOptions
  /** Bytes of each mailbox ring (a power of two); the largest message is 12 bytes less. @default 1 MiB */
  mailboxBytes?: number
  /** Bound on a graceful close; past it threads are terminated. @default 10_000 */
  closeTimeoutMs?: number
  /** Time one message in this many for the latency percentiles. @default 64 */
  latencySampleEvery?: number
  /**
   * Microseconds a side polls its empty rings before it sleeps on its doorbell (an actor thread after
   * its mailbox drained; the runtime after replies drained, and while it awaits a reply): a message or
   * reply that comes within the window costs no thread wake-up. Spinning yields to the event loop; an
   * idle runtime spins once per wake-up, then sleeps. 0 sleeps at once. At most 10 000. @default 50
   */
  spinUs?: number
  /** The piscina pool for handlers that ask for a thread (`rt.handlers`, made on first use). */
  handlers?: HandlerPoolOptions
  /** Closes the runtime when aborted. */
  signal?: AbortSignal
  /** Exports per-actor metrics there (`runtime-metrics.ts`), read from `stats()` at each scrape. */
  metrics?: MetricsRegistry
}

interface ResolvedRuntimeOptions {
  mailboxBytes: number
  closeTimeoutMs: number
  latencySampleEvery: number
  spinUs: number
}

export const DEFAULT_RUNTIME_OPTIONS: Readonly<ResolvedRuntimeOptions> = {
  mailboxBytes: 1 << 20,
  closeTimeoutMs: 10_000,
  latencySampleEvery: 64,
  spinUs: 50,
}

/** The longest spin window `spinUs` takes. */
export const kMaxSpinUs = 10_000

export interface SpawnOptions<Args = unknown> {
  /** Unique among the runtime's actors. */
  name: string
  args?: Args
  /** @default 'permanent' */
  restart?: RestartPolicy
  /** Co-locate with other actors on this thread; by default each actor gets its own. */
  thread?: string
  /** Limits of a new thread (an actor that exceeds them crashes and restarts). */
  resourceLimits?: ResourceLimits
}

const DEFAULT_ASK_TIMEOUT_MS = 30_000

type ActorState = 'running' | 'restarting' | 'stopped'

interface ActorRecord {
  readonly name: string
  readonly moduleUrl: string
  readonly args: unknown
  readonly restart: RestartPolicy
  readonly threadName: string
  readonly resourceLimits: ResourceLimits | undefined
  thread: ActorThread<ActorRecord> | undefined
  slot: number
  state: ActorState
  restarts: number
  sent: number
  readonly pending: Set<number>
  readonly window: RestartWindow
  readonly listeners: Set<(msg: unknown) => void>
}

interface PendingAsk {
  readonly record: ActorRecord
  resolve(value: unknown): void
  reject(error: Error): void
}

/** What a `Runtime` emits (`rt.on('crash', ({ name, error }) => …)`). */
export type RuntimeEventMap = {
  /** An actor crashed (its pending asks are rejected with `error`); a restart may follow. */
  crash: [{ readonly name: string; readonly error: ActorCrashedError }]
  /** An actor was restarted by its policy; `restarts` counts its restarts so far. */
  restart: [{ readonly name: string; readonly restarts: number }]
  /**
   * Supervision gave up (`SupervisorGaveUpError`; the runtime closes), a listener of `ref.on` threw, or a
   * message an actor emitted to listeners did not decode (`ProtocolError`; it is dropped).
   */
  error: [Error]
}

export class Runtime extends CloseableEmitter<RuntimeEventMap> implements ActorRefTarget {
  readonly #options: Readonly<ResolvedRuntimeOptions>
  readonly #supervision: ReturnType<typeof resolveSupervision>
  readonly #bell = new Doorbell()
  readonly #threads = new Map<string, ActorThread<ActorRecord>>()
  readonly #starting = new Map<string, Promise<ActorThread<ActorRecord>>>()
  readonly #actors = new Map<string, ActorRecord>()
  readonly #pending = new Map<number, PendingAsk>()
  readonly #window: RestartWindow
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #handlerOptions: HandlerPoolOptions
  #handlers: HandlerPool | undefined
  #corr = 0
  #pump: Promise<void> | undefined
  #pumping = true
  #closingOwned = false
  #unobserve: (() => void) | undefined

  /** @internal `Runtime.start`, or a subclass's (the composed runtime of `actors/runtime/`). */
  protected constructor(options: RuntimeOptions) {
    validateRuntimeOptions(options)
    const { supervision, signal, handlers, metrics, ...rest } = options
    const resolved = resolveOptions(DEFAULT_RUNTIME_OPTIONS, rest)
    super({ name: 'runtime', closeTimeoutMs: resolved.closeTimeoutMs })
    // Every job worker and sink on a shared runtime listens for 'restart' (to re-attach its actors): a
    // service with a dozen of them is not a leak, so Node's warning past 10 listeners does not apply.
    this.setMaxListeners(0)
    this.#handlerOptions = handlers === undefined ? {} : resolveHandlerPoolOptions(handlers, 'options.handlers')
    this.#options = resolved
    this.#supervision = resolveSupervision(supervision)
    this.#window = new RestartWindow(this.#supervision.maxRestarts, this.#supervision.withinMs)
    signal?.addEventListener('abort', () => void this.close().catch(() => undefined), { once: true })
    if (metrics !== undefined) this.#unobserve = observeRuntime(metrics, () => this.stats())
    this.#pump = this.#runPump()
  }

  /** Starts a runtime; an already-aborted `signal` rejects with its reason. */
  static async start(options: RuntimeOptions = {}): Promise<Runtime> {
    options.signal?.throwIfAborted()
    return Promise.resolve(new Runtime(options))
  }

  /** Closes what a subclass built on the runtime, before the actors stop (within `closeTimeoutMs`). */
  protected async closeOwned(): Promise<void> {}

  /** Messages still flow while `closeOwned` runs: the features it closes talk to their actors. */
  #assertMessaging(what: string): void {
    if (!this.#closingOwned) this.assertOpen(what)
  }

  /** The pool for handler code that asks for a thread (CPU-bound work); closed with the runtime. */
  get handlers(): HandlerPool {
    this.assertOpen('handlers')
    this.#handlers ??= new HandlerPool(this.#handlerOptions)
    return this.#handlers
  }

  /** Resolves when the runtime is closed (never rejects). */
  get closed(): Promise<Error | undefined> {
    return this.lifecycle.closed
  }

  async spawn<Msg = unknown, Reply = unknown, Args = unknown>(
    moduleUrl: URL | string,
    options: SpawnOptions<Args>,
  ): Promise<ActorRef<Msg, Reply>> {
    this.assertOpen('spawn')
    const record = this.#newRecord(moduleUrl, options)
    this.#actors.set(record.name, record)
    try {
      await this.#place(record)
    } catch (error) {
      this.#actors.delete(record.name)
      throw error
    }
    return new ActorRef<Msg, Reply>(this, record.name)
  }

  tell(name: string, msg: unknown): boolean {
    const record = this.#live(name)
    if (record === undefined || record.thread === undefined) return false
    if (!writeMessage(record.thread.writer, FrameKind.Tell, record.slot, 0, msg)) return false
    record.sent++
    return true
  }

  tellMany(name: string, msgs: readonly unknown[]): number {
    const record = this.#live(name)
    if (record === undefined || record.thread === undefined) return 0
    const writer = record.thread.writer
    let taken = 0
    for (const msg of msgs) {
      if (!writeMessage(writer, FrameKind.Tell, record.slot, 0, msg, false)) break
      taken++
    }
    writer.flush()
    record.sent += taken
    return taken
  }

  async ask(name: string, msg: unknown, options: AskOptions = {}): Promise<unknown> {
    this.#assertMessaging('ask')
    options.signal?.throwIfAborted()
    const timeoutMs =
      options.timeoutMs === undefined ? DEFAULT_ASK_TIMEOUT_MS : checkDurationMs(options.timeoutMs, 'options.timeoutMs')
    const record = this.#record(name)
    if (record.state !== 'running' || record.thread === undefined) {
      throw new ActorCrashedError(`actor "${name}" is ${record.state}`)
    }
    const corr = this.#nextCorr()
    const deadline = Date.now() + timeoutMs
    const answer = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(corr, { record, resolve, reject })
      record.pending.add(corr)
    })
    // Settled (timeout, crash) possibly before it is awaited below: never an unhandled rejection.
    answer.catch(() => undefined)
    const timer = setTimeout(
      () => this.#settle(corr, new TimeoutError(`ask to "${name}" timed out after ${timeoutMs} ms`)),
      timeoutMs,
    )
    try {
      await this.#write(record, corr, msg, deadline, options.signal)
      return await abortable(answer, options.signal)
    } finally {
      clearTimeout(timer)
      this.#forget(corr)
    }
  }

  onMessage(name: string, listener: (msg: unknown) => void): () => void {
    const listeners = this.#record(name).listeners
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  /** A listener that throws must not stop the pump: its error is reported on a fresh macrotask. */
  #deliverEmit(listener: (msg: unknown) => void, value: unknown): void {
    try {
      listener(value)
    } catch (error) {
      setImmediate(() => this.emit('error', coerceError(error)))
    }
  }

  async threadCall(name: string, call: 'drain' | 'pause' | 'resume'): Promise<void> {
    this.#assertMessaging(call)
    const thread = this.#record(name).thread
    if (thread === undefined) throw new ActorCrashedError(`actor "${name}" has no running thread`)
    await thread.call((control) => control[call]())
  }

  /**
   * Stops one actor for good: it handles what is already in its mailbox, its `stop` runs, its pending
   * asks reject with `ClosedError`, and its name is free again. A thread left with no actor ends.
   * Stopping an actor that is not there (any more) does nothing.
   */
  async stopActor(name: string): Promise<void> {
    this.#assertMessaging('stopActor')
    const record = this.#actors.get(name)
    if (record === undefined || record.state === 'stopped') return
    record.state = 'stopped'
    const thread = record.thread
    try {
      if (thread?.alive === true) await thread.call((control) => control.stopActor(record.slot))
    } finally {
      for (const corr of [...record.pending]) this.#settle(corr, new ClosedError(`actor "${name}" was stopped`))
      record.listeners.clear()
      if (this.#actors.get(name) === record) this.#actors.delete(name)
      if (thread !== undefined) {
        thread.actors.delete(record.slot)
        if (thread.actors.size === 0 && this.state === 'open') await this.#retire(thread)
      }
      record.thread = undefined
    }
  }

  /** Per actor: thread, mailbox depth, processed, dropped, restarts and receive latency percentiles. */
  async stats(): Promise<ActorStats[]> {
    const byThread = new Map<
      string,
      Map<number, { processed: number; dropped: number; latencyUs: ActorStats['latencyUs'] }>
    >()
    await Promise.all(
      [...this.#threads.values()].map(async (thread) => {
        const stats = await thread.call((control) => control.stats()).catch(() => [])
        byThread.set(thread.name, new Map(stats.map((s) => [s.slot, s])))
      }),
    )
    return [...this.#actors.values()].map((record) => {
      const s = record.thread === undefined ? undefined : byThread.get(record.thread.name)?.get(record.slot)
      const handled = (s?.processed ?? 0) + (s?.dropped ?? 0)
      return {
        name: record.name,
        thread: record.threadName,
        mailboxDepth: Math.max(0, record.sent - handled),
        processed: s?.processed ?? 0,
        dropped: s?.dropped ?? 0,
        restarts: record.restarts,
        state: record.state,
        latencyUs: s?.latencyUs ?? { p50: 0, p99: 0, p999: 0 },
      }
    })
  }

  async actorStats(name: string): Promise<ActorStats | undefined> {
    return (await this.stats()).find((s) => s.name === name)
  }

  #newRecord(moduleUrl: URL | string, options: SpawnOptions): ActorRecord {
    checkKnownKeys(options, ['name', 'args', 'restart', 'thread', 'resourceLimits'])
    const name = checkString(options.name, 'options.name', { nonEmpty: true })
    if (this.#actors.has(name)) throw new InvalidArgumentError(`options.name: an actor named "${name}" already exists`)
    const url = moduleUrl instanceof URL ? moduleUrl.href : checkString(moduleUrl, 'moduleUrl', { nonEmpty: true })
    return {
      name,
      moduleUrl: url,
      args: options.args,
      restart: options.restart === undefined ? 'permanent' : checkRestartPolicy(options.restart, 'options.restart'),
      threadName:
        options.thread === undefined ? name : checkString(options.thread, 'options.thread', { nonEmpty: true }),
      resourceLimits: options.resourceLimits,
      thread: undefined,
      slot: -1,
      state: 'restarting',
      restarts: 0,
      sent: 0,
      pending: new Set(),
      listeners: new Set(),
      window: new RestartWindow(Number.MAX_SAFE_INTEGER, this.#supervision.withinMs),
    }
  }

  /** Puts the actor on its thread (starting the thread if needed) and runs its init. */
  async #place(record: ActorRecord): Promise<void> {
    const thread = await this.#thread(record)
    const slot = thread.nextSlot()
    thread.actors.set(slot, record)
    record.thread = thread
    record.slot = slot
    record.sent = 0
    try {
      await thread.call((control) => control.spawn(slot, record.moduleUrl, record.name, record.args))
    } catch (error) {
      thread.actors.delete(slot)
      record.thread = undefined
      if (thread.actors.size === 0) await this.#retire(thread)
      throw error
    }
    record.state = 'running'
  }

  async #thread(record: ActorRecord): Promise<ActorThread<ActorRecord>> {
    const name = record.threadName
    const existing = this.#threads.get(name)
    if (existing?.alive === true) return existing
    let starting = this.#starting.get(name)
    if (starting === undefined) {
      starting = ActorThread.start<ActorRecord>(name, this.#bell, {
        typescript: isTypeScriptModule(record.moduleUrl),
        mailboxBytes: this.#options.mailboxBytes,
        latencySampleEvery: this.#options.latencySampleEvery,
        spinUs: this.#options.spinUs,
        ...(record.resourceLimits === undefined ? {} : { resourceLimits: record.resourceLimits }),
      })
      this.#starting.set(name, starting)
    }
    try {
      const thread = await starting
      if (!this.#threads.has(name) || this.#threads.get(name) !== thread) {
        this.#threads.set(name, thread)
        void thread.exited.then((exit) => this.#onThreadExit(thread, exit.code, exit.error))
        this.#bell.wake()
      }
      return thread
    } finally {
      this.#starting.delete(name)
    }
  }

  async #retire(thread: ActorThread<ActorRecord>): Promise<void> {
    if (this.#threads.get(thread.name) === thread) this.#threads.delete(thread.name)
    await thread.terminate()
  }

  #record(name: string): ActorRecord {
    const record = this.#actors.get(name)
    if (record === undefined) throw new InvalidArgumentError(`no actor named "${name}"`)
    return record
  }

  /** The record if the actor can take a message now (throws after close, undefined while restarting). */
  #live(name: string): ActorRecord | undefined {
    this.#assertMessaging('tell')
    const record = this.#record(name)
    return record.state === 'running' && record.thread?.alive === true ? record : undefined
  }

  #nextCorr(): number {
    do this.#corr = (this.#corr + 1) >>> 0
    while (this.#corr === 0 || this.#pending.has(this.#corr))
    return this.#corr
  }

  async #write(
    record: ActorRecord,
    corr: number,
    msg: unknown,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (;;) {
      const thread = record.thread
      if (thread === undefined || !thread.alive)
        throw new ActorCrashedError(`actor "${record.name}" is ${record.state}`)
      if (writeMessage(thread.writer, FrameKind.Ask, record.slot, corr, msg)) {
        record.sent++
        if (this.#options.spinUs > 0) this.#bell.nudge()
        return
      }
      if (!this.#pending.has(corr)) return // settled while waiting (timeout or crash)
      await thread.writer.waitWritable(messageBytes(msg), signal, Math.max(0, deadline - Date.now()))
    }
  }

  #settle(corr: number, outcome: Error | { value: unknown }): void {
    const pending = this.#pending.get(corr)
    if (pending === undefined) return
    this.#forget(corr)
    if (outcome instanceof Error) pending.reject(outcome)
    else pending.resolve(outcome.value)
  }

  #forget(corr: number): void {
    const pending = this.#pending.get(corr)
    if (pending === undefined) return
    this.#pending.delete(corr)
    pending.record.pending.delete(corr)
  }

  async #runPump(): Promise<void> {
    const handlers = new Map<ActorThread<ActorRecord>, (payload: Uint8Array) => undefined>()
    const handlerOf = (thread: ActorThread<ActorRecord>) => {
      let handler = handlers.get(thread)
      if (handler === undefined) {
        handler = (payload) => this.#onFrame(thread, payload)
        handlers.set(thread, handler)
      }
      return handler
    }
    const hasWork = () => {
      if (!this.#pumping) return true
      for (const thread of this.#threads.values()) if (thread.reader.hasFrames()) return true
      return false
    }
    while (this.#pumping) {
      let handled = 0
      for (const thread of this.#threads.values()) handled += thread.reader.drain(handlerOf(thread), 1024)
      for (const thread of handlers.keys()) if (!thread.alive && !thread.reader.hasFrames()) handlers.delete(thread)
      if (handled === 0) await this.#bell.wait(hasWork, Infinity, this.#options.spinUs)
    }
  }

  #onFrame(thread: ActorThread<ActorRecord>, payload: Uint8Array): undefined {
    const env = readEnvelope(payload)
    let value: unknown
    try {
      value = decodeBody(env.format, env.body)
    } catch (error) {
      // A body that does not decode (ProtocolError) fails its ask; it must not stop the pump.
      this.#onUndecodable(thread, env.kind, env.slot, env.corr, coerceError(error))
      return undefined
    }
    switch (env.kind) {
      case FrameKind.Reply:
        this.#settle(env.corr, { value })
        break
      case FrameKind.Fail:
        this.#settle(env.corr, env.format === BodyFormat.Error ? (value as Error) : coerceError(value))
        break
      case FrameKind.Emit: {
        const record = thread.actors.get(env.slot)
        for (const listener of record?.listeners ?? []) this.#deliverEmit(listener, value)
        break
      }
      case FrameKind.Crash: {
        const record = thread.actors.get(env.slot)
        if (record !== undefined) this.#onCrash(record, coerceError(value), false, true)
        break
      }
      default:
        break
    }
    return undefined
  }

  #onUndecodable(thread: ActorThread<ActorRecord>, kind: number, slot: number, corr: number, error: Error): void {
    if (kind === FrameKind.Reply || kind === FrameKind.Fail) this.#settle(corr, error)
    else if (kind === FrameKind.Crash) {
      const record = thread.actors.get(slot)
      if (record !== undefined) this.#onCrash(record, error, false, true)
    } else if (kind === FrameKind.Emit && (thread.actors.get(slot)?.listeners.size ?? 0) > 0) {
      setImmediate(() => this.emit('error', error))
    }
  }

  #onThreadExit(thread: ActorThread<ActorRecord>, code: number, error: Error | undefined): void {
    // Replies the thread wrote before it died are still in its ring: settle them first.
    thread.reader.drain((payload) => this.#onFrame(thread, payload))
    if (this.#threads.get(thread.name) === thread) this.#threads.delete(thread.name)
    if (this.state !== 'open') return
    const cause = error ?? new PulseError('PULSE_ERR_ACTOR_CRASHED', `thread exited with code ${code}`)
    for (const record of thread.actors.values()) {
      if (record.thread !== thread) continue
      record.thread = undefined
      this.#onCrash(record, cause, code === 0 && error === undefined, false)
    }
  }

  /** Rejects the actor's pending asks and restarts it by its policy (in place when its thread lives). */
  #onCrash(record: ActorRecord, error: Error, normal: boolean, inPlace: boolean): void {
    const crash =
      error instanceof ActorCrashedError
        ? error
        : new ActorCrashedError(`actor "${record.name}" crashed: ${error.message}`, { cause: error })
    for (const corr of [...record.pending]) this.#settle(corr, crash)
    if (record.state === 'stopped' || this.state !== 'open') return
    this.emit('crash', { name: record.name, error: crash })
    if (!shouldRestart(record.restart, normal)) {
      record.state = 'stopped'
      return
    }
    const now = Date.now()
    if (!this.#window.record(now)) {
      this.#giveUp(record, crash)
      return
    }
    record.window.record(now)
    record.state = 'restarting'
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer)
        void this.#restart(record, inPlace)
      },
      backoffDelayMs(this.#supervision.backoffMs, record.window.recent(now)),
    )
    this.#timers.add(timer)
  }

  async #restart(record: ActorRecord, inPlace: boolean): Promise<void> {
    if (this.state !== 'open' || record.state === 'stopped') return
    const thread = record.thread
    try {
      if (inPlace && thread?.alive === true) {
        await thread.call((control) => control.restart(record.slot))
        record.state = 'running'
      } else {
        await this.#place(record)
      }
      record.restarts++
      this.emit('restart', { name: record.name, restarts: record.restarts })
    } catch (error) {
      record.restarts++
      this.#onCrash(record, coerceError(error), false, inPlace && record.thread?.alive === true)
    }
  }

  #giveUp(record: ActorRecord, crash: Error): void {
    const { maxRestarts, withinMs } = this.#supervision
    const error = new SupervisorGaveUpError(
      `supervision gave up: more than ${maxRestarts} restarts within ${withinMs} ms (last: actor "${record.name}")`,
      { cause: crash },
    )
    record.state = 'stopped'
    setImmediate(() => this.emit('error', error))
    void this.close().catch(() => undefined)
  }

  /** Graceful close: threads in reverse creation order drain and stop their actors, then end. */
  protected async onClose(): Promise<void> {
    this.#closingOwned = true
    const owned = await this.closeOwned().then(
      () => undefined,
      (error: unknown) => coerceError(error),
    )
    this.#closingOwned = false
    this.#unobserve?.()
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    await Promise.allSettled(this.#starting.values())
    for (const thread of [...this.#threads.values()].reverse()) {
      await thread.call((control) => control.shutdown()).catch(() => undefined)
      await thread.terminate()
    }
    for (const record of this.#actors.values()) record.state = 'stopped'
    await this.#stopPump()
    await this.#handlers?.close()
    if (owned !== undefined) throw owned
  }

  protected override async onDestroy(): Promise<void> {
    this.#unobserve?.()
    await Promise.allSettled([...this.#threads.values()].map((thread) => thread.terminate()))
    await this.#stopPump()
    await this.#handlers?.destroy()
  }

  async #stopPump(): Promise<void> {
    this.#pumping = false
    this.#bell.wake()
    await this.#pump
    for (const corr of [...this.#pending.keys()])
      this.#settle(corr, new ClosedError('the runtime closed before the actor answered'))
  }
}

function validateRuntimeOptions(options: RuntimeOptions): void {
  checkKnownKeys(options, [
    'supervision',
    'mailboxBytes',
    'closeTimeoutMs',
    'latencySampleEvery',
    'spinUs',
    'handlers',
    'signal',
    'metrics',
  ])
  if (options.metrics !== undefined) checkRegistry(options.metrics)
  if (options.mailboxBytes !== undefined) {
    checkInteger(options.mailboxBytes, 'options.mailboxBytes', { min: 64 })
    if (!isPowerOfTwo(options.mailboxBytes))
      throw new InvalidArgumentError(`options.mailboxBytes must be a power of two (got ${options.mailboxBytes})`)
  }
  if (options.closeTimeoutMs !== undefined) checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
  if (options.latencySampleEvery !== undefined)
    checkInteger(options.latencySampleEvery, 'options.latencySampleEvery', { min: 1 })
  if (options.spinUs !== undefined) checkInteger(options.spinUs, 'options.spinUs', { min: 0, max: kMaxSpinUs })
}

/** `value` as a `Runtime` (of this kernel, or one built on it); else `PULSE_ERR_INVALID_ARG` naming `name`. */
export function checkRuntime(value: unknown, name: string): Runtime {
  if (!(value instanceof Runtime))
    throw new InvalidArgumentError(`${name} must be a Runtime`, { data: { option: name } })
  return value
}
