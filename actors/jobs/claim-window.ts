/**
 * The claim window of a worker: at most `concurrency + prefetch` claimed jobs whose handler has not
 * finished. A number for `prefetch` is kept as it is; `'auto'` (the default) sizes it from the
 * handlers' run time, so that the jobs held beyond the running ones keep every slot busy for about
 * `kBufferMs` and no longer:
 *
 *   prefetch = clamp(concurrency × kBufferMs / mean run time, 0, claimBatchMax − concurrency)
 *
 * - Short jobs get a wide window (few claims per job while a backlog drains); long jobs get none, so a
 *   worker never sits on jobs another worker could start now (fairness between workers).
 * - An empty queue costs nothing here: a claim takes only what is there, whatever the window.
 * - The mean is an exponentially weighted one; the window is resized every `kRetuneEvery` results.
 *   Growing grants the difference as credits at once; shrinking withholds credits that come back until
 *   the difference is paid, so the worker never holds more than the current window.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { checkInteger } from '../../runtime/options.js'

/** How long the held (prefetched) jobs should keep every slot busy. */
const kBufferMs = 100
const kRetuneEvery = 32
/** Weight of the newest run time in the mean. */
const kAlpha = 0.1

export type PrefetchOption = number | 'auto'

export function checkPrefetch(value: unknown, name: string): PrefetchOption {
  if (value === 'auto') return value
  if (typeof value === 'number') return checkInteger(value, name, { min: 0, max: 1_000_000 })
  throw new InvalidArgumentError(`${name} must be 'auto' or an integer from 0`, { data: { option: name } })
}

export class ClaimWindow {
  readonly concurrency: number
  readonly #auto: boolean
  readonly #max: number
  #prefetch: number
  #meanMs: number | undefined
  #sinceRetune = 0
  #debt = 0
  #changed = false

  constructor(concurrency: number, prefetch: PrefetchOption, claimBatchMax: number) {
    this.concurrency = concurrency
    this.#auto = prefetch === 'auto'
    this.#prefetch = prefetch === 'auto' ? 0 : prefetch
    this.#max = Math.max(0, claimBatchMax - concurrency)
  }

  get prefetch(): number {
    return this.#prefetch
  }

  get size(): number {
    return this.concurrency + this.#prefetch
  }

  /** A handler settled after `runMs` (undefined: it never ran): the credits to give back now. */
  settled(runMs: number | undefined): number {
    let credits = 1
    if (this.#auto && runMs !== undefined) credits += this.#observe(runMs)
    if (credits < 0) {
      this.#debt -= credits
      return 0
    }
    const paid = Math.min(this.#debt, credits)
    this.#debt -= paid
    return credits - paid
  }

  /** The new size when it changed since the last call (for the dispatcher's bound), else undefined. */
  takeChange(): number | undefined {
    if (!this.#changed) return undefined
    this.#changed = false
    return this.size
  }

  /** The dispatcher restarted: credits start over from what is held, and nothing is owed. */
  restart(held: number): number {
    this.#debt = 0
    this.#changed = false
    return Math.max(0, this.size - held)
  }

  /** The change of the window (to add to the credits) once per `kRetuneEvery` results. */
  #observe(runMs: number): number {
    this.#meanMs = this.#meanMs === undefined ? runMs : this.#meanMs + kAlpha * (runMs - this.#meanMs)
    if (++this.#sinceRetune < kRetuneEvery) return 0
    this.#sinceRetune = 0
    const wanted = Math.round((this.concurrency * kBufferMs) / Math.max(this.#meanMs, 0.001))
    const next = Math.min(this.#max, Math.max(0, wanted))
    const delta = next - this.#prefetch
    if (delta === 0) return 0
    this.#prefetch = next
    this.#changed = true
    return delta
  }
}
