/**
 * The load generator's shapes: a target (one system under one workload), the plan of a run, and the
 * figures one target gives in one round.
 */
import type { Runtime } from '../../actors/runtime/index.js'
import type { LatencyMs } from './histogram.js'

export const WORKLOADS = ['jobs', 'sinks', 'pool', 'bus'] as const
export type Workload = (typeof WORKLOADS)[number]

/** What a target's latency measures, by workload. */
export const LATENCY_OF: Readonly<Record<Workload, string>> = {
  jobs: 'enqueue → start',
  sinks: 'add → delivery',
  pool: 'dispatch → handler',
  bus: 'put → get',
}

/** The server a target's CPU is read from. */
export type ServerKind = 'postgres' | 'redis'

/** One system under one workload, started afresh for each round. */
export interface LoadTarget {
  /** Operations one `send` carries in bulk mode (1: `concurrency` senders send one at a time). */
  readonly batch: number
  /**
   * Starts the consumers: `delivered(stamp)` for each operation when it reaches its handler, with the
   * stamp it was sent with.
   */
  start(delivered: (stamp: number) => void): Promise<void>
  /** Sends `count` operations stamped `stamp` (performance.now() when sent). */
  send(stamp: number, count: number): Promise<void>
  /** How many operations are durably done (a completed job); absent: as many as were delivered. */
  completed?(): Promise<number>
  /** The PostgreSQL database the target uses (for its backends' CPU), when it uses one. */
  readonly database?: string
  close(): Promise<void>
}

/** Where a target runs and how hard it works. */
export interface TargetContext {
  readonly redisUrl: string
  readonly databaseUrl: string
  readonly concurrency: number
  /** A name of this run and round, for keys, streams, pools and queues. */
  readonly tag: string
  /** The run's `Runtime`, started on first use: Pulse's job workers run their actors on it. */
  runtime(): Promise<Runtime>
}

export type TargetFactory = (context: TargetContext) => Promise<LoadTarget>

/** A system under one workload: Pulse, or a peer. */
export interface SystemSpec {
  readonly system: string
  readonly server: ServerKind
  readonly make: TargetFactory
}

export interface Plan {
  readonly workloads: readonly Workload[]
  /** Operations per target in bulk mode. */
  readonly jobs: number
  readonly concurrency: number
  /** Operations per second; undefined: bulk mode. */
  readonly rate: number | undefined
  readonly durationMs: number
  readonly rounds: number
  /** How long the drain may take after the last send. */
  readonly drainTimeoutMs: number
}

/** What one target did in one round. */
export interface RoundResult {
  readonly sent: number
  readonly delivered: number
  readonly completed: number
  /** Completed operations per second, first send → last completion. */
  readonly throughput: number
  readonly elapsedMs: number
  /** CPU µs per completed operation: this process, and the server where it can be read (else null). */
  readonly processCpuUs: number
  readonly serverCpuUs: number | null
}

export type { LatencyMs }
