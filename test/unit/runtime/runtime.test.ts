import { once } from 'node:events'

import { afterEach, describe, expect, it } from 'vitest'

import type { ActorRef } from '../../../runtime/actor-ref.js'
import {
  ActorCrashedError,
  ActorStartError,
  ClosedError,
  LeaseLostError,
  PulseError,
  TimeoutError,
} from '../../../runtime/errors.js'
import { Runtime, type RuntimeOptions } from '../../../runtime/runtime.js'
import type { CounterArgs, CounterMsg } from '../../fixtures/actors/counter.js'

const counter = new URL('../../fixtures/actors/counter.ts', import.meta.url)
const fast: RuntimeOptions = { supervision: { maxRestarts: 50, withinMs: 10_000, backoffMs: 5 }, closeTimeoutMs: 5_000 }

let runtimes: Runtime[] = []
afterEach(async () => {
  await Promise.allSettled(runtimes.map((rt) => rt.close()))
  runtimes = []
})

async function start(options: RuntimeOptions = fast): Promise<Runtime> {
  const rt = await Runtime.start(options)
  runtimes.push(rt)
  return rt
}

function spawnCounter(
  rt: Runtime,
  name: string,
  args: CounterArgs = {},
  extra: { restart?: 'permanent' | 'transient' | 'temporary'; thread?: string } = {},
) {
  return rt.spawn<CounterMsg, unknown, CounterArgs>(counter, { name, args, ...extra })
}

function journal(): { buffer: SharedArrayBuffer; entries(): { id: number; count: number }[] } {
  const buffer = new SharedArrayBuffer(4 * 64)
  const words = new Int32Array(buffer)
  return {
    buffer,
    entries: () =>
      Array.from(words.subarray(1, 1 + Atomics.load(words, 0)), (v) => ({
        id: Math.floor(v / 1_000_000),
        count: v % 1_000_000,
      })),
  }
}

/** Resolves at the next restart of the actor `name` (the events are typed: `RuntimeEventMap`). */
function restarted(rt: Runtime, name: string): Promise<void> {
  return new Promise((resolve) => {
    const onRestart = (event: { readonly name: string; readonly restarts: number }): void => {
      if (event.name !== name) return
      rt.off('restart', onRestart)
      resolve()
    }
    rt.on('restart', onRestart)
  })
}

describe('Runtime: messages', () => {
  it('delivers tells in order and answers asks', async () => {
    const rt = await start()
    const ref = await spawnCounter(rt, 'c', { start: 5 })
    for (let i = 0; i < 100; i++) expect(ref.tell({ op: 'inc' })).toBe(true)
    expect(await ref.ask({ op: 'get' })).toBe(105)
    expect(
      ref.tellMany([
        { op: 'inc', by: 10 },
        { op: 'inc', by: 20 },
      ]),
    ).toBe(2)
    expect(await ref.ask({ op: 'get' })).toBe(135)
  })

  it('carries binary, strings, structured values and errors (rebuilt as their class)', async () => {
    const rt = await start()
    const ref = await spawnCounter(rt, 'echo')
    const bytes = Uint8Array.of(0, 1, 2, 255)
    expect(await ref.ask({ op: 'echo', value: bytes })).toEqual(Buffer.from(bytes))
    const value = {
      s: 'é',
      n: 1.5,
      big: 2n ** 70n,
      when: new Date(0),
      list: [1, null, { x: 'y' }],
      set: new Set(['k']),
    }
    expect(await ref.ask({ op: 'echo', value })).toEqual(value)
    const err = await ref.ask({ op: 'reply-error' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LeaseLostError)
    expect(err).toMatchObject({ code: 'PULSE_ERR_JOB_LEASE_LOST', data: { jobId: 'j1' } })
    expect(await ref.ask({ op: 'no-reply' })).toBeUndefined()
  })

  it('carries what an actor emits to its listeners on the runtime thread, in order', async () => {
    const rt = await start({ ...fast, mailboxBytes: 1024 })
    const ref = await spawnCounter(rt, 'emitter')
    const seen: unknown[] = []
    const stop = ref.onMessage((msg) => seen.push(msg))
    const values = Array.from({ length: 500 }, (_, i) => ({ i, pad: 'x'.repeat(i % 50) }))
    // More than the 1 KiB ring holds at once: some wait in the thread, and the reply comes after them.
    await ref.ask({ op: 'emit', count: values.length })
    expect(seen).toEqual(values)
    stop()
    await ref.ask({ op: 'emit', count: 1 })
    expect(seen).toHaveLength(values.length)
  })

  it('refuses a message larger than the mailbox frame: an emit throws to the actor, a reply fails its ask', async () => {
    const rt = await start({ ...fast, mailboxBytes: 64 * 1024 })
    const ref = await spawnCounter(rt, 'big')
    const seen: unknown[] = []
    ref.onMessage((msg) => seen.push(msg))
    const fits = (await ref.ask({ op: 'emit-big', bytes: 1_000 })) as { sent: boolean; max: number }
    expect(fits.sent).toBe(true)
    expect(fits.max).toBeGreaterThan(60 * 1024)
    expect(fits.max).toBeLessThan(64 * 1024)
    expect(await ref.ask({ op: 'emit-big', bytes: fits.max + 1 })).toEqual({
      sent: false,
      max: fits.max,
      code: 'PULSE_ERR_INVALID_ARG',
    })
    expect(seen).toHaveLength(1)
    await expect(ref.ask({ op: 'reply-big', bytes: fits.max + 1 })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    // The actor goes on.
    expect(await ref.ask({ op: 'get' })).toBe(0)
  })

  it('runs each actor on its own thread by default, and co-locates on request', async () => {
    const rt = await start()
    const [a, b, c] = await Promise.all([
      spawnCounter(rt, 'a'),
      spawnCounter(rt, 'b', {}, { thread: 'shared' }),
      spawnCounter(rt, 'c', {}, { thread: 'shared' }),
    ])
    const where = async (ref: ActorRef<CounterMsg>) =>
      (await ref.ask({ op: 'thread' })) as { threadId: number; thread: string }
    const [ta, tb, tc] = await Promise.all([where(a), where(b), where(c)])
    expect(tb.threadId).toBe(tc.threadId)
    expect(ta.threadId).not.toBe(tb.threadId)
    expect(tb.thread).toBe('shared')
    expect((await rt.stats()).map((s) => [s.name, s.thread])).toEqual([
      ['a', 'a'],
      ['b', 'shared'],
      ['c', 'shared'],
    ])
  })

  it('a slow actor does not hold up another', async () => {
    const rt = await start()
    const [slow, quick] = await Promise.all([spawnCounter(rt, 'slow'), spawnCounter(rt, 'quick')])
    const blocked = slow.ask({ op: 'block', ms: 1_000 })
    const t0 = Date.now()
    expect(await quick.ask({ op: 'get' })).toBe(0)
    expect(Date.now() - t0).toBeLessThan(500)
    await blocked
  })

  it('tell returns false when the mailbox is full, and every accepted message is delivered', async () => {
    const rt = await start({ ...fast, mailboxBytes: 1024 })
    const ref = await spawnCounter(rt, 'small')
    await ref.pause()
    let accepted = 0
    while (ref.tell({ op: 'inc' })) accepted++
    expect(accepted).toBeGreaterThan(10)
    expect(accepted).toBeLessThan(1024 / 8)
    expect((await ref.stats())?.mailboxDepth).toBe(accepted)
    await ref.resume()
    expect(await ref.ask({ op: 'get' })).toBe(accepted)
  })

  it('rejects a message larger than the mailbox with PULSE_ERR_INVALID_ARG', async () => {
    const rt = await start({ ...fast, mailboxBytes: 1024 })
    const ref = await spawnCounter(rt, 'c')
    expect(() => ref.tell({ op: 'echo', value: 'x'.repeat(2_000) })).toThrow(
      expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }) as Error,
    )
    await expect(ref.ask({ op: 'echo', value: new Uint8Array(2_000) })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
    })
    expect(await ref.ask({ op: 'get' })).toBe(0)
  })

  it('an ask times out with TimeoutError, and honours an AbortSignal', async () => {
    const rt = await start()
    const ref = await spawnCounter(rt, 'c')
    await expect(ref.ask({ op: 'sleep', ms: 500 }, { timeoutMs: 50 })).rejects.toBeInstanceOf(TimeoutError)
    const controller = new AbortController()
    const asked = ref.ask({ op: 'sleep', ms: 500 }, { signal: controller.signal })
    controller.abort()
    await expect(asked).rejects.toMatchObject({ name: 'AbortError' })
    await expect(ref.ask({ op: 'get' }, { signal: AbortSignal.abort(new Error('gone')) })).rejects.toThrow('gone')
  })

  it('reports stats per actor', async () => {
    const rt = await start({ ...fast, latencySampleEvery: 1 })
    const ref = await spawnCounter(rt, 'c')
    for (let i = 0; i < 10; i++) ref.tell({ op: 'inc' })
    await ref.ask({ op: 'block', ms: 20 })
    const [stats] = await rt.stats()
    expect(stats).toMatchObject({
      name: 'c',
      thread: 'c',
      processed: 11,
      mailboxDepth: 0,
      restarts: 0,
      state: 'running',
    })
    expect(stats?.latencyUs.p99).toBeGreaterThanOrEqual(20_000)
    expect(stats?.latencyUs.p50).toBeGreaterThan(0)
  })
})

describe('Runtime: events', () => {
  it('takes a listener per feature without a MaxListenersExceededWarning (a shared runtime has many)', async () => {
    const rt = await start()
    const warnings: Error[] = []
    const onWarning = (warning: Error): void => {
      warnings.push(warning)
    }
    process.on('warning', onWarning)
    try {
      for (let i = 0; i < 20; i++) rt.on('restart', () => undefined)
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
      expect(rt.listenerCount('restart')).toBe(20)
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('Runtime: supervision', () => {
  it('a throw crashes the actor: its pending asks reject with ActorCrashedError and it restarts fresh', async () => {
    const rt = await start()
    const ref = await spawnCounter(rt, 'c', { start: 1 })
    const crashes: string[] = []
    rt.on('crash', ({ name, error }) => crashes.push(`${name}: ${error.code}`))
    ref.tell({ op: 'inc' })
    const restart = restarted(rt, 'c')
    const waiting = ref.ask({ op: 'sleep', ms: 10 })
    const crashing = ref.ask({ op: 'throw', message: 'kaboom' })
    const behind = ref.ask({ op: 'get' })
    expect(await waiting).toBe('slept')
    const err = await crashing.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ActorCrashedError)
    expect((err as Error).cause).toMatchObject({ message: 'kaboom' })
    await expect(behind).rejects.toBeInstanceOf(ActorCrashedError)
    await restart
    expect(crashes).toEqual(['c: PULSE_ERR_ACTOR_CRASHED'])
    expect(await ref.ask({ op: 'get' })).toBe(1)
    expect((await ref.stats())?.restarts).toBe(1)
  })

  it('process.exit in the thread crashes it; the actor restarts on a new thread', async () => {
    const rt = await start()
    const ref = await spawnCounter(rt, 'c')
    const before = (await ref.ask({ op: 'thread' })) as { threadId: number }
    const restart = restarted(rt, 'c')
    ref.tell({ op: 'exit', code: 7 })
    const pending = ref.ask({ op: 'get' })
    await expect(pending).rejects.toBeInstanceOf(ActorCrashedError)
    await restart
    const after = (await ref.ask({ op: 'thread' })) as { threadId: number }
    expect(after.threadId).not.toBe(before.threadId)
  })

  it('an out-of-memory thread is restarted', async () => {
    const rt = await start()
    const ref = await rt.spawn<CounterMsg>(counter, { name: 'hog', resourceLimits: { maxOldGenerationSizeMb: 32 } })
    const restart = restarted(rt, 'hog')
    await expect(ref.ask({ op: 'oom' })).rejects.toBeInstanceOf(ActorCrashedError)
    await restart
    expect(await ref.ask({ op: 'get' })).toBe(0)
  })

  it('transient restarts after a crash but not after a clean exit; temporary never', async () => {
    const rt = await start()
    const transient = await spawnCounter(rt, 't', {}, { restart: 'transient' })
    const crash = restarted(rt, 't')
    transient.tell({ op: 'throw' })
    await crash
    transient.tell({ op: 'exit', code: 0 })
    await once(rt, 'crash')
    expect((await transient.stats())?.state).toBe('stopped')
    expect(transient.tell({ op: 'inc' })).toBe(false)

    const temporary = await spawnCounter(rt, 'tmp', {}, { restart: 'temporary' })
    temporary.tell({ op: 'throw' })
    await once(rt, 'crash')
    expect((await temporary.stats())?.state).toBe('stopped')
    await expect(temporary.ask({ op: 'get' })).rejects.toBeInstanceOf(ActorCrashedError)
  })

  it('too many restarts too fast: the runtime emits error and closes; then calls reject with ClosedError', async () => {
    const rt = await start({ supervision: { maxRestarts: 2, withinMs: 10_000, backoffMs: 1 } })
    const ref = await spawnCounter(rt, 'c')
    const failed = once(rt, 'error') as Promise<[PulseError]>
    for (let i = 0; i < 3; i++) {
      const restart = restarted(rt, 'c')
      ref.tell({ op: 'throw' })
      if (i < 2) await restart
      else void restart.catch(() => undefined)
    }
    const [error] = await failed
    expect(error).toBeInstanceOf(PulseError)
    expect(error.message).toMatch(/gave up: more than 2 restarts/)
    await rt.closed
    await expect(rt.spawn(counter, { name: 'late' })).rejects.toBeInstanceOf(ClosedError)
    await expect(ref.ask({ op: 'get' })).rejects.toBeInstanceOf(ClosedError)
    expect(() => ref.tell({ op: 'inc' })).toThrow(ClosedError)
  })

  it('a module that fails to load or init makes spawn reject; the runtime stays usable', async () => {
    const rt = await start()
    await expect(rt.spawn(new URL('./no-such-actor.ts', counter), { name: 'missing' })).rejects.toBeInstanceOf(
      ActorStartError,
    )
    await expect(
      rt.spawn(new URL('../../helpers/redis.ts', import.meta.url), { name: 'not-an-actor' }),
    ).rejects.toThrow(/no actor as its default export/)
    await expect(spawnCounter(rt, 'bad-init', { failInit: true })).rejects.toThrow(/init failed on purpose/)
    const ok = await spawnCounter(rt, 'bad-init')
    expect(await ok.ask({ op: 'get' })).toBe(0)
    expect((await rt.stats()).map((s) => s.name)).toEqual(['bad-init'])
  })

  it('validates spawn options, naming the bad one', async () => {
    const rt = await start()
    await expect(rt.spawn(counter, { name: 'x', restart: 'sometimes' as 'permanent' })).rejects.toThrow(
      /options\.restart/,
    )
    await spawnCounter(rt, 'dup')
    await expect(spawnCounter(rt, 'dup')).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    await expect(Runtime.start({ mailboxBytes: 1000 })).rejects.toThrow(/options\.mailboxBytes/)
  })
})

describe('Runtime: handler pool', () => {
  it('runs handler code on a pool thread, and closes the pool with the runtime', async () => {
    const rt = await start({ ...fast, handlers: { minThreads: 1, maxThreads: 1 } })
    const threadId = await rt.handlers.run<number>(
      { module: new URL('../../fixtures/handlers/cpu.ts', import.meta.url), export: 'whereAmI' },
      null,
    )
    expect(threadId).not.toBe(0)
    await rt.close()
    expect(() => rt.handlers).toThrow(ClosedError)
  })

  it('validates the pool options with the runtime', async () => {
    await expect(Runtime.start({ handlers: { minThreads: 3, maxThreads: 1 } })).rejects.toThrow(/options\.handlers/)
  })
})

describe('Runtime: close', () => {
  it('drains mailboxes, then stops actors in reverse spawn order', async () => {
    const rt = await start()
    const j = journal()
    const refs = []
    for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) {
      refs.push(
        await spawnCounter(
          rt,
          name,
          { journal: j.buffer, id: i + 1 },
          name === 'c' || name === 'd' ? { thread: 'cd' } : {},
        ),
      )
    }
    for (const ref of refs) {
      ref.tell({ op: 'sleep', ms: 20 })
      for (let i = 0; i < 50; i++) ref.tell({ op: 'inc' })
    }
    await rt.close()
    expect(j.entries()).toEqual([4, 3, 2, 1].map((id) => ({ id, count: 50 })))
    await rt.close() // idempotent
  })

  it('stopActor stops one actor after its mailbox: its stop runs, its name is free, a thread left empty ends', async () => {
    const rt = await start()
    const j = journal()
    const a = await spawnCounter(rt, 'a', { journal: j.buffer, id: 1 }, { thread: 'shared' })
    const b = await spawnCounter(rt, 'b', { journal: j.buffer, id: 2 }, { thread: 'shared' })
    for (let i = 0; i < 10; i++) a.tell({ op: 'inc' })
    await a.stop()
    expect(j.entries()).toEqual([{ id: 1, count: 10 }])
    expect(() => a.tell({ op: 'inc' })).toThrow(/no actor named "a"/)
    expect(await b.ask({ op: 'get' })).toBe(0)
    await a.stop() // a second stop does nothing
    const again = await spawnCounter(rt, 'a', { start: 5 })
    expect(await again.ask({ op: 'get' })).toBe(5)
    await b.stop()
    expect((await rt.stats()).map((s) => s.thread).sort()).toEqual(['a'])
  })

  it('an already-aborted signal makes start reject with its reason; a later abort closes the runtime', async () => {
    const reason = new Error('shutting down')
    await expect(Runtime.start({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    const controller = new AbortController()
    const rt = await start({ signal: controller.signal })
    const ref = await spawnCounter(rt, 'a', {})
    controller.abort()
    expect(await rt.closed).toBeUndefined()
    await expect(ref.ask({ op: 'get' })).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
  })

  it('is bounded: a stop that never ends is cut off by closeTimeoutMs', async () => {
    const rt = await start({ ...fast, closeTimeoutMs: 300 })
    const j = journal()
    await spawnCounter(rt, 'stuck', { journal: j.buffer, id: -1 })
    const t0 = Date.now()
    await expect(rt.close()).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSE_TIMEOUT' })
    expect(Date.now() - t0).toBeLessThan(3_000)
  })
})
