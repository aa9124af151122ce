/**
 * `ProcessSupervisor`: a supervised child-process deployment. Each child spec runs as `instances`
 * processes (one per instance, `PULSE_INSTANCE=<i>` in its environment); the supervisor restarts what
 * exits according to the spec's `restart` policy, with a per-instance exponential backoff and one
 * restart-intensity limit for the whole supervisor, copies every output line to `output` prefixed
 * `[name#instance] `, and stops everything with SIGTERM, then SIGKILL after `shutdownTimeoutMs`.
 *
 * Per-instance state machine (`status()[i].state`):
 *
 *              spawned (ready: false), or IPC 'ready' received (ready: true)
 *   ┌──▶ starting ─────────────────────────────────────────────────────────▶ running
 *   │       │ exit, spawn failure, or readyTimeoutMs (→ SIGKILL)                 │ exit
 *   │       ▼                                                                    │
 *   │   never ready yet? ── yes ──▶ failed (start() rejects and stops all)       │
 *   │       │ no                                                                 ▼
 *   │       └─────────────────────────▶ restart policy: permanent → yes; transient → yes unless code 0;
 *   │                                    temporary → no
 *   │                                      │ yes                      │ no
 *   │                                      ▼                          ▼
 *   │                  intensity limit: more than maxRestarts      stopped (code 0) | failed (otherwise)
 *   │                  within withinMs? ── yes ──▶ failed, and the supervisor gives up: 'error', stop()
 *   │                                      │ no
 *   │  backoff timer: backoffMs · 2^k,     ▼
 *   └── capped at maxBackoffMs ─────── restarting   (k = restarts since the last run ≥ stableRunMs)
 *
 *   any state ── stop() ──▶ stopping ── SIGTERM; SIGKILL after shutdownTimeoutMs; exit and stdio
 *                                       closed ──▶ stopped (a failed instance stays failed)
 *   Before start(), every instance is `stopped` with no pid. Once every instance has ended for good
 *   (stopped or failed, none restarting), the supervisor stops itself: `closed` resolves (`undefined`).
 *
 * Exit codes (`lastExitCode`, `'exit'` events) are the process's exit code, or the signal's name when a
 * signal killed it (`'SIGKILL'`), or minus errno when it could not be spawned (`-2`: ENOENT): the same
 * `code ?? signal` shape as node's `'exit'` event, in one field.
 *
 * The supervisor follows the close contract of `lifecycle.ts`: `stop()` (alias `close()`,
 * `[Symbol.asyncDispose]`) is graceful, idempotent and memoised; `destroy()` SIGKILLs at once; `closed`
 * never rejects and resolves with `undefined` after a clean stop, else with the reason: the error of a
 * failed `start()`, or the error of giving up (also emitted as `'error'`; as for any EventEmitter, an
 * `'error'` nobody listens to is thrown, on a fresh macrotask).
 */
import { coerceError, type PulseError, SupervisorGaveUpError } from './errors.js'
import { abortable, CloseableEmitter } from './lifecycle.js'
import { kMaxTimerMs } from './options.js'
import {
  type ChildExit,
  ChildInstance,
  type ChildStatus,
  describeExit,
  type InstanceHooks,
  type RunEnd,
} from './process-supervisor/instance.js'
import {
  type ProcessSupervisorOptions,
  resolveProcessSupervisorOptions,
  type ResolvedProcessSupervisorOptions,
} from './process-supervisor/options.js'
import { RestartWindow, shouldRestart } from './supervision.js'

export type { ChildExit, ChildStatus, ExitCode, InstanceState } from './process-supervisor/instance.js'
export {
  type ChildSpec,
  DEFAULT_CHILD_SPEC,
  DEFAULT_PROCESS_SUPERVISOR_OPTIONS,
  type ProcessSupervisorLogger,
  type ProcessSupervisorOptions,
  type ResolvedChildSpec,
  type ResolvedProcessSupervisorOptions,
} from './process-supervisor/options.js'

export type ProcessSupervisorEventMap = {
  /** An instance became `running` (spawned, or sent 'ready'), at start and after each restart. */
  ready: [ChildStatus]
  /** A process exited (or could not be spawned). */
  exit: [ChildExit]
  /** A restart spawned a new process (the status carries its pid and the new restart count). */
  restart: [ChildStatus]
  /** The supervisor gave up (restart intensity exceeded) and is stopping everything. */
  error: [PulseError]
}

/** Beyond `shutdownTimeoutMs`, how long reaping (exit, stdio close) may take before `stop()` destroys. */
const kReapGraceMs = 5_000
const kForwardedSignals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']

function noop(): void {}

export class ProcessSupervisor extends CloseableEmitter<ProcessSupervisorEventMap> {
  readonly options: ResolvedProcessSupervisorOptions
  /** Never rejects: `undefined` after a clean stop, else why it stopped (see the module comment). */
  readonly closed: Promise<Error | undefined>

  readonly #instances: readonly ChildInstance[]
  readonly #restarts: RestartWindow
  #failure: Error | undefined
  #starting: Promise<void> | undefined
  #started = false
  #unforward: (() => void) | undefined
  readonly #killAllSync = () => {
    for (const instance of this.#instances) instance.killSync()
  }

  constructor(options: ProcessSupervisorOptions) {
    const resolved = resolveProcessSupervisorOptions(options)
    super({
      name: 'ProcessSupervisor',
      closeTimeoutMs: Math.min(kMaxTimerMs, resolved.shutdownTimeoutMs + kReapGraceMs),
    })
    this.options = resolved
    const hooks: InstanceHooks = {
      output: this.options.output ?? process.stdout,
      logger: this.options.logger,
      ready: (instance) => this.emit('ready', instance.status()),
      respawned: (instance) => this.emit('restart', instance.status()),
      ended: (instance, run) => this.#onEnded(instance, run),
    }
    this.#restarts = new RestartWindow(this.options.maxRestarts, this.options.withinMs)
    this.#instances = this.options.children.flatMap((spec) =>
      Array.from({ length: spec.instances }, (_, index) => new ChildInstance(spec, index, hooks)),
    )
    this.closed = this.lifecycle.closed.then((error) => this.#failure ?? error)
  }

  /**
   * Spawns every instance. Resolves once each is running: spawned, or, with `ready: true`, once it sent
   * 'ready'. Rejects when one exits (or cannot be spawned, or overruns `readyTimeoutMs`) before that; the
   * supervisor then stops everything and `closed` resolves with that error. Memoised.
   */
  start(): Promise<void> {
    return (this.#starting ??= this.#runStart())
  }

  async #runStart(): Promise<void> {
    this.assertOpen('start')
    if (this.options.handleSignals) this.forwardSignals()
    process.on('exit', this.#killAllSync)
    for (const instance of this.#instances) instance.spawn()
    try {
      await abortable(Promise.all(this.#instances.map((instance) => instance.firstReady)), this.signal)
    } catch (error) {
      if (this.state === 'open') {
        this.#failure = coerceError(error)
        await this.stop().catch(noop)
      }
      throw this.#failure ?? error
    }
    this.#started = true
    this.#stopIfAllEnded()
  }

  /** One entry per instance, in spec order then instance order. */
  status(): ChildStatus[] {
    return this.#instances.map((instance) => instance.status())
  }

  /** Graceful stop: SIGTERM to each process, SIGKILL to those still running after `shutdownTimeoutMs`. */
  stop(): Promise<void> {
    return this.close()
  }

  /** Forceful stop: SIGKILL to each process now. */
  destroy(reason?: Error): Promise<void> {
    return this.lifecycle.destroy(reason)
  }

  /**
   * Makes SIGTERM and SIGINT (or `signals`) of this process stop the supervisor gracefully; a second
   * signal destroys it (SIGKILL). The handlers replace node's default (exit) and are removed when the
   * supervisor has stopped, or by calling the returned function. Idempotent.
   */
  forwardSignals(signals: readonly NodeJS.Signals[] = kForwardedSignals): () => void {
    if (this.#unforward !== undefined) return this.#unforward
    this.assertOpen('forward signals')
    let received = 0
    const onSignal = (signal: NodeJS.Signals) => {
      received += 1
      this.options.logger?.info(received === 1 ? `${signal}: stopping` : `${signal} again: killing`, { signal })
      void (received === 1 ? this.stop() : this.destroy()).catch(noop)
    }
    for (const signal of signals) process.on(signal, onSignal)
    const unforward = () => {
      for (const signal of signals) process.off(signal, onSignal)
      if (this.#unforward === unforward) this.#unforward = undefined
    }
    this.#unforward = unforward
    return unforward
  }

  protected onClose(): Promise<void> {
    return this.#drain((instance) => instance.stop(this.options.shutdownTimeoutMs))
  }

  protected override onDestroy(): Promise<void> {
    return this.#drain((instance) => instance.kill())
  }

  async #drain(stopInstance: (instance: ChildInstance) => Promise<void>): Promise<void> {
    try {
      await Promise.all(this.#instances.map(stopInstance))
    } finally {
      this.#unforward?.()
      process.off('exit', this.#killAllSync)
    }
  }

  #onEnded(instance: ChildInstance, run: RunEnd): void {
    const { restart } = instance.spec
    const abnormal = run.exitCode !== 0
    const info = { name: instance.spec.name, instance: instance.index, pid: run.pid, exitCode: run.exitCode }
    const ended = `${instance.label}${run.pid === null ? '' : ` (pid ${run.pid})`} ${
      run.error === undefined
        ? `exited with ${describeExit(run.exitCode)}`
        : `could not be spawned: ${run.error.message}`
    }`
    let restarting = false
    let failure: PulseError | undefined
    if (this.state !== 'open' || instance.state === 'stopping') {
      // Being stopped: stop() settles the state.
    } else if (!instance.everReady) {
      // Not ready yet: start() fails through `firstReady`.
      instance.settle('failed')
    } else if (!shouldRestart(restart, !abnormal)) {
      instance.settle(abnormal ? 'failed' : 'stopped')
      this.options.logger?.[abnormal ? 'warn' : 'info'](`${ended}; not restarted (restart: ${restart})`, info)
    } else if (!this.#restarts.record(performance.now())) {
      instance.settle('failed')
      const { maxRestarts, withinMs } = this.options
      failure = new SupervisorGaveUpError(
        `${ended}: more than ${maxRestarts} restarts within ${withinMs} ms; the supervisor gives up and stops all children`,
        { data: { ...info, maxRestarts, withinMs } },
      )
    } else {
      const delayMs = instance.backoff(run, this.options)
      instance.restartAfter(delayMs)
      restarting = true
      this.options.logger?.warn(`${ended}; restarting in ${delayMs} ms`, { ...info, delayMs })
    }
    this.emit('exit', {
      name: instance.spec.name,
      instance: instance.index,
      pid: run.pid,
      exitCode: run.exitCode,
      ...(run.error === undefined ? {} : { error: run.error }),
      uptimeMs: run.uptimeMs,
      restarting,
    })
    if (failure !== undefined) this.#giveUp(failure)
    else this.#stopIfAllEnded()
  }

  /** Nothing left to supervise (every instance ended and none restarts): stop, so that `closed` resolves. */
  #stopIfAllEnded(): void {
    if (!this.#started || this.state !== 'open') return
    if (!this.#instances.every(({ state }) => state === 'stopped' || state === 'failed')) return
    this.options.logger?.info('every child has ended and none restarts; stopping')
    this.stop().catch(noop)
  }

  #giveUp(error: PulseError): void {
    this.#failure ??= error
    // stop() first, so that 'error' listeners see every instance stopping; `closed` reports the outcome.
    this.stop().catch(noop)
    if (this.listenerCount('error') > 0) {
      this.emit('error', error)
    } else {
      setImmediate(() => {
        throw error
      })
    }
  }
}
