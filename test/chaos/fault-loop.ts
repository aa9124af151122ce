/**
 * The fault schedule of a scenario: steps run in turn, each after its gap (and its `after` condition,
 * a mark of the work's progress), round and round until `stop()` or for `rounds` rounds. Each step
 * names the kind of fault it injects; the loop counts them for the results.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface FaultStep {
  /** What it injects ('kill', 'cut', 'latency', …): the results count faults by kind. */
  readonly kind: string
  /** Waited before the step. */
  readonly gapMs: number
  /** Awaited after the gap, before the step counts (rejects when `signal` aborts: the loop ends). */
  readonly after?: (signal: AbortSignal) => Promise<void>
  /** Injects the fault; a window's step resolves when the window ends. */
  readonly run: () => unknown
}

/** A fault as it was injected: when (epoch ms) and what; `until`, when its step was over (a window's end). */
export interface TimelineEntry {
  readonly at: number
  readonly what: string
  readonly until?: number | undefined
}

export class FaultLoop {
  readonly #steps: readonly FaultStep[]
  readonly #controller = new AbortController()
  readonly #counts = new Map<string, number>()
  readonly #timeline: TimelineEntry[] = []
  readonly #rounds: number
  #loop: Promise<void> | undefined

  /** `rounds`: how many times the steps run through (for ever by default, until `stop()`). */
  constructor(steps: readonly FaultStep[], options: { rounds?: number } = {}) {
    this.#steps = steps
    this.#rounds = options.rounds ?? Number.POSITIVE_INFINITY
  }

  start(): this {
    this.#loop = this.#run()
    return this
  }

  /** Stops before the next step; resolves once the step under way (a window, a restart) is over. */
  async stop(): Promise<void> {
    this.#controller.abort()
    await this.#loop
  }

  /** Faults injected so far, in order. */
  get timeline(): readonly TimelineEntry[] {
    return this.#timeline
  }

  /** Faults injected so far, by kind. */
  get counts(): ReadonlyMap<string, number> {
    return this.#counts
  }

  async #run(): Promise<void> {
    const { signal } = this.#controller
    for (let n = 0; !signal.aborted && n < this.#rounds * this.#steps.length; n++) {
      const step = this.#steps[n % this.#steps.length] as FaultStep
      const waited = await sleep(step.gapMs, true, { signal }).catch(() => false)
      if (!waited) return
      if (
        step.after !== undefined &&
        !(await step.after(signal).then(
          () => !signal.aborted,
          () => false,
        ))
      )
        return
      this.#counts.set(step.kind, (this.#counts.get(step.kind) ?? 0) + 1)
      const entry: { at: number; what: string; until?: number } = { at: Date.now(), what: step.kind }
      this.#timeline.push(entry)
      await step.run()
      entry.until = Date.now()
    }
  }
}

/** Entries of several timelines, in order, as `+<s> <what> (<how long>)` from `start` (epoch ms). */
export function timelineOf(start: number, ...lists: (readonly TimelineEntry[])[]): string[] {
  return lists
    .flat()
    .sort((a, b) => a.at - b.at)
    .map((e) => {
      const lasted = e.until === undefined || e.until - e.at < 100 ? '' : ` (${((e.until - e.at) / 1000).toFixed(1)} s)`
      return `+${((e.at - start) / 1000).toFixed(1)} s ${e.what}${lasted}`
    })
}

/** Adds the counts of several loops. */
export function mergeCounts(...counts: ReadonlyMap<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {}
  for (const map of counts) for (const [kind, n] of map) merged[kind] = (merged[kind] ?? 0) + n
  return merged
}
