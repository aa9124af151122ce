/**
 * The fault schedule of a scenario: steps run in turn, each after its gap, round and round until
 * `stop()`. Each step names the kind of fault it injects; the loop counts them for the results.
 */
import { setTimeout as sleep } from 'node:timers/promises'

export interface FaultStep {
  /** What it injects ('kill', 'cut', 'latency', …): the results count faults by kind. */
  readonly kind: string
  /** Waited before the step. */
  readonly gapMs: number
  /** Injects the fault; a window's step resolves when the window ends. */
  readonly run: () => unknown
}

/** A fault as it was injected: when (epoch ms) and what. */
export interface TimelineEntry {
  readonly at: number
  readonly what: string
}

export class FaultLoop {
  readonly #steps: readonly FaultStep[]
  readonly #controller = new AbortController()
  readonly #counts = new Map<string, number>()
  readonly #timeline: TimelineEntry[] = []
  #loop: Promise<void> | undefined

  constructor(steps: readonly FaultStep[]) {
    this.#steps = steps
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
    for (let i = 0; !signal.aborted; i = (i + 1) % this.#steps.length) {
      const step = this.#steps[i] as FaultStep
      const waited = await sleep(step.gapMs, true, { signal }).catch(() => false)
      if (!waited) return
      this.#counts.set(step.kind, (this.#counts.get(step.kind) ?? 0) + 1)
      this.#timeline.push({ at: Date.now(), what: step.kind })
      await step.run()
    }
  }
}

/** Entries of several timelines, in order, as `+<s> <what>` from `start` (epoch ms). */
export function timelineOf(start: number, ...lists: (readonly TimelineEntry[])[]): string[] {
  return lists
    .flat()
    .sort((a, b) => a.at - b.at)
    .map((e) => `+${((e.at - start) / 1000).toFixed(1)} s ${e.what}`)
}

/** Adds the counts of several loops. */
export function mergeCounts(...counts: ReadonlyMap<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {}
  for (const map of counts) for (const [kind, n] of map) merged[kind] = (merged[kind] ?? 0) + n
  return merged
}
