/**
 * A load run: `--rounds` rounds, each running every workload on Pulse and then on each of its peers,
 * in the same order (so the systems of a round share the machine's conditions and their ratios are
 * taken within it). Each system keeps its rounds' figures and one histogram of all its latencies.
 */
import { randomUUID } from 'node:crypto'

import type hdr from 'hdr-histogram-js'

import { Runtime } from '../../actors/runtime/index.js'
import { drive } from './drive.js'
import { latencyHistogram, latencyMs, type LatencyMs } from './histogram.js'
import type { Progress } from './progress.js'
import type { Plan, RoundResult, SystemSpec, TargetContext, Workload } from './types.js'

/** One system's figures over the rounds. */
export interface Collected {
  readonly spec: SystemSpec
  readonly rounds: RoundResult[]
  /** Each round's latency percentiles. */
  readonly latencies: LatencyMs[]
  /** Every round's latencies together. */
  readonly histogram: hdr.Histogram
}

export type Collection = Map<Workload, Collected[]>

export interface RunInput {
  readonly plan: Plan
  readonly systems: ReadonlyMap<Workload, readonly SystemSpec[]>
  readonly redisUrl: string
  readonly databaseUrl: string
  readonly progress: Progress
}

function collection(systems: ReadonlyMap<Workload, readonly SystemSpec[]>): Collection {
  const all: Collection = new Map()
  for (const [workload, specs] of systems) {
    all.set(
      workload,
      specs.map((spec) => ({ spec, rounds: [], latencies: [], histogram: latencyHistogram() })),
    )
  }
  return all
}

export async function runLoad(input: RunInput): Promise<Collection> {
  const { plan, progress } = input
  const all = collection(input.systems)
  const id = randomUUID().slice(0, 8)
  let runtime: Promise<Runtime> | undefined
  try {
    for (let round = 1; round <= plan.rounds; round++) {
      const context: TargetContext = {
        redisUrl: input.redisUrl,
        databaseUrl: input.databaseUrl,
        concurrency: plan.concurrency,
        tag: `${id}-${round}`,
        runtime: () => (runtime ??= Runtime.start()),
      }
      for (const [workload, systems] of all) {
        for (const collected of systems) {
          progress.label(`round ${round}/${plan.rounds}: ${workload} on ${collected.spec.system}`)
          const { result, histogram } = await drive(collected.spec, plan, context, () => progress.tick())
          collected.rounds.push(result)
          collected.latencies.push(latencyMs(histogram))
          collected.histogram.add(histogram)
        }
      }
    }
  } finally {
    await (await runtime?.catch(() => undefined))?.close()
  }
  return all
}
