/**
 * The flags of `pulse loadgen` as a run's plan: workloads, counts, rate and duration, peers. Each
 * refusal is an `InvalidArgumentError` naming its flag; the command prints its message as a usage
 * error (exit code 2) before anything starts.
 */
import { InvalidArgumentError } from '../../runtime/errors.js'
import { parseDuration } from '../common/duration.js'
import { isPeer, PEERS, type PeerName } from './peers/index.js'
import { type Plan, type Workload, WORKLOADS } from './types.js'

/** The flags a plan is made of (commander's camel-cased names, defaults applied). */
export interface PlanFlags {
  readonly jobs: string
  readonly concurrency: string
  readonly rate?: string | undefined
  readonly duration?: string | undefined
  readonly rounds: string
}

function refuse(message: string, option: string): never {
  throw new InvalidArgumentError(message, { data: { option } })
}

function positive(text: string, flag: string): number {
  const value = Number(text)
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    refuse(`${flag} must be an integer of at least 1 (got ${JSON.stringify(text)})`, flag)
  }
  return value
}

/** The workloads named (all of them when none is), in their canonical order. */
export function workloadsOf(names: readonly string[]): Workload[] {
  for (const name of names) {
    if (!(WORKLOADS as readonly string[]).includes(name))
      refuse(`unknown workload ${JSON.stringify(name)}; the workloads are ${WORKLOADS.join(', ')}`, 'workload')
  }
  return names.length === 0 ? [...WORKLOADS] : WORKLOADS.filter((w) => names.includes(w))
}

/** `--peers a,b`: each peer once, in the order given; none without the flag. */
export function peersOf(list: string | undefined): PeerName[] {
  if (list === undefined) return []
  const names = [...new Set(list.split(',').map((p) => p.trim()))].filter((p) => p !== '')
  for (const name of names) {
    if (!isPeer(name))
      refuse(`unknown peer ${JSON.stringify(name)} in --peers; the peers are ${PEERS.join(', ')}`, '--peers')
  }
  if (names.length === 0) refuse('--peers needs at least one of ' + PEERS.join(', '), '--peers')
  return names as PeerName[]
}

/** The plan of `flags`: bulk without `--rate`, steady for `--duration` (default 30 s) with it. */
export function planOf(workloads: readonly string[], flags: PlanFlags): Plan {
  const rate = flags.rate === undefined ? undefined : positive(flags.rate, '--rate')
  if (flags.duration !== undefined && rate === undefined)
    refuse('--duration goes with --rate (a steady run)', '--duration')
  const durationMs = parseDuration(flags.duration ?? '30s', '--duration', { min: 1 })
  return {
    workloads: workloadsOf(workloads),
    jobs: positive(flags.jobs, '--jobs'),
    concurrency: positive(flags.concurrency, '--concurrency'),
    rate,
    durationMs,
    rounds: positive(flags.rounds, '--rounds'),
    drainTimeoutMs: rate === undefined ? 120_000 : 30_000,
  }
}
