/**
 * The common interface of the job-queue benchmark: one adapter per library (pulse, graphile-worker,
 * pg-boss) and the bare SQL loop. Each phase starts its worker on a clean store and stops it after, so
 * no phase inherits another's backlog, dead tuples or timers.
 */
import { postgresCpuMicros } from '../lib/proc-cpu.js'

export interface BulkResult {
  /** Jobs / (first enqueue → last durable completion), per second. */
  readonly e2e: number
  /** Jobs / (first enqueue → last bulk insert resolved), per second. */
  readonly submit: number
  /** CPU µs from the first enqueue to the last completion (the drain alone: no connect, start or close). */
  readonly drainCpu: DrainCpu
}

export interface DrainCpu {
  /** This process, every thread. */
  readonly node: number
  /** Every process of the PostgreSQL server. */
  readonly postgres: number
}

/** Starts a CPU reading; the function returned reads the CPU used since. */
export function startCpuReading(): () => DrainCpu {
  const node0 = process.cpuUsage()
  const postgres0 = postgresCpuMicros()
  return () => {
    const node = process.cpuUsage(node0)
    return { node: node.user + node.system, postgres: postgresCpuMicros() - postgres0 }
  }
}

export interface SteadyResult {
  /** Enqueue call → handler start, in ms. */
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  /** Jobs recorded (after the warm-up). */
  readonly count: number
  /** Enqueue call → its promise resolved (the insert committed), in ms: p50 and p99. */
  readonly enqueueP50: number
  readonly enqueueP99: number
  /** Jobs enqueued but not started when the wait ran out. */
  readonly missing: number
}

export interface SteadyOptions {
  readonly rate: number
  readonly warmupSeconds: number
  readonly seconds: number
  readonly concurrency: number
}

export interface JobsAdapter {
  readonly name: string
  setup(): Promise<void>
  bulk(n: number, concurrency: number): Promise<BulkResult>
  steady(options: SteadyOptions): Promise<SteadyResult>
  teardown(): Promise<void>
}

/** The payload every steady job carries: its enqueue time (performance.now(), same process). */
export interface StampedArgs {
  t: number
}

/** A job's args as an application sends them (the probes' '8 keys'): an array and a nested object among eight keys. */
export const kEightKeyArgs = {
  to: 'a@b.com',
  subject: 'Hello there',
  userId: 12345,
  tags: ['a', 'b', 'c'],
  locale: 'en-GB',
  template: 'welcome',
  retry: true,
  meta: { source: 'signup', campaign: 'x1' },
}
