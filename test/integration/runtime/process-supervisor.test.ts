import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'

import { afterEach, describe, expect, it } from 'vitest'

import { InvalidArgumentError, type PulseError } from '../../../runtime/errors.js'
import { alive } from '../../helpers/child.js'
import {
  type ChildExit,
  type ChildStatus,
  ProcessSupervisor,
  type ProcessSupervisorEventMap,
  type ProcessSupervisorOptions,
} from '../../../runtime/process-supervisor.js'

const node = process.execPath
const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/processes/${name}`, import.meta.url))
const worker = fixture('worker.mjs')
const stubborn = fixture('stubborn.mjs')
const exitCode = fixture('exit-code.mjs')
const crashAfter = fixture('crash-after.mjs')
const lines = fixture('lines.mjs')

/** Collects what the supervisor writes; `waitForLine` resolves with the first line matching. */
class Output extends Writable {
  text = ''
  readonly #waiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>()

  get lines(): string[] {
    return this.text.split('\n').filter((line) => line !== '')
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString()
    for (const waiter of this.#waiters) {
      const line = this.lines.find((l) => waiter.pattern.test(l))
      if (line !== undefined) waiter.resolve(line)
    }
    callback()
  }

  waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const seen = this.lines.find((l) => pattern.test(l))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          resolve(line)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new Error(`no output line matching ${pattern} within ${timeoutMs} ms:\n${this.text}`))
      }, timeoutMs)
      this.#waiters.add(waiter)
    })
  }
}

type EventName = keyof ProcessSupervisorEventMap
type Payload<K extends EventName> = ProcessSupervisorEventMap[K][0]

/** The next `event` whose payload matches. */
function next<K extends EventName>(
  sup: ProcessSupervisor,
  event: K,
  match: (payload: Payload<K>) => boolean = () => true,
): Promise<Payload<K>> {
  const emitter = sup as unknown as NodeJS.EventEmitter
  return new Promise((resolve) => {
    const listener = (payload: Payload<K>) => {
      if (!match(payload)) return
      emitter.off(event, listener)
      resolve(payload)
    }
    emitter.on(event, listener)
  })
}

const started: ProcessSupervisor[] = []
afterEach(async () => {
  // Also after a failed test: nothing may outlive it.
  await Promise.allSettled(started.splice(0).map((sup) => sup.destroy()))
})

function supervise(options: Omit<ProcessSupervisorOptions, 'output'>): { sup: ProcessSupervisor; output: Output } {
  const output = new Output()
  const sup = new ProcessSupervisor({ backoffMs: 20, shutdownTimeoutMs: 500, ...options, output })
  started.push(sup)
  return { sup, output }
}

function pids(sup: ProcessSupervisor): number[] {
  return sup.status().map(({ pid }) => {
    expect(pid).toEqual(expect.any(Number))
    return pid ?? -1
  })
}

describe('ProcessSupervisor: instances and output', () => {
  it('runs one process per instance, each with its PULSE_INSTANCE, and prefixes its lines with name#instance', async () => {
    const { sup, output } = supervise({ children: [{ name: 'api', command: node, args: [worker], instances: 3 }] })
    expect(sup.status().map((s) => s.state)).toEqual(['stopped', 'stopped', 'stopped'])
    await sup.start()
    const status = sup.status()
    expect(status).toMatchObject([
      { name: 'api', instance: 0, restarts: 0, lastExitCode: null, state: 'running' },
      { name: 'api', instance: 1, restarts: 0, lastExitCode: null, state: 'running' },
      { name: 'api', instance: 2, restarts: 0, lastExitCode: null, state: 'running' },
    ])
    expect(new Set(pids(sup)).size).toBe(3)
    for (const { instance, pid } of status) {
      await output.waitForLine(new RegExp(`^\\[api#${instance}\\] started pid=${pid} instance=${instance}$`))
      await output.waitForLine(new RegExp(`^\\[api#${instance}\\] stderr of instance=${instance}$`))
    }
    await sup.stop()
  })

  it('keeps lines whole across writes and flushes a partial last line at exit', async () => {
    const { sup, output } = supervise({
      children: [{ name: 'lines', command: node, args: [lines], restart: 'temporary' }],
    })
    const exited = next(sup, 'exit')
    await sup.start()
    expect(await exited).toMatchObject({ name: 'lines', exitCode: 0, restarting: false })
    await output.waitForLine(/no newline at the end/)
    expect(output.lines).toEqual(
      expect.arrayContaining([
        '[lines#0] one',
        '[lines#0] two',
        '[lines#0] on stderr',
        '[lines#0] no newline at the end',
      ]),
    )
    expect(output.text.endsWith('\n')).toBe(true)
    // Nothing left to supervise: it stopped itself.
    expect(await sup.closed).toBeUndefined()
    expect(sup.state).toBe('closed')
  })
})

describe('ProcessSupervisor: readiness', () => {
  it("with ready: true, start() resolves once every instance sent 'ready' over IPC", async () => {
    const { sup } = supervise({ children: [{ name: 'api', command: node, args: [worker], instances: 2, ready: true }] })
    const readies: ChildStatus[] = []
    sup.on('ready', (status) => readies.push(status))
    const starting = sup.start()
    expect(sup.status().map((s) => s.state)).toEqual(['starting', 'starting'])
    await starting
    expect(readies.map((s) => s.instance).sort()).toEqual([0, 1])
    expect(sup.status().map((s) => s.state)).toEqual(['running', 'running'])
    await sup.stop()
  })

  it('rejects start() when an instance overruns readyTimeoutMs, and stops every process', async () => {
    const { sup } = supervise({
      children: [
        { name: 'ok', command: node, args: [worker], ready: true },
        { name: 'mute', command: node, args: [worker, '--never-ready'], ready: true, readyTimeoutMs: 300 },
      ],
    })
    const error = await sup.start().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(error).toMatchObject({ code: 'PULSE_ERR_TIMEOUT' })
    expect((error as Error).message).toMatch(/^mute#0 did not send 'ready' within readyTimeoutMs \(300 ms\)/)
    expect(await sup.closed).toBe(error)
    const [ok, mute] = sup.status()
    expect(ok).toMatchObject({ name: 'ok', pid: null, state: 'stopped' })
    // 0 after draining; SIGTERM when it was stopped before its handler was installed (on a loaded machine).
    expect([0, 'SIGTERM']).toContain(ok?.lastExitCode)
    expect(mute).toMatchObject({ name: 'mute', pid: null, state: 'failed', lastExitCode: 'SIGKILL' })
  })

  it('rejects start() when an instance exits before it is ready', async () => {
    const { sup } = supervise({ children: [{ name: 'early', command: node, args: [exitCode, '3'], ready: true }] })
    await expect(sup.start()).rejects.toMatchObject({
      code: 'PULSE_ERR_PROCESS_START',
      message: 'early#0 exited (code 3) before it was ready',
    })
    expect(sup.status()).toMatchObject([{ pid: null, state: 'failed', lastExitCode: 3, restarts: 0 }])
  })

  it('rejects start() when the command cannot be spawned', async () => {
    const { sup } = supervise({ children: [{ name: 'ghost', command: '/nonexistent/pulse-test-binary' }] })
    const error = await sup.start().then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(error).toMatchObject({ code: 'PULSE_ERR_PROCESS_START', cause: { code: 'ENOENT' } })
    expect((error as Error).message).toMatch(/^ghost#0 could not be spawned: .*ENOENT/)
    expect(sup.status()).toMatchObject([{ pid: null, state: 'failed', lastExitCode: -2 }])
  })

  it('stop() during start() rejects start() with ClosedError', async () => {
    const { sup, output } = supervise({
      children: [{ name: 'slow', command: node, args: [worker, '--never-ready'], ready: true }],
    })
    const starting = sup.start()
    await output.waitForLine(/^\[slow#0\] started/)
    const rejected = expect(starting).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
    await sup.stop()
    await rejected
    expect(sup.status()).toMatchObject([{ pid: null, state: 'stopped', lastExitCode: 0 }])
    expect(await sup.closed).toBeUndefined()
  })
})

describe('ProcessSupervisor: restarts', () => {
  it('restarts a process killed with SIGKILL under a new pid, counting the restart and recording the signal', async () => {
    const { sup, output } = supervise({ children: [{ name: 'api', command: node, args: [worker], ready: true }] })
    await sup.start()
    const [before] = pids(sup)
    const exited = next(sup, 'exit')
    const restarted = next(sup, 'restart')
    const readyAgain = next(sup, 'ready')
    process.kill(before ?? -1, 'SIGKILL')
    expect(await exited).toMatchObject({ name: 'api', instance: 0, pid: before, exitCode: 'SIGKILL', restarting: true })
    const after = await restarted
    expect(after).toMatchObject({ name: 'api', instance: 0, restarts: 1, lastExitCode: 'SIGKILL', state: 'starting' })
    expect(after.pid).not.toBe(before)
    await readyAgain
    expect(sup.status()).toMatchObject([{ pid: after.pid, restarts: 1, lastExitCode: 'SIGKILL', state: 'running' }])
    await output.waitForLine(new RegExp(`^\\[api#0\\] started pid=${after.pid} instance=0$`))
    await sup.stop()
  })

  it('permanent restarts after exit 0; transient only after an abnormal exit; temporary never', async () => {
    const { sup } = supervise({
      maxRestarts: 1_000,
      children: [
        { name: 'always', command: node, args: [exitCode, '0'], restart: 'permanent' },
        { name: 'clean', command: node, args: [exitCode, '0'], restart: 'transient' },
        { name: 'crash', command: node, args: [exitCode, '3'], restart: 'transient' },
        { name: 'once-ok', command: node, args: [exitCode, '0'], restart: 'temporary' },
        { name: 'once-bad', command: node, args: [exitCode, '3'], restart: 'temporary' },
      ],
    })
    const restarts: ChildStatus[] = []
    sup.on('restart', (status) => restarts.push(status))
    const firstExit = (name: string) => next(sup, 'exit', (exit) => exit.name === name)
    const exits = Promise.all(['always', 'clean', 'crash', 'once-ok', 'once-bad'].map(firstExit))
    const alwaysRestarted = next(sup, 'restart', (s) => s.name === 'always')
    const crashRestarted = next(sup, 'restart', (s) => s.name === 'crash')
    await sup.start()
    const [always, clean, crash, onceOk, onceBad] = await exits
    expect(always).toMatchObject({ exitCode: 0, restarting: true })
    expect(clean).toMatchObject({ exitCode: 0, restarting: false })
    expect(crash).toMatchObject({ exitCode: 3, restarting: true })
    expect(onceOk).toMatchObject({ exitCode: 0, restarting: false })
    expect(onceBad).toMatchObject({ exitCode: 3, restarting: false })
    expect(await alwaysRestarted).toMatchObject({ restarts: 1 })
    expect(await crashRestarted).toMatchObject({ restarts: 1 })
    const byName = new Map(sup.status().map((s) => [s.name, s]))
    expect(byName.get('clean')).toMatchObject({ pid: null, state: 'stopped', restarts: 0, lastExitCode: 0 })
    expect(byName.get('once-ok')).toMatchObject({ pid: null, state: 'stopped', restarts: 0, lastExitCode: 0 })
    expect(byName.get('once-bad')).toMatchObject({ pid: null, state: 'failed', restarts: 0, lastExitCode: 3 })
    await sup.stop()
    expect(new Set(restarts.map((s) => s.name))).toEqual(new Set(['always', 'crash']))
    expect(sup.status().every((s) => s.pid === null)).toBe(true)
  })

  it('gives up past maxRestarts within withinMs: backoff doubles up to its cap, then error, every child stopped, closed resolves', async () => {
    const delays: unknown[] = []
    const logger = {
      info() {},
      warn: (_: string, data?: Record<string, unknown>) =>
        void (data?.delayMs !== undefined && delays.push(data.delayMs)),
      error() {},
    }
    const { sup, output } = supervise({
      maxRestarts: 4,
      withinMs: 60_000,
      backoffMs: 10,
      maxBackoffMs: 40,
      logger,
      children: [
        { name: 'crashy', command: node, args: [crashAfter, '10'], ready: true },
        { name: 'steady', command: node, args: [worker], ready: true },
      ],
    })
    let restartEvents = 0
    sup.on('restart', () => (restartEvents += 1))
    let statusAtError: ChildStatus[] = []
    const errored = new Promise<PulseError>((resolve) =>
      sup.on('error', (error) => {
        statusAtError = sup.status()
        resolve(error)
      }),
    )
    await sup.start()
    const steadyPid = sup.status()[1]?.pid ?? -1
    const error = await errored
    expect(error).toMatchObject({ code: 'PULSE_ERR_SUPERVISOR_GAVE_UP' })
    expect(error.message).toMatch(/^crashy#0 \(pid \d+\) exited with code 1: more than 4 restarts within 60000 ms/)
    expect(statusAtError).toMatchObject([
      { name: 'crashy', state: 'failed', restarts: 4 },
      { name: 'steady', state: 'stopping' },
    ])
    expect(await sup.closed).toBe(error)
    expect(sup.state).toBe('closed')
    expect(sup.status()).toMatchObject([
      { name: 'crashy', pid: null, state: 'failed', restarts: 4, lastExitCode: 1 },
      { name: 'steady', pid: null, state: 'stopped', restarts: 0, lastExitCode: 0 },
    ])
    expect(restartEvents).toBe(4)
    expect(delays).toEqual([10, 20, 40, 40])
    expect(output.lines).toContain('[steady#0] draining')
    expect(alive(steadyPid)).toBe(false)
  })

  it('a run of at least stableRunMs resets the backoff', async () => {
    const delays: unknown[] = []
    const logger = {
      info() {},
      warn: (_: string, data?: Record<string, unknown>) =>
        void (data?.delayMs !== undefined && delays.push(data.delayMs)),
      error() {},
    }
    const { sup } = supervise({
      maxRestarts: 2,
      backoffMs: 10,
      stableRunMs: 0,
      logger,
      children: [{ name: 'c', command: node, args: [exitCode, '3'] }],
    })
    const errored = next(sup, 'error')
    await sup.start()
    await errored
    expect(delays).toEqual([10, 10])
    expect(await sup.closed).toMatchObject({ code: 'PULSE_ERR_SUPERVISOR_GAVE_UP' })
  })
})

describe('ProcessSupervisor: stop', () => {
  it('sends SIGTERM and lets the child drain and exit 0', async () => {
    const { sup, output } = supervise({
      children: [{ name: 'api', command: node, args: [worker], instances: 2, ready: true }],
    })
    await sup.start()
    const running = pids(sup)
    const exits: ChildExit[] = []
    sup.on('exit', (exit) => exits.push(exit))
    await sup.stop()
    expect(output.lines).toEqual(expect.arrayContaining(['[api#0] draining', '[api#1] draining']))
    expect(exits.map((e) => [e.exitCode, e.restarting])).toEqual([
      [0, false],
      [0, false],
    ])
    expect(sup.status()).toMatchObject([
      { pid: null, state: 'stopped', lastExitCode: 0, restarts: 0 },
      { pid: null, state: 'stopped', lastExitCode: 0, restarts: 0 },
    ])
    for (const pid of running) expect(alive(pid)).toBe(false)
    expect(await sup.closed).toBeUndefined()
  })

  it('sends SIGKILL after shutdownTimeoutMs to a child that ignores SIGTERM', async () => {
    const shutdownTimeoutMs = 300
    const { sup, output } = supervise({
      shutdownTimeoutMs,
      children: [{ name: 'mule', command: node, args: [stubborn], ready: true }],
    })
    await sup.start()
    const [pid] = pids(sup)
    const t0 = performance.now()
    await sup.stop()
    const elapsed = performance.now() - t0
    expect(elapsed).toBeGreaterThanOrEqual(shutdownTimeoutMs - 5)
    expect(elapsed).toBeLessThan(shutdownTimeoutMs + 1_500)
    expect(output.lines).toContain('[mule#0] ignoring SIGTERM')
    expect(sup.status()).toMatchObject([{ pid: null, state: 'stopped', lastExitCode: 'SIGKILL' }])
    expect(alive(pid ?? -1)).toBe(false)
  })

  it('stop() is idempotent and memoised; start() after it rejects with ClosedError; asyncDispose stops', async () => {
    const { sup } = supervise({ children: [{ name: 'api', command: node, args: [worker] }] })
    await sup.start()
    expect(sup.start()).toBe(sup.start())
    const stopping = sup.stop()
    expect(sup.stop()).toBe(stopping)
    expect(sup.close()).toBe(stopping)
    expect(sup[Symbol.asyncDispose]()).toBe(stopping)
    await stopping
    await sup.stop()
    expect(sup.state).toBe('closed')

    const { sup: unstarted } = supervise({ children: [{ name: 'api', command: node, args: [worker] }] })
    await unstarted.stop()
    await expect(unstarted.start()).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
    expect(unstarted.status()).toMatchObject([{ pid: null, state: 'stopped' }])

    const { sup: disposed } = supervise({ children: [{ name: 'api', command: node, args: [worker], ready: true }] })
    await disposed.start()
    const [pid] = pids(disposed)
    await disposed[Symbol.asyncDispose]()
    expect(alive(pid ?? -1)).toBe(false)
  })

  it('forwardSignals(): SIGTERM / SIGINT of this process stop it gracefully, and the handlers go away', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const before = process.listenerCount(signal)
      const { sup, output } = supervise({ children: [{ name: 'api', command: node, args: [worker], ready: true }] })
      sup.forwardSignals()
      expect(sup.forwardSignals()).toBe(sup.forwardSignals())
      expect(process.listenerCount(signal)).toBe(before + 1)
      await sup.start()
      // Only our handler, as the signal would call it (process.emit would reach the runner's too).
      const handler = process.listeners(signal).at(-1) as (signal: NodeJS.Signals) => void
      handler(signal)
      expect(await sup.closed).toBeUndefined()
      expect(output.lines).toContain('[api#0] draining')
      expect(process.listenerCount(signal)).toBe(before)
    }
  })

  it('handleSignals: true installs the handlers at start()', async () => {
    const before = process.listenerCount('SIGTERM')
    const { sup } = supervise({ handleSignals: true, children: [{ name: 'api', command: node, args: [worker] }] })
    expect(process.listenerCount('SIGTERM')).toBe(before)
    await sup.start()
    expect(process.listenerCount('SIGTERM')).toBe(before + 1)
    await sup.stop()
    expect(process.listenerCount('SIGTERM')).toBe(before)
  })
})

describe('ProcessSupervisor: options', () => {
  function invalid(options: unknown): string {
    try {
      new ProcessSupervisor(options as ProcessSupervisorOptions)
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError)
      expect(error).toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
      return (error as Error).message
    }
    throw new Error('expected an InvalidArgumentError')
  }
  const child = { name: 'api', command: node }

  it('names the invalid option', () => {
    expect(invalid({ children: [{ ...child, restart: 'sometimes' }] })).toBe(
      'options.children[0].restart must be one of "permanent", "transient", "temporary" (got "sometimes")',
    )
    expect(invalid({ children: [{ ...child, instances: 0 }] })).toBe(
      'options.children[0].instances must be an integer >= 1 (got 0)',
    )
    expect(invalid({ children: [{ ...child, instances: 1.5 }] })).toBe(
      'options.children[0].instances must be an integer >= 1 (got 1.5)',
    )
    expect(invalid({ children: [{ ...child, name: '' }] })).toBe(
      'options.children[0].name must be a non-empty string (got "")',
    )
    expect(invalid({ children: [child, { ...child, command: 'x' }] })).toBe(
      'options.children[1].name must be unique (got "api", as options.children[0].name)',
    )
    expect(invalid({ children: [] })).toBe('options.children must be a non-empty array (got an array)')
    expect(invalid({})).toBe('options.children must be a non-empty array (got undefined)')
    expect(invalid({ children: [{ ...child, args: ['a', 1] }] })).toBe(
      'options.children[0].args[1] must be a string (got 1)',
    )
    expect(invalid({ children: [{ ...child, env: { A: 1 } }] })).toBe(
      'options.children[0].env.A must be a string (got 1)',
    )
    expect(invalid({ children: [{ ...child, ready: 'yes' }] })).toBe(
      'options.children[0].ready must be a boolean (got "yes")',
    )
    expect(invalid({ children: [{ ...child, command: undefined }] })).toMatch(
      /^options\.children\[0\]\.command must be a non-empty string/,
    )
    expect(invalid({ children: [{ ...child, restrat: 'permanent' }] })).toMatch(
      /^options\.children\[0\]\.restrat is not a known option/,
    )
    expect(invalid({ children: [child], maxRestart: 3 })).toMatch(/^options\.maxRestart is not a known option/)
    expect(invalid({ children: [child], maxRestarts: -1 })).toBe('options.maxRestarts must be an integer >= 0 (got -1)')
    expect(invalid({ children: [child], backoffMs: 500, maxBackoffMs: 100 })).toBe(
      'options.maxBackoffMs must be >= options.backoffMs (500) (got 100)',
    )
    expect(invalid({ children: [child], output: {} })).toBe('options.output must be a writable stream (got an object)')
    expect(invalid(null)).toBe('options must be an object (got null)')
  })

  it('applies the defaults', () => {
    const sup = new ProcessSupervisor({ children: [child] })
    expect(sup.options).toMatchObject({
      maxRestarts: 10,
      withinMs: 60_000,
      backoffMs: 100,
      shutdownTimeoutMs: 10_000,
      handleSignals: false,
    })
    expect(sup.options.children[0]).toEqual({
      name: 'api',
      command: node,
      args: [],
      instances: 1,
      env: {},
      cwd: undefined,
      restart: 'permanent',
      ready: false,
      readyTimeoutMs: 30_000,
    })
    expect(Object.isFrozen(sup.options)).toBe(true)
    expect(sup.status()).toEqual([
      { name: 'api', instance: 0, pid: null, restarts: 0, lastExitCode: null, state: 'stopped' },
    ])
  })
})
