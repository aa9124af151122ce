/**
 * Supervision rules, pure: which exits restart an actor, how long to wait first, and when the restarts
 * come too fast for restarting to help (then the runtime gives up and closes).
 */
import { backoffMs as exponentialBackoffMs } from './backoff.js'
import { checkDurationMs, checkInteger, checkKnownKeys, checkOneOf, resolveOptions } from './options.js'

export type RestartPolicy = 'permanent' | 'transient' | 'temporary'
export const RESTART_POLICIES: readonly RestartPolicy[] = ['permanent', 'transient', 'temporary']

export interface SupervisionOptions {
  /** More restarts than this within `withinMs` and the runtime gives up. @default 5 */
  maxRestarts?: number
  /** @default 10_000 */
  withinMs?: number
  /** First restart delay; doubles per recent restart of the same actor, up to 64×. @default 100 */
  backoffMs?: number
}

export const DEFAULT_SUPERVISION_OPTIONS = {
  maxRestarts: 5,
  withinMs: 10_000,
  backoffMs: 100,
} as const satisfies Required<SupervisionOptions>

export function resolveSupervision(
  options: SupervisionOptions | undefined,
  path = 'options.supervision',
): Readonly<Required<SupervisionOptions>> {
  if (options !== undefined) {
    checkKnownKeys(options, Object.keys(DEFAULT_SUPERVISION_OPTIONS), path)
    if (options.maxRestarts !== undefined) checkInteger(options.maxRestarts, `${path}.maxRestarts`, { min: 0 })
    if (options.withinMs !== undefined) checkDurationMs(options.withinMs, `${path}.withinMs`, { min: 1 })
    if (options.backoffMs !== undefined) checkDurationMs(options.backoffMs, `${path}.backoffMs`)
  }
  return resolveOptions<Required<SupervisionOptions>>(DEFAULT_SUPERVISION_OPTIONS, options)
}

export function checkRestartPolicy(value: unknown, name: string): RestartPolicy {
  return checkOneOf(value, name, RESTART_POLICIES)
}

/** Whether an exit restarts the actor: `normal` is a clean exit (code 0), not a crash. */
export function shouldRestart(policy: RestartPolicy, normal: boolean): boolean {
  return policy === 'permanent' || (policy === 'transient' && !normal)
}

/** Restart delay after `recent` restarts of the same actor within the window. */
export function backoffDelayMs(backoffMs: number, recent: number): number {
  return exponentialBackoffMs(recent, { baseMs: backoffMs, maxDoublings: 6 })
}

/** Restarts within a sliding window; `record()` says whether one more is still allowed. */
export class RestartWindow {
  readonly #maxRestarts: number
  readonly #withinMs: number
  readonly #times: number[] = []

  constructor(maxRestarts: number, withinMs: number) {
    this.#maxRestarts = maxRestarts
    this.#withinMs = withinMs
  }

  /** Records a restart at `now`; false when it makes more than maxRestarts within the window. */
  record(now: number): boolean {
    while (this.#times.length > 0 && (this.#times[0] ?? 0) <= now - this.#withinMs) this.#times.shift()
    this.#times.push(now)
    return this.#times.length <= this.#maxRestarts
  }

  /** Restarts within the window before `now`. */
  recent(now: number): number {
    return this.#times.filter((t) => t > now - this.#withinMs).length
  }
}
