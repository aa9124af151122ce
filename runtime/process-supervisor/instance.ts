/**
 * One supervised instance: the slot `name#index`, which runs one process at a time. It spawns, watches
 * readiness, copies output, signals and reaps; the decisions (restart or not, giving up) are the
 * supervisor's, taken in `hooks.ended`. The state machine is drawn at the top of
 * `../process-supervisor.ts`.
 *
 * A run ends at the process's `'exit'` (or at the `'error'` of a failed spawn); the process is released
 * at its `'close'`, once its stdio has closed too. Should a grandchild keep the stdio pipes open, they are
 * destroyed `kStdioGraceMs` after the exit so that `close` (and thus `stop()`) still comes.
 */
import { type ChildProcess, spawn, type StdioOptions } from 'node:child_process'

import { backoffMs as exponentialBackoffMs } from '../backoff.js'
import { coerceError, ProcessStartError, TimeoutError } from '../errors.js'
import { trackResource } from '../resource-tracker.js'
import { LinePrefixer } from './line-prefixer.js'
import type { ProcessSupervisorLogger, ResolvedChildSpec } from './options.js'

export type InstanceState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed'

/**
 * How a process ended: its exit code, or the name of the signal that killed it (`'SIGKILL'`). A process
 * that could not be spawned gets a negative number, minus its errno (`-2` for ENOENT), as node does.
 */
export type ExitCode = number | NodeJS.Signals

export interface ChildStatus {
  readonly name: string
  /** 0 .. instances - 1; the process sees it as `PULSE_INSTANCE`. */
  readonly instance: number
  /** The live process's pid; `null` when none runs. */
  readonly pid: number | null
  /** How many times this instance was respawned. */
  readonly restarts: number
  /** How the last process of this instance ended; `null` before any ended. */
  readonly lastExitCode: ExitCode | null
  readonly state: InstanceState
}

/** The payload of the supervisor's `'exit'` event. */
export interface ChildExit {
  readonly name: string
  readonly instance: number
  /** `null` when the process could not be spawned. */
  readonly pid: number | null
  readonly exitCode: ExitCode
  /** Why the process could not be spawned. */
  readonly error?: Error
  readonly uptimeMs: number
  /** Whether the supervisor will respawn it (after its backoff delay). */
  readonly restarting: boolean
}

export interface RunEnd {
  readonly pid: number | null
  readonly exitCode: ExitCode
  readonly uptimeMs: number
  readonly error?: Error
}

export interface InstanceHooks {
  readonly output: NodeJS.WritableStream
  readonly logger: ProcessSupervisorLogger | undefined
  /** The instance became `running`. */
  ready(instance: ChildInstance): void
  /** A restart spawned a new process. */
  respawned(instance: ChildInstance): void
  /** The process exited (or failed to spawn); decide what comes next. */
  ended(instance: ChildInstance, run: RunEnd): void
}

export const kStdioGraceMs = 1_000

function noop(): void {}

function spawnFailureCode(error: unknown): number {
  const errno = (error as { errno?: unknown }).errno
  return typeof errno === 'number' && errno < 0 ? errno : -1
}

/** `code 3`, `SIGKILL`. */
export function describeExit(exitCode: ExitCode): string {
  return typeof exitCode === 'number' ? `code ${exitCode}` : exitCode
}

export class ChildInstance {
  readonly spec: ResolvedChildSpec
  readonly index: number
  /** `name#index`. */
  readonly label: string
  /** Resolves at the first readiness; rejects if the first run ends (or times out) before it. */
  readonly firstReady: Promise<void>

  readonly #hooks: InstanceHooks
  #state: InstanceState = 'stopped'
  #child: ChildProcess | undefined
  #pid: number | null = null
  #restarts = 0
  #lastExitCode: ExitCode | null = null
  #everReady = false
  /** Ends `failed` rather than `stopped`: set by `settle('failed')`, and when it fails before its first readiness. */
  #failed = false
  /** Restarts since the last stable run: the backoff exponent. */
  #consecutive = 0
  #startedAt = 0
  #runEnded = true
  #closed: Promise<void> = Promise.resolve()
  #restartTimer: NodeJS.Timeout | undefined
  #readyTimer: NodeJS.Timeout | undefined
  #killTimer: NodeJS.Timeout | undefined
  #resolveFirstReady: () => void = noop
  #rejectFirstReady: (error: Error) => void = noop

  constructor(spec: ResolvedChildSpec, index: number, hooks: InstanceHooks) {
    this.spec = spec
    this.index = index
    this.label = `${spec.name}#${index}`
    this.#hooks = hooks
    this.firstReady = new Promise<void>((resolve, reject) => {
      this.#resolveFirstReady = resolve
      this.#rejectFirstReady = reject
    })
    // Awaited by start(); marked handled so that an instance never started raises nothing.
    this.firstReady.catch(noop)
  }

  get state(): InstanceState {
    return this.#state
  }

  get everReady(): boolean {
    return this.#everReady
  }

  status(): ChildStatus {
    return Object.freeze({
      name: this.spec.name,
      instance: this.index,
      pid: this.#pid,
      restarts: this.#restarts,
      lastExitCode: this.#lastExitCode,
      state: this.#state,
    })
  }

  spawn(): void {
    const { spec } = this
    this.#state = 'starting'
    this.#runEnded = false
    this.#startedAt = performance.now()
    this.#child = undefined
    const stdio: StdioOptions = spec.ready ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe']
    let child: ChildProcess
    try {
      child = spawn(spec.command, spec.args, {
        stdio,
        env: { ...process.env, ...spec.env, PULSE_INSTANCE: String(this.index) },
        ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
      })
    } catch (error) {
      // As for the asynchronous spawn failures (ENOENT, EACCES): reported on a later tick.
      process.nextTick(() => this.#endRun(spawnFailureCode(error), coerceError(error)))
      return
    }
    this.#child = child
    this.#pid = child.pid ?? null
    this.#watch(child)
  }

  #watch(child: ChildProcess): void {
    const untrack = trackResource('process', this.label)
    const prefix = `[${this.label}] `
    const out = new LinePrefixer(prefix, this.#hooks.output)
    const err = new LinePrefixer(prefix, this.#hooks.output)
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk)).on('close', () => out.end())
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk)).on('close', () => err.end())
    let stdioTimer: NodeJS.Timeout | undefined
    this.#closed = new Promise<void>((resolve) => {
      child.once('close', () => {
        clearTimeout(stdioTimer)
        out.end()
        err.end()
        untrack()
        resolve()
      })
    })
    child.once('spawn', () => {
      if (!this.spec.ready) this.#becomeReady(child)
    })
    child.on('message', (message) => {
      if (message === 'ready') this.#becomeReady(child)
    })
    child.on('error', (error) => {
      if (child.pid === undefined) this.#endRun(spawnFailureCode(error), error)
      else this.#hooks.logger?.warn(`${this.label}: ${error.message}`, { name: this.spec.name, instance: this.index })
    })
    child.once('exit', (code, signal) => {
      stdioTimer = setTimeout(() => {
        child.stdout?.destroy()
        child.stderr?.destroy()
        if (child.connected) child.disconnect()
      }, kStdioGraceMs).unref()
      this.#endRun(signal ?? code ?? -1)
    })
    if (this.spec.ready) this.#readyTimer = setTimeout(() => this.#onReadyTimeout(child), this.spec.readyTimeoutMs)
  }

  #becomeReady(child: ChildProcess): void {
    if (child !== this.#child || this.#state !== 'starting' || this.#runEnded) return
    clearTimeout(this.#readyTimer)
    this.#state = 'running'
    this.#everReady = true
    this.#resolveFirstReady()
    this.#hooks.ready(this)
  }

  #onReadyTimeout(child: ChildProcess): void {
    if (child !== this.#child || this.#state !== 'starting' || this.#runEnded) return
    const error = new TimeoutError(
      `${this.label} did not send 'ready' within readyTimeoutMs (${this.spec.readyTimeoutMs} ms)`,
      {
        data: { name: this.spec.name, instance: this.index, readyTimeoutMs: this.spec.readyTimeoutMs },
      },
    )
    this.#rejectFirstReady(error)
    if (!this.#everReady) this.#failed = true
    this.#hooks.logger?.warn(`${error.message}; killing it`, { name: this.spec.name, instance: this.index })
    child.kill('SIGKILL')
  }

  #endRun(exitCode: ExitCode, error?: Error): void {
    if (this.#runEnded) return
    this.#runEnded = true
    clearTimeout(this.#readyTimer)
    const run: RunEnd = {
      pid: this.#pid,
      exitCode,
      uptimeMs: Math.round(performance.now() - this.#startedAt),
      ...(error === undefined ? {} : { error }),
    }
    this.#pid = null
    this.#lastExitCode = exitCode
    if (!this.#everReady) {
      if (this.#state !== 'stopping') this.#failed = true
      const data = { name: this.spec.name, instance: this.index, exitCode }
      this.#rejectFirstReady(
        error === undefined
          ? new ProcessStartError(`${this.label} exited (${describeExit(exitCode)}) before it was ready`, { data })
          : new ProcessStartError(`${this.label} could not be spawned: ${error.message}`, { cause: error, data }),
      )
    }
    this.#hooks.ended(this, run)
  }

  /** Sets the end state of an instance that will not run again. */
  settle(state: 'stopped' | 'failed'): void {
    this.#state = state
    this.#failed = state === 'failed'
  }

  /** The restart delay after `run`: doubles per consecutive restart, capped, reset by a stable run. */
  backoff(
    run: RunEnd,
    { backoffMs, maxBackoffMs, stableRunMs }: { backoffMs: number; maxBackoffMs: number; stableRunMs: number },
  ): number {
    if (run.uptimeMs >= stableRunMs) this.#consecutive = 0
    this.#consecutive += 1
    const delayMs = exponentialBackoffMs(this.#consecutive, { baseMs: backoffMs, maxMs: maxBackoffMs })
    return delayMs
  }

  restartAfter(delayMs: number): void {
    this.#state = 'restarting'
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined
      this.#restarts += 1
      this.spawn()
      this.#hooks.respawned(this)
    }, delayMs)
  }

  /** SIGTERM, SIGKILL after `timeoutMs`; resolves once the process is released. Never rejects. */
  async stop(timeoutMs: number): Promise<void> {
    this.#cancelRestart()
    const child = this.#child
    if (child !== undefined && !this.#runEnded) {
      this.#state = 'stopping'
      child.kill('SIGTERM')
      this.#killTimer = setTimeout(() => {
        this.#hooks.logger?.warn(`${this.label} still runs ${timeoutMs} ms after SIGTERM; sending SIGKILL`, {
          name: this.spec.name,
          instance: this.index,
        })
        child.kill('SIGKILL')
      }, timeoutMs)
    }
    await this.#settleStop()
  }

  /** SIGKILL now; resolves once the process is released. Never rejects. */
  async kill(): Promise<void> {
    this.#cancelRestart()
    const child = this.#child
    if (child !== undefined && !this.#runEnded) {
      this.#state = 'stopping'
      child.kill('SIGKILL')
    }
    await this.#settleStop()
  }

  /** For the `process` `'exit'` hook: a last, synchronous SIGKILL. */
  killSync(): void {
    if (this.#child !== undefined && !this.#runEnded) this.#child.kill('SIGKILL')
  }

  #cancelRestart(): void {
    clearTimeout(this.#restartTimer)
    this.#restartTimer = undefined
  }

  async #settleStop(): Promise<void> {
    await this.#closed
    clearTimeout(this.#killTimer)
    this.#state = this.#failed ? 'failed' : 'stopped'
  }
}
