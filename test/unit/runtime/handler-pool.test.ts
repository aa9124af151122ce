import { threadId as mainThreadId } from 'node:worker_threads'

import { describe, expect, it } from 'vitest'

import {
  ActorCrashedError,
  ActorStartError,
  ClosedError,
  CloseTimeoutError,
  InvalidArgumentError,
  LeaseLostError,
  QueueFullError,
  TimeoutError,
} from '../../../runtime/errors.js'
import {
  DEFAULT_HANDLER_POOL_OPTIONS,
  HandlerPool,
  type HandlerPoolOptions,
  type HandlerRef,
  resolveHandlerPoolOptions,
} from '../../../runtime/handler-pool.js'
import { RELEASE, SAW, STARTED, THREAD } from '../../fixtures/handlers/control.js'

const fixture = (name: string) => new URL(`../../fixtures/handlers/${name}`, import.meta.url)
const cpu = fixture('cpu.ts')
const control = fixture('control.ts')
const ref = (module: URL, name?: string): HandlerRef => (name === undefined ? { module } : { module, export: name })

/** Shared flags for the control fixtures (see test/fixtures/handlers/control.ts). */
function newFlags(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT))
}

/** Resolves once `flags[index]` is no longer `from`. */
async function changed(flags: Int32Array, index: number, from = 0): Promise<number> {
  while (Atomics.load(flags, index) === from) await Atomics.waitAsync(flags, index, from).value
  return Atomics.load(flags, index)
}

function release(flags: Int32Array): void {
  Atomics.store(flags, RELEASE, 1)
  Atomics.notify(flags, RELEASE)
}

/** Runs `body` with a pool and always closes the pool. */
async function withPool(options: HandlerPoolOptions, body: (pool: HandlerPool) => Promise<void>): Promise<void> {
  const pool = new HandlerPool(options)
  try {
    await body(pool)
  } finally {
    await pool.close()
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('HandlerPool: running handlers', () => {
  it('runs a CPU-bound default export on another thread', async () => {
    await withPool({}, async (pool) => {
      const result = await pool.run<{ value: number; threadId: number }>(ref(cpu), 20)
      expect(result.value).toBe(6765)
      expect(result.threadId).not.toBe(mainThreadId)
    })
  })

  it('runs named exports, and takes a module URL string or an absolute path', async () => {
    await withPool({}, async (pool) => {
      await expect(pool.run(ref(cpu, 'square'), 7)).resolves.toBe(49)
      await expect(pool.run({ module: cpu.href, export: 'square' }, 8)).resolves.toBe(64)
      await expect(pool.run({ module: cpu.pathname, export: 'square' }, 9)).resolves.toBe(81)
    })
  })

  it('runs many tasks concurrently on at most maxThreads threads', async () => {
    await withPool({ maxThreads: 2 }, async (pool) => {
      const inputs = Array.from({ length: 48 }, (_, i) => 10 + (i % 12))
      const results = await Promise.all(inputs.map((n) => pool.run<{ value: number; threadId: number }>(ref(cpu), n)))
      const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2))
      expect(results.map((r) => r.value)).toEqual(inputs.map(fib))
      const threads = new Set(results.map((r) => r.threadId))
      expect(threads.size).toBeGreaterThanOrEqual(1)
      expect(threads.size).toBeLessThanOrEqual(2)
      expect(threads.has(mainThreadId)).toBe(false)
      expect(pool.stats().threads).toBeLessThanOrEqual(2)
    })
  })

  it('spreads tasks over idle threads before it packs a busy one', async () => {
    // piscina's default balancer would put the second task on the first, busy thread.
    await withPool({ maxThreads: 2, concurrentTasksPerWorker: 16 }, async (pool) => {
      const a = newFlags()
      const b = newFlags()
      const first = pool.run<number>(ref(control, 'hold'), { flags: a })
      const second = pool.run<number>(ref(control, 'hold'), { flags: b })
      await Promise.all([changed(a, STARTED), changed(b, STARTED)])
      expect(Atomics.load(a, THREAD)).not.toBe(Atomics.load(b, THREAD))
      release(a)
      release(b)
      await Promise.all([first, second])
    })
  })

  it('starts threads on demand with minThreads 0', async () => {
    await withPool({ minThreads: 0 }, async (pool) => {
      expect(pool.stats().threads).toBe(0)
      await expect(pool.run(ref(cpu, 'square'), 12)).resolves.toBe(144)
      expect(pool.stats().threads).toBe(1)
    })
  })

  it('reports stats', async () => {
    await withPool({}, async (pool) => {
      for (let i = 0; i < 5; i++) await pool.run(ref(cpu), 15)
      const stats = pool.stats()
      expect(stats.completed).toBe(5)
      expect(stats.threads).toBeGreaterThanOrEqual(1)
      expect(stats.queueSize).toBe(0)
      expect(stats.runTimeUs.p50).toBeGreaterThan(0)
      expect(stats.runTimeUs.p99).toBeGreaterThanOrEqual(stats.runTimeUs.p50)
      expect(stats.utilization).toBeGreaterThan(0)
    })
  })
})

describe('HandlerPool: errors', () => {
  const throwing = fixture('throwing.ts')

  it('rebuilds a Pulse error thrown by the handler with its class, code and data', async () => {
    await withPool({}, async (pool) => {
      const error = await rejection(pool.run(ref(throwing, 'leaseLost'), { jobId: 'j1' }))
      expect(error).toBeInstanceOf(LeaseLostError)
      expect(error).toMatchObject({
        code: 'PULSE_ERR_JOB_LEASE_LOST',
        data: { jobId: 'j1' },
        message: 'lease lost for j1',
      })
    })
  })

  it('keeps the name and code of other errors, sync or async', async () => {
    await withPool({}, async (pool) => {
      await expect(pool.run(ref(throwing, 'rangeWithCode'), null)).rejects.toMatchObject({
        name: 'RangeError',
        code: 'E_CUSTOM',
        message: 'out of range',
      })
      await expect(pool.run(ref(throwing, 'rejectsLater'), null)).rejects.toMatchObject({
        name: 'TypeError',
        message: 'async failure',
      })
    })
  })

  it('rejects with ActorStartError when the module cannot load or lacks the export', async () => {
    await withPool({}, async (pool) => {
      const missing = await rejection(pool.run(ref(fixture('does-not-exist.ts')), null))
      expect(missing).toBeInstanceOf(ActorStartError)
      const broken = await rejection(pool.run(ref(fixture('broken.ts')), null))
      expect(broken).toBeInstanceOf(ActorStartError)
      expect((broken as Error).message).toContain('broken at load')
      expect((broken as Error).cause).toMatchObject({ message: 'broken at load' })
      const noExport = await rejection(pool.run(ref(cpu, 'nope'), null))
      expect(noExport).toBeInstanceOf(ActorStartError)
      expect(noExport).toMatchObject({ data: { module: cpu.href, export: 'nope' } })
      await expect(pool.run(ref(cpu, 'notAFunction'), null)).rejects.toBeInstanceOf(ActorStartError)
      // The pool still serves.
      await expect(pool.run(ref(cpu, 'square'), 3)).resolves.toBe(9)
    })
  })

  it('rejects with ActorCrashedError when the handler ends its thread, and keeps serving', async () => {
    await withPool({ maxThreads: 1 }, async (pool) => {
      const crash = await rejection(pool.run(ref(fixture('exit.ts')), 3))
      expect(crash).toBeInstanceOf(ActorCrashedError)
      expect((crash as Error).message).toContain('code: 3')
      await expect(pool.run(ref(cpu, 'square'), 4)).resolves.toBe(16)
    })
  })

  it('rejects a payload that cannot be cloned with InvalidArgumentError', async () => {
    await withPool({}, async (pool) => {
      await expect(pool.run(ref(cpu, 'square'), () => 1)).rejects.toBeInstanceOf(InvalidArgumentError)
      await expect(pool.run(ref(cpu, 'square'), 5)).resolves.toBe(25)
    })
  })
})

describe('HandlerPool: abort and timeout', () => {
  it('aborts a running handler through its signal, with the reason; the thread stays', async () => {
    await withPool({ maxThreads: 1 }, async (pool) => {
      const flags = newFlags()
      const controller = new AbortController()
      const task = pool.run(ref(control, 'waitForAbort'), { flags }, { signal: controller.signal })
      await changed(flags, STARTED)
      controller.abort()
      const error = await rejection(task)
      expect(error).toBe(controller.signal.reason)
      expect(error).toMatchObject({ name: 'AbortError' })
      expect(await changed(flags, SAW)).toBe(1)
      // The handler stopped by itself, so its thread was not terminated.
      await expect(pool.run(ref(cpu, 'whereAmI'), null)).resolves.toBe(Atomics.load(flags, THREAD))
    })
  })

  it('terminates the thread of a handler that ignores its signal, after abortGraceMs', async () => {
    await withPool({ maxThreads: 1, abortGraceMs: 20 }, async (pool) => {
      const flags = newFlags()
      const controller = new AbortController()
      const task = pool.run(ref(control, 'spin'), { flags }, { signal: controller.signal })
      await changed(flags, STARTED)
      controller.abort()
      await expect(task).rejects.toMatchObject({ name: 'AbortError' })
      // The only thread was busy spinning: this runs once it has been replaced.
      const thread = await pool.run<number>(ref(cpu, 'whereAmI'), null)
      expect(thread).not.toBe(Atomics.load(flags, THREAD))
      release(flags)
    })
  })

  it('drops an aborted task that has not started', async () => {
    await withPool({ maxThreads: 1 }, async (pool) => {
      const running = newFlags()
      const queued = newFlags()
      const controller = new AbortController()
      // A cancellable task gets a thread to itself, so the second one waits for the first.
      const first = pool.run(ref(control, 'hold'), { flags: running }, { signal: new AbortController().signal })
      await changed(running, STARTED)
      const second = pool.run(ref(control, 'hold'), { flags: queued }, { signal: controller.signal })
      controller.abort(new Error('not needed'))
      await expect(second).rejects.toThrow('not needed')
      release(running)
      await first
      await expect(pool.run(ref(cpu, 'square'), 6)).resolves.toBe(36)
      expect(Atomics.load(queued, STARTED)).toBe(0)
    })
  })

  it('skips a task whose timeout expires before it starts', async () => {
    await withPool({ maxThreads: 1 }, async (pool) => {
      const busy = newFlags()
      const late = newFlags()
      const first = pool.run(ref(control, 'hold'), { flags: busy }, { signal: new AbortController().signal })
      await changed(busy, STARTED)
      await expect(pool.run(ref(control, 'hold'), { flags: late }, { timeoutMs: 1 })).rejects.toBeInstanceOf(
        TimeoutError,
      )
      release(busy)
      await first
      await expect(pool.run(ref(cpu, 'square'), 3)).resolves.toBe(9)
      expect(Atomics.load(late, STARTED)).toBe(0)
    })
  })

  it('rejects at once when the signal has already aborted', async () => {
    await withPool({}, async (pool) => {
      const flags = newFlags()
      await expect(pool.run(ref(control, 'hold'), { flags }, { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: 'AbortError',
      })
      expect(Atomics.load(flags, STARTED)).toBe(0)
    })
  })

  it('rejects with TimeoutError after timeoutMs and aborts the handler with it', async () => {
    await withPool({}, async (pool) => {
      // Warm the thread and the module, so that the handler starts well within the timeout (a task
      // that times out before it starts never runs, and would never see its signal).
      await pool.run(ref(control, 'hold'), { flags: newFlags().fill(1) })
      const flags = newFlags()
      const error = await rejection(pool.run(ref(control, 'waitForAbort'), { flags }, { timeoutMs: 250 }))
      expect(error).toBeInstanceOf(TimeoutError)
      expect(error).toMatchObject({ data: { timeoutMs: 250, export: 'waitForAbort' } })
      expect(await changed(flags, SAW)).toBe(2)
    })
  })

  it('resolves a cancellable task that finishes in time', async () => {
    await withPool({}, async (pool) => {
      const controller = new AbortController()
      await expect(pool.run(ref(cpu, 'square'), 11, { signal: controller.signal, timeoutMs: 10_000 })).resolves.toBe(
        121,
      )
    })
  })
})

describe('HandlerPool: options and arguments', () => {
  it.each<[HandlerPoolOptions, string]>([
    [{ minThreads: -1 }, 'options.minThreads'],
    [{ maxThreads: 0 }, 'options.maxThreads'],
    [{ concurrentTasksPerWorker: 1.5 }, 'options.concurrentTasksPerWorker'],
    [{ idleTimeoutMs: -1 }, 'options.idleTimeoutMs'],
    [{ maxQueue: 0 }, 'options.maxQueue'],
    [{ closeTimeoutMs: Number.NaN }, 'options.closeTimeoutMs'],
    [{ abortGraceMs: '1' as unknown as number }, 'options.abortGraceMs'],
    [{ resourceLimits: { maxOldGenerationSizeMb: -1 } }, 'options.resourceLimits.maxOldGenerationSizeMb'],
    [{ resourceLimits: { heapMb: 1 } as never }, 'options.resourceLimits.heapMb'],
    [{ onError: 'log' as never }, 'options.onError'],
    [{ maxThread: 2 } as never, 'options.maxThread'],
    [{ minThreads: 3, maxThreads: 2 }, 'options.minThreads'],
  ])('rejects %o naming %s', (options, name) => {
    expect(() => new HandlerPool(options)).toThrow(InvalidArgumentError)
    expect(() => new HandlerPool(options)).toThrow(name)
  })

  it('resolves defaults and reconciles minThreads with maxThreads', () => {
    expect(resolveHandlerPoolOptions()).toMatchObject(DEFAULT_HANDLER_POOL_OPTIONS)
    expect(DEFAULT_HANDLER_POOL_OPTIONS.minThreads).toBeLessThanOrEqual(DEFAULT_HANDLER_POOL_OPTIONS.maxThreads)
    expect(resolveHandlerPoolOptions({ minThreads: 64 })).toMatchObject({ minThreads: 64, maxThreads: 64 })
    expect(resolveHandlerPoolOptions({ maxThreads: 1 })).toMatchObject({ minThreads: 1, maxThreads: 1 })
    expect(resolveHandlerPoolOptions({ minThreads: 0, maxQueue: Number.POSITIVE_INFINITY })).toMatchObject({
      minThreads: 0,
      maxQueue: Infinity,
    })
    expect(resolveHandlerPoolOptions({ maxThreads: 4 }, 'options.handlers')).toMatchObject({ maxThreads: 4 })
    expect(() => resolveHandlerPoolOptions({ maxThreads: 0 }, 'options.handlers')).toThrow(
      'options.handlers.maxThreads',
    )
    expect(Object.isFrozen(resolveHandlerPoolOptions({}))).toBe(true)
  })

  it('validates the arguments of run', async () => {
    await withPool({}, async (pool) => {
      await expect(pool.run({ module: 'relative/cpu.ts' }, 1)).rejects.toThrow('handler.module')
      await expect(pool.run({ module: 42 as never }, 1)).rejects.toThrow('handler.module')
      await expect(pool.run({ module: cpu, export: '' }, 1)).rejects.toThrow('handler.export')
      await expect(pool.run(ref(cpu, 'square'), 1, { timeoutMs: 0 })).rejects.toThrow('options.timeoutMs')
      await expect(pool.run(ref(cpu, 'square'), 1, { signal: {} as AbortSignal })).rejects.toThrow('options.signal')
      await expect(pool.run(null as never, 1)).rejects.toBeInstanceOf(InvalidArgumentError)
    })
  })

  it('rejects with QueueFullError when maxQueue tasks are waiting', async () => {
    await withPool({ maxThreads: 1, concurrentTasksPerWorker: 1, maxQueue: 1 }, async (pool) => {
      const busy = newFlags()
      const waiting = newFlags()
      release(waiting)
      const first = pool.run(ref(control, 'hold'), { flags: busy })
      await changed(busy, STARTED)
      const second = pool.run(ref(control, 'hold'), { flags: waiting })
      await expect(pool.run(ref(cpu, 'square'), 2)).rejects.toBeInstanceOf(QueueFullError)
      release(busy)
      await Promise.all([first, second])
    })
  })
})

describe('HandlerPool: close', () => {
  it('is idempotent and memoised; run after close rejects with ClosedError', async () => {
    const pool = new HandlerPool()
    await expect(pool.run(ref(cpu, 'square'), 2)).resolves.toBe(4)
    const closing = pool.close()
    expect(pool.close()).toBe(closing)
    await closing
    await expect(pool.close()).resolves.toBeUndefined()
    await expect(pool.run(ref(cpu, 'square'), 2)).rejects.toBeInstanceOf(ClosedError)
    await expect(pool.closed).resolves.toBeUndefined()
    expect(pool.stats().threads).toBe(0)
  })

  it('finishes running tasks before it stops the threads', async () => {
    const pool = new HandlerPool()
    const flags = newFlags()
    const task = pool.run(ref(control, 'hold'), { flags })
    await changed(flags, STARTED)
    const closing = pool.close()
    await expect(pool.run(ref(cpu, 'square'), 2)).rejects.toBeInstanceOf(ClosedError)
    release(flags)
    await expect(task).resolves.toBe(Atomics.load(flags, THREAD))
    await closing
  })

  it('is bounded by closeTimeoutMs: a stuck task is terminated and rejects with ClosedError', async () => {
    const pool = new HandlerPool({ closeTimeoutMs: 50 })
    const flags = newFlags()
    const task = pool.run(ref(control, 'spin'), { flags })
    await changed(flags, STARTED)
    const stuck = rejection(task)
    await expect(pool.close()).rejects.toBeInstanceOf(CloseTimeoutError)
    expect(await stuck).toBeInstanceOf(ClosedError)
    await expect(pool.closed).resolves.toBeInstanceOf(CloseTimeoutError)
    release(flags)
  })

  it('closes through Symbol.asyncDispose, and destroy() rejects pending tasks with ClosedError', async () => {
    const disposed = new HandlerPool()
    await disposed[Symbol.asyncDispose]()
    await expect(disposed.run(ref(cpu, 'square'), 2)).rejects.toBeInstanceOf(ClosedError)

    const destroyed = new HandlerPool()
    const flags = newFlags()
    const task = rejection(destroyed.run(ref(control, 'hold'), { flags }))
    await changed(flags, STARTED)
    await destroyed.destroy()
    expect(await task).toBeInstanceOf(ClosedError)
    await destroyed.close()
  })
})
