/**
 * The close/dispose contract every long-lived object follows, and abort helpers.
 *
 * A long-lived object extends `Closeable` (or `Destroyable`, or `CloseableEmitter` when it is an
 * EventEmitter), which owns a `Lifecycle`: the subclass supplies `onClose()` and, when it holds
 * something to drop at once, `onDestroy(reason)`. The `Lifecycle`'s states:
 *
 *              close()                     onClose settles (resolves or throws)
 *     open ───────────────▶ closing ──────────────────────────────────────────▶ closed
 *       │                     │
 *       │ destroy()           │ destroy(), or closeTimeoutMs elapses (close() then rejects
 *       ▼                     ▼ with CloseTimeoutError after destroying)
 *   destroyed ◀───────────────┘
 *
 * - Intake stops the moment `close()` or `destroy()` is called: `assertOpen()` throws `ClosedError` in
 *   every state but `open`, and `signal` aborts (with a `ClosedError`, or destroy's reason) so that
 *   internal loops and waits stop.
 * - `close()` is graceful, idempotent and memoised: every call returns the same promise. It races
 *   `onClose` against `closeTimeoutMs`; on timeout it escalates to `destroy()` and rejects with
 *   `CloseTimeoutError`. An error thrown by `onClose` is rejected from `close()`; the state is `closed`
 *   anyway, since nothing more can be done gracefully.
 * - `destroy(reason?)` is forceful and idempotent: it runs `onDestroy` (once) without waiting for a
 *   pending `onClose`. The state becomes `destroyed` at once; the promise settles when `onDestroy` has.
 *   A `close()` pending when `destroy()` is called resolves once `destroy()` has finished; `close()`
 *   called after `destroy()` does the same. (Unlike undici, it does not reject: the object is down,
 *   which is what `close()` promises, and a parent closing its children should not fail because one
 *   of them crashed earlier. Why it went down is in `closed`.) `destroy()` after `closed` is a no-op.
 * - `closed` never rejects. It resolves once the object is `closed` or `destroyed` (and `onDestroy`
 *   finished), with `undefined` after a clean close, else the error: `onClose`'s, the
 *   `CloseTimeoutError`, destroy's reason, or `onDestroy`'s.
 */
import { EventEmitter } from 'node:events'

import { ClosedError, CloseTimeoutError, coerceError, InvalidArgumentError } from './errors.js'
import { checkDurationMs, checkFunction, checkString } from './options.js'

function noop(): void {}

/** Memoises an async function: the first call runs `fn`, every call returns that same promise. */
export function onceAsync<T>(fn: () => Promise<T>): () => Promise<T> {
  let promise: Promise<T> | undefined
  // The executor turns a synchronous throw of `fn` into the memoised rejection.
  return () => (promise ??= new Promise<T>((resolve) => resolve(fn())))
}

type Cleanup = () => unknown

/**
 * A stack of async cleanups, for Node 20 which lacks `AsyncDisposableStack` (Node 24).
 *
 * `disposeAsync()` runs every cleanup, last deferred first, one at a time, even when some throw. One
 * failure is rethrown as is (so its `code` stays matchable); several are thrown as one `AggregateError`
 * listing them in the order they happened. It is memoised: later calls return the same promise.
 * `defer`/`use` after disposal started throw `ClosedError`.
 */
export class DisposeStack implements AsyncDisposable {
  #cleanups: Cleanup[] = []
  #disposal: Promise<void> | undefined

  get disposed(): boolean {
    return this.#disposal !== undefined
  }

  defer(fn: () => unknown): void {
    if (this.#disposal !== undefined) throw new ClosedError('DisposeStack is disposed; cannot defer a cleanup')
    this.#cleanups.push(fn)
  }

  /** Registers `resource`'s `Symbol.asyncDispose` (or else its `close()`) and returns the resource. */
  use<T extends { close(): Promise<void> } | AsyncDisposable>(resource: T): T {
    if (Symbol.asyncDispose in resource && typeof resource[Symbol.asyncDispose] === 'function') {
      this.defer(() => resource[Symbol.asyncDispose]())
    } else if ('close' in resource && typeof resource.close === 'function') {
      this.defer(() => resource.close())
    } else {
      throw new InvalidArgumentError('resource has neither [Symbol.asyncDispose]() nor close()')
    }
    return resource
  }

  disposeAsync(): Promise<void> {
    return (this.#disposal ??= this.#run())
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.disposeAsync()
  }

  async #run(): Promise<void> {
    const cleanups = this.#cleanups.reverse()
    this.#cleanups = []
    const failures: unknown[] = []
    for (const cleanup of cleanups) {
      try {
        await cleanup()
      } catch (error) {
        failures.push(error)
      }
    }
    if (failures.length === 1) throw coerceError(failures[0])
    if (failures.length > 1) throw new AggregateError(failures.map(coerceError), `${failures.length} cleanups failed`)
  }
}

export type LifecycleState = 'open' | 'closing' | 'closed' | 'destroyed'

export interface LifecycleOptions {
  /** Names the object in error messages, e.g. `'actor "billing"'`, `'Stream "orders"'`. */
  name: string
  /** The bound of a graceful close, in ms. */
  closeTimeoutMs: number
  /** The graceful close: drain, then release children. Runs once. */
  onClose: () => Promise<void>
  /** The forceful release. Runs at most once, also when `onClose` is still running. */
  onDestroy?: (reason?: Error) => Promise<void> | void
}

type CloseOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'failed'; readonly error: Error }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'destroyed' }

/** The state machine described at the top of this module. */
export class Lifecycle implements AsyncDisposable {
  readonly name: string
  /** Never rejects; see the module comment. */
  readonly closed: Promise<Error | undefined>

  readonly #closeTimeoutMs: number
  readonly #onClose: () => Promise<void>
  readonly #onDestroy: ((reason?: Error) => Promise<void> | void) | undefined
  readonly #controller = new AbortController()
  #state: LifecycleState = 'open'
  #resolveClosed: (error: Error | undefined) => void = noop
  #closing: Promise<void> | undefined
  #destroying: Promise<void> | undefined
  #onDestroyStarted: () => void = noop
  readonly #destroyStarted: Promise<void>

  constructor(options: LifecycleOptions) {
    this.name = checkString(options.name, 'options.name', { nonEmpty: true })
    this.#closeTimeoutMs = checkDurationMs(options.closeTimeoutMs, 'options.closeTimeoutMs')
    checkFunction(options.onClose, 'options.onClose')
    if (options.onDestroy !== undefined) checkFunction(options.onDestroy, 'options.onDestroy')
    this.#onClose = options.onClose
    this.#onDestroy = options.onDestroy
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve))
    this.#destroyStarted = new Promise((resolve) => (this.#onDestroyStarted = resolve))
  }

  get state(): LifecycleState {
    return this.#state
  }

  /** Aborts when `close()` or `destroy()` starts. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** Throws `ClosedError` unless open. `what` names the refused call: `assertOpen('send')`. */
  assertOpen(what?: string): void {
    if (this.#state === 'open') return
    const message = `${this.name} is ${this.#state}`
    throw new ClosedError(what === undefined ? message : `cannot ${what}: ${message}`, {
      data: { name: this.name, state: this.#state },
    })
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing
    if (this.#destroying !== undefined) {
      this.#closing = this.#destroying.then(noop, noop)
    } else {
      this.#closing = this.#runClose()
    }
    return this.#closing
  }

  destroy(reason?: Error): Promise<void> {
    if (this.#destroying !== undefined) return this.#destroying
    if (this.#state === 'closed') return (this.#destroying = Promise.resolve())
    this.#destroying = this.#runDestroy(reason)
    return this.#destroying
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  async #runClose(): Promise<void> {
    this.#state = 'closing'
    this.#controller.abort(new ClosedError(`${this.name} is closing`, { data: { name: this.name } }))
    const onClose = new Promise<void>((resolve) => resolve(this.#onClose()))
    // After a timeout or destroy nobody awaits onClose any more; its late failure has no observer.
    onClose.catch(noop)
    let timer: NodeJS.Timeout | undefined
    const outcome = await Promise.race<CloseOutcome>([
      onClose.then(
        () => ({ kind: 'done' }),
        (error: unknown) => ({ kind: 'failed', error: coerceError(error) }),
      ),
      new Promise((resolve) => (timer = setTimeout(() => resolve({ kind: 'timeout' }), this.#closeTimeoutMs))),
      this.#destroyStarted.then(() => ({ kind: 'destroyed' })),
    ])
    clearTimeout(timer)
    switch (outcome.kind) {
      case 'done':
      case 'failed': {
        const error = outcome.kind === 'failed' ? outcome.error : undefined
        if (this.#state === 'closing') {
          this.#state = 'closed'
          this.#resolveClosed(error)
        }
        if (error !== undefined) throw error
        return
      }
      case 'destroyed':
        return this.#destroying?.then(noop, noop)
      case 'timeout': {
        const error = new CloseTimeoutError(
          `${this.name} did not close within closeTimeoutMs (${this.#closeTimeoutMs} ms) and was destroyed`,
          { data: { name: this.name, closeTimeoutMs: this.#closeTimeoutMs } },
        )
        try {
          await this.destroy(error)
        } catch (destroyError) {
          Object.defineProperty(error, 'cause', { value: destroyError, writable: true, configurable: true })
        }
        throw error
      }
    }
  }

  async #runDestroy(reason: Error | undefined): Promise<void> {
    this.#state = 'destroyed'
    if (!this.#controller.signal.aborted) {
      this.#controller.abort(reason ?? new ClosedError(`${this.name} was destroyed`, { data: { name: this.name } }))
    }
    this.#onDestroyStarted()
    let failure: Error | undefined
    try {
      await this.#onDestroy?.(reason)
    } catch (error) {
      failure = coerceError(error)
    }
    this.#resolveClosed(reason ?? failure)
    if (failure !== undefined) throw failure
  }
}

/** How a `Closeable` is named and bounded; the subclass supplies `onClose` and `onDestroy`. */
export interface CloseableOptions {
  /** Names the object in error messages, e.g. `'Stream "orders"'`. */
  name: string
  /**
   * The bound of a graceful close, in ms. An object whose parts bound their own close (a wrapper of an
   * `HttpServer`) passes `kMaxTimerMs`.
   */
  closeTimeoutMs: number
}

/**
 * The base of a long-lived object: it owns a `Lifecycle` and gives the object `close()`,
 * `[Symbol.asyncDispose]()`, `state` and `signal`. The subclass supplies `onClose()` (the graceful
 * release, run once) and may override `onDestroy(reason)` (the forceful one, run at most once, also
 * while `onClose` runs); it refuses calls with `assertOpen(what)`. `Destroyable` adds a public
 * `destroy(reason)` and `closed`; an object whose `destroy` or `closed` means something else (a map's
 * `destroy()` deletes its data, `closed` is a boolean) extends `Closeable` and reaches them through
 * `lifecycle`.
 */
export abstract class Closeable implements AsyncDisposable {
  readonly #lifecycle: Lifecycle

  protected constructor(options: CloseableOptions) {
    this.#lifecycle = new Lifecycle({
      name: options.name,
      closeTimeoutMs: options.closeTimeoutMs,
      onClose: () => this.onClose(),
      onDestroy: (reason) => this.onDestroy(reason),
    })
  }

  /** `open` until `close()` or `destroy()` starts; see the state machine at the top of lifecycle.ts. */
  get state(): LifecycleState {
    return this.#lifecycle.state
  }

  /** Aborts when `close()` or `destroy()` starts: internal loops and waits stop on it. */
  get signal(): AbortSignal {
    return this.#lifecycle.signal
  }

  /** Graceful, idempotent and memoised, bounded by `closeTimeoutMs` (then destroys and rejects). */
  close(): Promise<void> {
    return this.#lifecycle.close()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** The state machine itself: its `closed`, `destroy(reason)` and `name`. */
  protected get lifecycle(): Lifecycle {
    return this.#lifecycle
  }

  /** Throws `ClosedError` unless open. `what` names the refused call: `assertOpen('send')`. */
  protected assertOpen(what?: string): void {
    this.#lifecycle.assertOpen(what)
  }

  /** The graceful release: drain, then release children. Runs once, bounded by `closeTimeoutMs`. */
  protected abstract onClose(): Promise<void>

  /** The forceful release. Runs at most once, also while `onClose` is still running. */
  protected onDestroy(_reason: Error | undefined): Promise<void> | void {}
}

/** A `Closeable` with a public forceful `destroy(reason)` and a `closed` promise. */
export abstract class Destroyable extends Closeable {
  /** Resolves once closed or destroyed: `undefined` after a clean close, else why. Never rejects. */
  get closed(): Promise<Error | undefined> {
    return this.lifecycle.closed
  }

  /** Forceful and idempotent: runs `onDestroy(reason)` without waiting for a pending close. */
  destroy(reason?: Error): Promise<void> {
    return this.lifecycle.destroy(reason)
  }
}

/**
 * `Closeable` for an object that is an EventEmitter (a class has one base): the same members, over
 * `EventEmitter<Events>`.
 */
export abstract class CloseableEmitter<Events extends Record<keyof Events, unknown[]>>
  extends EventEmitter<Events>
  implements AsyncDisposable
{
  readonly #lifecycle: Lifecycle

  protected constructor(options: CloseableOptions) {
    super()
    this.#lifecycle = new Lifecycle({
      name: options.name,
      closeTimeoutMs: options.closeTimeoutMs,
      onClose: () => this.onClose(),
      onDestroy: (reason) => this.onDestroy(reason),
    })
  }

  /** `open` until `close()` or `destroy()` starts; see the state machine at the top of lifecycle.ts. */
  get state(): LifecycleState {
    return this.#lifecycle.state
  }

  /** Aborts when `close()` or `destroy()` starts: internal loops and waits stop on it. */
  get signal(): AbortSignal {
    return this.#lifecycle.signal
  }

  /** Graceful, idempotent and memoised, bounded by `closeTimeoutMs` (then destroys and rejects). */
  close(): Promise<void> {
    return this.#lifecycle.close()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** The state machine itself: its `closed`, `destroy(reason)` and `name`. */
  protected get lifecycle(): Lifecycle {
    return this.#lifecycle
  }

  /** Throws `ClosedError` unless open. `what` names the refused call: `assertOpen('send')`. */
  protected assertOpen(what?: string): void {
    this.#lifecycle.assertOpen(what)
  }

  /** The graceful release: drain, then release children. Runs once, bounded by `closeTimeoutMs`. */
  protected abstract onClose(): Promise<void>

  /** The forceful release. Runs at most once, also while `onClose` is still running. */
  protected onDestroy(_reason: Error | undefined): Promise<void> | void {}
}

/** Throws `signal.reason` if `signal` has aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  signal?.throwIfAborted()
}

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as `signal` aborts (the promise itself
 * runs on; its later failure is ignored). The abort listener is removed once either happens.
 */
export function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    promise.catch(noop)
    return Promise.reject(signal.reason as Error)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.finally(() => signal.removeEventListener('abort', onAbort)).then(resolve, reject)
  })
}

/** Resolves after `ms`, or rejects with `signal.reason` when `signal` aborts first (clearing the timer). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error)
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason as Error)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Settles like `promise`, or rejects with `onTimeout()` after `ms`. The timer is cleared once settled. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms)
    promise.finally(() => clearTimeout(timer)).then(resolve, reject)
  })
}

/**
 * A signal that aborts when any of `signals` does, with that signal's reason. `dispose()` removes the
 * listeners it put on the sources; call it when the operation ends. (Node's `AbortSignal.any` would do,
 * but it leaks dependants of a long-lived source, such as a `Lifecycle.signal`: nodejs/node#55351,
 * #54614.) With one source, that source is returned as is.
 */
export function anySignal(signals: readonly (AbortSignal | undefined)[]): { signal: AbortSignal; dispose(): void } {
  const sources = signals.filter((signal) => signal !== undefined)
  const [only] = sources
  if (only !== undefined && sources.length === 1) return { signal: only, dispose: noop }
  const controller = new AbortController()
  const settled = sources.find((signal) => signal.aborted)
  if (settled !== undefined) {
    controller.abort(settled.reason)
    return { signal: controller.signal, dispose: noop }
  }
  const dispose = () => {
    for (const source of sources) source.removeEventListener('abort', onAbort)
  }
  const onAbort = (event: Event) => {
    dispose()
    controller.abort((event.target as AbortSignal).reason)
  }
  for (const source of sources) source.addEventListener('abort', onAbort)
  return { signal: controller.signal, dispose }
}
