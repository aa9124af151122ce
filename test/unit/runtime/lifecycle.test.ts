import { getEventListeners } from 'node:events'

import { afterEach, describe, expect, it, vi } from 'vitest'

import { ClosedError, CloseTimeoutError, InvalidArgumentError, TimeoutError } from '../../../runtime/errors.js'
import {
  abortable,
  anySignal,
  Closeable,
  CloseableEmitter,
  Destroyable,
  DisposeStack,
  Lifecycle,
  onceAsync,
  sleep,
  throwIfAborted,
  withTimeout,
} from '../../../runtime/lifecycle.js'

/** A promise with its settle functions exposed (Promise.withResolvers is Node 22). */
function deferred<T = void>() {
  let resolve!: (value: T) => void
  let reject!: (error: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Whether `promise` has settled, after letting pending reactions run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  await new Promise((resolve) => setImmediate(resolve))
  return settled
}

function lifecycle(overrides: Partial<ConstructorParameters<typeof Lifecycle>[0]> = {}) {
  const onClose = vi.fn(() => Promise.resolve())
  const onDestroy = vi.fn<(reason?: Error) => void>()
  const lc = new Lifecycle({ name: 'thing "a"', closeTimeoutMs: 1000, onClose, onDestroy, ...overrides })
  return { lc, onClose, onDestroy }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('onceAsync', () => {
  it('runs fn once and hands every caller the same promise', async () => {
    const fn = vi.fn(() => Promise.resolve(42))
    const once = onceAsync(fn)
    const first = once()
    expect(once()).toBe(first)
    await expect(first).resolves.toBe(42)
    expect(once()).toBe(first)
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('memoises a synchronous throw as a rejection', async () => {
    const fn = vi.fn((): Promise<void> => {
      throw new Error('boom')
    })
    const once = onceAsync(fn)
    await expect(once()).rejects.toThrow('boom')
    await expect(once()).rejects.toThrow('boom')
    expect(fn).toHaveBeenCalledTimes(1)
  })
})

describe('DisposeStack', () => {
  it('runs cleanups in reverse order, once', async () => {
    const order: string[] = []
    const stack = new DisposeStack()
    stack.defer(() => order.push('a'))
    stack.defer(async () => {
      await sleep(1) // a cleanup that yields to the timers: the next one must still wait for it
      order.push('b')
    })
    stack.defer(() => order.push('c'))
    const first = stack.disposeAsync()
    expect(stack.disposeAsync()).toBe(first)
    await first
    await stack.disposeAsync()
    expect(order).toEqual(['c', 'b', 'a'])
    expect(stack.disposed).toBe(true)
  })

  it('runs every cleanup when some throw and aggregates the failures in the order they happened', async () => {
    const ran: string[] = []
    const stack = new DisposeStack()
    stack.defer(() => ran.push('a'))
    stack.defer(() => {
      throw new Error('first registered')
    })
    stack.defer(() => ran.push('c'))
    stack.defer(() => Promise.reject(new Error('last registered')))
    const error: unknown = await stack.disposeAsync().catch((e: unknown) => e)
    expect(ran).toEqual(['c', 'a'])
    expect(error).toBeInstanceOf(AggregateError)
    expect((error as AggregateError).errors.map((e: Error) => e.message)).toEqual([
      'last registered',
      'first registered',
    ])
    expect((error as AggregateError).message).toBe('2 cleanups failed')
  })

  it('rethrows a single failure as is, keeping its class and code', async () => {
    const stack = new DisposeStack()
    const failure = new ClosedError('child closed')
    stack.defer(() => Promise.reject(failure))
    stack.defer(() => undefined)
    await expect(stack.disposeAsync()).rejects.toBe(failure)
  })

  it('coerces a thrown non-error into an Error', async () => {
    const stack = new DisposeStack()
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a non-error, on purpose
    stack.defer(() => Promise.reject('text'))
    await expect(stack.disposeAsync()).rejects.toThrow(Error)
  })

  it('refuses new cleanups once disposal started', async () => {
    const stack = new DisposeStack()
    const disposal = stack.disposeAsync()
    expect(() => stack.defer(() => undefined)).toThrow(ClosedError)
    await disposal
  })

  it('uses Symbol.asyncDispose, or else close(), and returns the resource', async () => {
    const order: string[] = []
    const stack = new DisposeStack()
    const closable = { close: () => Promise.resolve(void order.push('close')) }
    const disposable = {
      [Symbol.asyncDispose]: () => Promise.resolve(void order.push('asyncDispose')),
      close: () => Promise.resolve(void order.push('wrong')),
    }
    expect(stack.use(closable)).toBe(closable)
    expect(stack.use(disposable)).toBe(disposable)
    await stack.disposeAsync()
    expect(order).toEqual(['asyncDispose', 'close'])
  })

  it('rejects a resource with neither method', () => {
    const stack = new DisposeStack()
    expect(() => stack.use({} as unknown as AsyncDisposable)).toThrow(InvalidArgumentError)
  })

  it('disposes at the end of an `await using` block', async () => {
    const order: string[] = []
    {
      await using stack = new DisposeStack()
      stack.defer(() => order.push('cleanup'))
      order.push('body')
    }
    expect(order).toEqual(['body', 'cleanup'])
  })
})

describe('Lifecycle', () => {
  it('validates its options', () => {
    const onClose = () => Promise.resolve()
    expect(() => new Lifecycle({ name: '', closeTimeoutMs: 1, onClose })).toThrow(/options\.name/)
    expect(() => new Lifecycle({ name: 'x', closeTimeoutMs: -1, onClose })).toThrow(InvalidArgumentError)
    expect(() => new Lifecycle({ name: 'x', closeTimeoutMs: -1, onClose })).toThrow(/options\.closeTimeoutMs/)
  })

  it('closes once: every close() returns the same promise and onClose runs once', async () => {
    const gate = deferred()
    const onClose = vi.fn(() => gate.promise)
    const { lc } = lifecycle({ onClose })
    expect(lc.state).toBe('open')
    const first = lc.close()
    expect(lc.close()).toBe(first)
    expect(lc.state).toBe('closing')
    gate.resolve()
    await first
    expect(lc.state).toBe('closed')
    expect(lc.close()).toBe(first)
    expect(onClose).toHaveBeenCalledOnce()
    await expect(lc.closed).resolves.toBeUndefined()
  })

  it('calls onClose exactly once across concurrent and later calls', async () => {
    const { lc, onClose, onDestroy } = lifecycle()
    await Promise.all([lc.close(), lc.close(), lc[Symbol.asyncDispose]()])
    await lc.close()
    expect(onClose).toHaveBeenCalledTimes(1)
    expect(onDestroy).not.toHaveBeenCalled()
  })

  it('aborts its signal and refuses calls as soon as close starts', async () => {
    const gate = deferred()
    const { lc } = lifecycle({ onClose: () => gate.promise })
    expect(() => lc.assertOpen('send')).not.toThrow()
    expect(lc.signal.aborted).toBe(false)
    const closing = lc.close()
    expect(lc.signal.aborted).toBe(true)
    expect(lc.signal.reason).toBeInstanceOf(ClosedError)
    expect(() => lc.assertOpen('send')).toThrow(ClosedError)
    expect(() => lc.assertOpen('send')).toThrow('cannot send: thing "a" is closing')
    expect(() => lc.assertOpen()).toThrow(expect.objectContaining({ code: 'PULSE_ERR_CLOSED' }))
    gate.resolve()
    await closing
    expect(() => lc.assertOpen()).toThrow('thing "a" is closed')
  })

  it('propagates an onClose failure from close(), ends closed, and closed resolves with it', async () => {
    const failure = new Error('drain failed')
    const { lc } = lifecycle({ onClose: () => Promise.reject(failure) })
    await expect(lc.close()).rejects.toBe(failure)
    expect(lc.state).toBe('closed')
    await expect(lc.closed).resolves.toBe(failure)
    await expect(lc.close()).rejects.toBe(failure)
  })

  it('treats a synchronous throw of onClose as a failed close', async () => {
    const { lc } = lifecycle({
      onClose: () => {
        throw new Error('sync')
      },
    })
    await expect(lc.close()).rejects.toThrow('sync')
    expect(lc.state).toBe('closed')
  })

  it('bounds close: a hung onClose is destroyed after closeTimeoutMs and close rejects with CloseTimeoutError', async () => {
    vi.useFakeTimers()
    const { lc, onDestroy } = lifecycle({ onClose: () => new Promise<void>(() => {}) })
    const closing = lc.close()
    const outcome = closing.catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(999)
    expect(await isSettledWithFakeTimers(outcome)).toBe(false)
    expect(onDestroy).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    const error = await outcome
    expect(error).toBeInstanceOf(CloseTimeoutError)
    expect(error).toMatchObject({ code: 'PULSE_ERR_CLOSE_TIMEOUT' })
    expect((error as Error).message).toContain('thing "a"')
    expect((error as Error).message).toContain('1000 ms')
    expect(onDestroy).toHaveBeenCalledExactlyOnceWith(error)
    expect(lc.state).toBe('destroyed')
    await expect(lc.closed).resolves.toBe(error)
    expect(lc.close()).toBe(closing)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('clears the close timer when onClose finishes in time', async () => {
    vi.useFakeTimers()
    const { lc } = lifecycle()
    await lc.close()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('attaches an onDestroy failure during a close timeout as the cause', async () => {
    vi.useFakeTimers()
    const destroyFailure = new Error('destroy failed')
    const { lc } = lifecycle({
      onClose: () => new Promise<void>(() => {}),
      onDestroy: () => Promise.reject(destroyFailure),
    })
    const outcome = lc.close().catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(1000)
    const error = await outcome
    expect(error).toBeInstanceOf(CloseTimeoutError)
    expect((error as Error).cause).toBe(destroyFailure)
  })

  it('destroys forcefully and once, aborting the signal with the reason', async () => {
    const { lc, onClose, onDestroy } = lifecycle()
    const reason = new Error('crashed')
    const first = lc.destroy(reason)
    expect(lc.state).toBe('destroyed')
    expect(lc.signal.reason).toBe(reason)
    expect(lc.destroy()).toBe(first)
    await first
    expect(onDestroy).toHaveBeenCalledExactlyOnceWith(reason)
    await expect(lc.closed).resolves.toBe(reason)
    expect(() => lc.assertOpen()).toThrow('thing "a" is destroyed')
    // close() after destroy resolves without running onClose: the object is already down.
    await expect(lc.close()).resolves.toBeUndefined()
    expect(onClose).not.toHaveBeenCalled()
  })

  it('destroys without a reason: the signal aborts with ClosedError and closed resolves to undefined', async () => {
    const { lc } = lifecycle()
    await lc.destroy()
    expect(lc.signal.reason).toBeInstanceOf(ClosedError)
    await expect(lc.closed).resolves.toBeUndefined()
  })

  it('destroy() during a pending close settles that close without waiting for onClose', async () => {
    const { lc, onDestroy } = lifecycle({ onClose: () => new Promise<void>(() => {}) })
    const closing = lc.close()
    expect(await isSettled(closing)).toBe(false)
    await lc.destroy()
    await expect(closing).resolves.toBeUndefined()
    expect(onDestroy).toHaveBeenCalledOnce()
    expect(lc.state).toBe('destroyed')
  })

  it('destroy() after a finished close is a no-op', async () => {
    const { lc, onDestroy } = lifecycle()
    await lc.close()
    await lc.destroy(new Error('late'))
    expect(onDestroy).not.toHaveBeenCalled()
    expect(lc.state).toBe('closed')
    await expect(lc.closed).resolves.toBeUndefined()
  })

  it('rejects destroy() with an onDestroy failure but still resolves closed', async () => {
    const failure = new Error('release failed')
    const { lc } = lifecycle({ onDestroy: () => Promise.reject(failure) })
    await expect(lc.destroy()).rejects.toBe(failure)
    await expect(lc.closed).resolves.toBe(failure)
    await expect(lc.close()).resolves.toBeUndefined()
  })

  it('closes at the end of an `await using` block', async () => {
    const { lc, onClose } = lifecycle()
    {
      await using owned = lc
      owned.assertOpen()
    }
    expect(onClose).toHaveBeenCalledOnce()
    expect(lc.state).toBe('closed')
  })
})

/** `isSettled` for fake timers, where setImmediate is faked: flush microtasks only. */
async function isSettledWithFakeTimers(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  promise.then(
    () => (settled = true),
    () => (settled = true),
  )
  for (let i = 0; i < 10; i++) await Promise.resolve()
  return settled
}

describe('abort helpers', () => {
  it('throwIfAborted throws the reason, and nothing without a signal', () => {
    expect(() => throwIfAborted()).not.toThrow()
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow()
    const reason = new Error('stop')
    expect(() => throwIfAborted(AbortSignal.abort(reason))).toThrow(reason)
  })

  it('abortable rejects with the default AbortError when the signal aborts, and removes its listener', async () => {
    const controller = new AbortController()
    const pending = abortable(new Promise<never>(() => {}), controller.signal)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('abortable rejects with a custom reason, also when already aborted', async () => {
    const reason = new TimeoutError('too slow')
    const controller = new AbortController()
    const pending = abortable(new Promise<never>(() => {}), controller.signal)
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    await expect(abortable(Promise.reject(new Error('ignored')), AbortSignal.abort(reason))).rejects.toBe(reason)
  })

  it('abortable settles like the promise and removes its listener when it does', async () => {
    const controller = new AbortController()
    await expect(abortable(Promise.resolve(7), controller.signal)).resolves.toBe(7)
    await expect(abortable(Promise.reject(new Error('no')), controller.signal)).rejects.toThrow('no')
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    await expect(abortable(Promise.resolve(1))).resolves.toBe(1)
  })

  it('sleep resolves after ms and leaves no listener', async () => {
    vi.useFakeTimers()
    const controller = new AbortController()
    const done = vi.fn()
    const sleeping = sleep(100, controller.signal).then(done)
    await vi.advanceTimersByTimeAsync(99)
    expect(done).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await sleeping
    expect(done).toHaveBeenCalledOnce()
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  it('sleep rejects with the reason on abort and clears its timer', async () => {
    vi.useFakeTimers()
    const controller = new AbortController()
    const sleeping = sleep(10_000, controller.signal)
    expect(vi.getTimerCount()).toBe(1)
    controller.abort()
    await expect(sleeping).rejects.toMatchObject({ name: 'AbortError' })
    expect(vi.getTimerCount()).toBe(0)
    const reason = new Error('already')
    await expect(sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('withTimeout settles like the promise and clears its timer', async () => {
    vi.useFakeTimers()
    await expect(withTimeout(Promise.resolve('ok'), 100, () => new TimeoutError())).resolves.toBe('ok')
    await expect(withTimeout(Promise.reject(new Error('no')), 100, () => new TimeoutError())).rejects.toThrow('no')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('withTimeout rejects with onTimeout() after ms', async () => {
    vi.useFakeTimers()
    const outcome = withTimeout(new Promise<never>(() => {}), 100, () => new TimeoutError('call timed out')).catch(
      (e: unknown) => e,
    )
    await vi.advanceTimersByTimeAsync(100)
    expect(await outcome).toBeInstanceOf(TimeoutError)
  })

  it('anySignal aborts with the first source reason and detaches from the others', () => {
    const a = new AbortController()
    const b = new AbortController()
    const { signal } = anySignal([a.signal, undefined, b.signal])
    expect(signal.aborted).toBe(false)
    const reason = new Error('b')
    b.abort(reason)
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBe(reason)
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0)
  })

  it('anySignal dispose removes its listeners from long-lived sources', () => {
    const a = new AbortController()
    const b = new AbortController()
    const combined = anySignal([a.signal, b.signal])
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(1)
    combined.dispose()
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0)
    expect(getEventListeners(b.signal, 'abort')).toHaveLength(0)
    a.abort()
    expect(combined.signal.aborted).toBe(false)
  })

  it('anySignal handles already-aborted, single and empty inputs', () => {
    const reason = new Error('early')
    expect(anySignal([new AbortController().signal, AbortSignal.abort(reason)]).signal.reason).toBe(reason)
    const only = new AbortController().signal
    expect(anySignal([undefined, only]).signal).toBe(only)
    expect(anySignal([]).signal.aborted).toBe(false)
  })
})

/** A `Closeable` whose releases are spies; `gate` holds `onClose` until it settles. */
class Resource extends Closeable {
  readonly onCloseSpy = vi.fn<() => Promise<void>>(() => Promise.resolve())
  readonly onDestroySpy = vi.fn<(reason: Error | undefined) => void>()

  constructor(closeTimeoutMs = 1000) {
    super({ name: 'resource "r"', closeTimeoutMs })
  }

  send(): void {
    this.assertOpen('send')
  }

  protected onClose(): Promise<void> {
    return this.onCloseSpy()
  }

  protected override onDestroy(reason: Error | undefined): void {
    this.onDestroySpy(reason)
  }
}

/** A `Destroyable` that exposes its `lifecycle` name, as subclasses reach it. */
class Connection extends Destroyable {
  readonly onCloseSpy = vi.fn<() => Promise<void>>(() => Promise.resolve())
  readonly onDestroySpy = vi.fn<(reason: Error | undefined) => Promise<void>>(() => Promise.resolve())

  constructor() {
    super({ name: 'connection "c"', closeTimeoutMs: 1000 })
  }

  get name(): string {
    return this.lifecycle.name
  }

  protected onClose(): Promise<void> {
    return this.onCloseSpy()
  }

  protected override onDestroy(reason: Error | undefined): Promise<void> {
    return this.onDestroySpy(reason)
  }
}

describe('Closeable', () => {
  it('closes once through close() and Symbol.asyncDispose, moving open → closing → closed', async () => {
    const r = new Resource()
    const gate = deferred()
    r.onCloseSpy.mockImplementation(() => gate.promise)
    expect(r.state).toBe('open')
    const first = r.close()
    expect(r.close()).toBe(first)
    expect(r[Symbol.asyncDispose]()).toBe(first)
    expect(r.state).toBe('closing')
    gate.resolve()
    await first
    expect(r.state).toBe('closed')
    expect(r.onCloseSpy).toHaveBeenCalledOnce()
    expect(r.onDestroySpy).not.toHaveBeenCalled()
  })

  it('aborts its signal and refuses calls with ClosedError as soon as close starts', async () => {
    const r = new Resource()
    expect(() => r.send()).not.toThrow()
    const closing = r.close()
    expect(r.signal.aborted).toBe(true)
    expect(r.signal.reason).toBeInstanceOf(ClosedError)
    expect(() => r.send()).toThrow(ClosedError)
    expect(() => r.send()).toThrow('cannot send: resource "r" is closing')
    await closing
  })

  it('rejects close() with the error of onClose, and ends closed anyway', async () => {
    const r = new Resource()
    const failure = new Error('flush failed')
    r.onCloseSpy.mockRejectedValue(failure)
    await expect(r.close()).rejects.toBe(failure)
    expect(r.state).toBe('closed')
    await expect(r.close()).rejects.toBe(failure)
  })

  it('destroys past closeTimeoutMs: onDestroy gets the CloseTimeoutError, which close() rejects with', async () => {
    const r = new Resource(20)
    r.onCloseSpy.mockImplementation(() => new Promise<void>(() => {}))
    const error: unknown = await r.close().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CloseTimeoutError)
    expect((error as Error).message).toMatch(/resource "r" did not close within closeTimeoutMs \(20 ms\)/)
    expect(r.state).toBe('destroyed')
    expect(r.onDestroySpy).toHaveBeenCalledExactlyOnceWith(error)
  })

  it('runs onClose through an overriding close(), also from Symbol.asyncDispose', async () => {
    const seen: string[] = []
    class Drained extends Resource {
      override close(mode = 'dispose'): Promise<void> {
        if (this.state === 'open') seen.push(mode)
        return super.close()
      }
    }
    const d = new Drained()
    await d[Symbol.asyncDispose]()
    await d.close('late')
    expect(seen).toEqual(['dispose'])
    expect(d.onCloseSpy).toHaveBeenCalledOnce()
  })
})

describe('Destroyable', () => {
  it('closed resolves with undefined after a clean close and never rejects', async () => {
    const c = new Connection()
    await c.close()
    await expect(c.closed).resolves.toBeUndefined()
    await c.destroy(new Error('after'))
    expect(c.onDestroySpy).not.toHaveBeenCalled()
    expect(c.state).toBe('closed')
  })

  it('destroy(reason) runs onDestroy once without waiting for a pending close, which then resolves', async () => {
    const c = new Connection()
    c.onCloseSpy.mockImplementation(() => new Promise<void>(() => {}))
    const closing = c.close()
    const reason = new Error('crashed')
    const first = c.destroy(reason)
    expect(c.destroy()).toBe(first)
    await first
    await expect(closing).resolves.toBeUndefined()
    expect(c.state).toBe('destroyed')
    expect(c.signal.aborted).toBe(true)
    expect(c.onDestroySpy).toHaveBeenCalledExactlyOnceWith(reason)
    await expect(c.closed).resolves.toBe(reason)
  })

  it('rejects destroy() with the error of onDestroy; closed resolves with it', async () => {
    const c = new Connection()
    const failure = new Error('socket stuck')
    c.onDestroySpy.mockRejectedValue(failure)
    await expect(c.destroy()).rejects.toBe(failure)
    await expect(c.closed).resolves.toBe(failure)
    expect(c.name).toBe('connection "c"')
  })
})

describe('CloseableEmitter', () => {
  class Supervisor extends CloseableEmitter<{ stopped: [string] }> {
    constructor() {
      super({ name: 'supervisor', closeTimeoutMs: 1000 })
    }

    protected onClose(): Promise<void> {
      this.emit('stopped', 'gracefully')
      return Promise.resolve()
    }
  }

  it('is an EventEmitter with the close contract', async () => {
    const s = new Supervisor()
    const stopped = vi.fn()
    s.on('stopped', stopped)
    const first = s.close()
    expect(s[Symbol.asyncDispose]()).toBe(first)
    expect(s.signal.aborted).toBe(true)
    await first
    expect(s.state).toBe('closed')
    expect(stopped).toHaveBeenCalledExactlyOnceWith('gracefully')
  })
})
