/**
 * The run's report: one JSON document (`--json`) — workloads → systems → throughput, latency
 * percentiles, CPU per operation and the ratios to Pulse — and the table printed by default.
 */
import { printTable } from '../common/output.js'
import { latencyMs, type LatencyMs } from './histogram.js'
import type { MissingPeer } from './peers/index.js'
import type { Collected, Collection } from './run.js'
import type { LoadServers, ServerOrigin } from './servers.js'
import { LATENCY_OF, type Plan, type ServerKind, type Workload } from './types.js'

export interface SystemReport {
  readonly sent: number
  readonly delivered: number
  readonly completed: number
  /** Completed operations per second: the median of the rounds. */
  readonly throughput: number
  readonly throughputs: readonly number[]
  /** ms, every round's latencies together. */
  readonly latency: LatencyMs
  /** CPU µs per completed operation (medians of the rounds); `server` null where it cannot be read. */
  readonly cpuPerOp: { readonly process: number; readonly server: number | null }
  /** To Pulse within each round, the median of the rounds: throughput and p99 latency. */
  readonly ratio: { readonly throughput: number; readonly p99: number }
}

export interface WorkloadReport {
  readonly latency: string
  readonly server: ServerKind
  readonly systems: Readonly<Record<string, SystemReport>>
}

export interface LoadReport {
  readonly mode: 'bulk' | 'rate'
  readonly jobs: number | null
  readonly rate: number | null
  readonly durationMs: number | null
  readonly concurrency: number
  readonly rounds: number
  readonly servers: Readonly<Record<ServerKind, ServerOrigin>>
  readonly peers: Readonly<Record<string, readonly Workload[]>>
  readonly missingPeers: readonly MissingPeer[]
  readonly workloads: Partial<Record<Workload, WorkloadReport>>
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0)
const round2 = (value: number): number => Math.round(value * 100) / 100

/** `mine / pulse` within each round, the median of the rounds. */
function ratio(mine: readonly number[], pulse: readonly number[]): number {
  return round2(median(mine.map((value, i) => value / Math.max(pulse[i] ?? 0, 1e-9))))
}

function systemReport(system: Collected, pulse: Collected): SystemReport {
  const { rounds } = system
  const servers = rounds.map((r) => r.serverCpuUs)
  return {
    sent: sum(rounds.map((r) => r.sent)),
    delivered: sum(rounds.map((r) => r.delivered)),
    completed: sum(rounds.map((r) => r.completed)),
    throughput: Math.round(median(rounds.map((r) => r.throughput))),
    throughputs: rounds.map((r) => r.throughput),
    latency: latencyMs(system.histogram),
    cpuPerOp: {
      process: round2(median(rounds.map((r) => r.processCpuUs))),
      server: servers.some((s) => s === null) ? null : round2(median(servers as number[])),
    },
    ratio: {
      throughput: ratio(
        rounds.map((r) => r.throughput),
        pulse.rounds.map((r) => r.throughput),
      ),
      p99: ratio(
        system.latencies.map((l) => l.p99),
        pulse.latencies.map((l) => l.p99),
      ),
    },
  }
}

export interface ReportInput {
  readonly plan: Plan
  readonly collection: Collection
  readonly servers: LoadServers
  readonly peers: Readonly<Record<string, readonly Workload[]>>
  readonly missingPeers: readonly MissingPeer[]
}

export function loadReport(input: ReportInput): LoadReport {
  const { plan } = input
  const workloads: Partial<Record<Workload, WorkloadReport>> = {}
  for (const [workload, systems] of input.collection) {
    const pulse = systems[0]
    if (pulse === undefined) continue
    const entries = systems.map((s) => [s.spec.system, systemReport(s, pulse)] as const)
    workloads[workload] = {
      latency: LATENCY_OF[workload],
      server: pulse.spec.server,
      systems: Object.fromEntries(entries),
    }
  }
  return {
    mode: plan.rate === undefined ? 'bulk' : 'rate',
    jobs: plan.rate === undefined ? plan.jobs : null,
    rate: plan.rate ?? null,
    durationMs: plan.rate === undefined ? null : plan.durationMs,
    concurrency: plan.concurrency,
    rounds: plan.rounds,
    servers: input.servers.origin,
    peers: input.peers,
    missingPeers: input.missingPeers,
    workloads,
  }
}

const fixed = (value: number): string =>
  value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

function row(workload: Workload, system: string, r: SystemReport): unknown[] {
  const l = r.latency
  return [
    workload,
    system,
    `${r.completed}/${r.sent}`,
    r.throughput,
    ...[l.p50, l.p90, l.p99, l.p999].map(fixed),
    r.cpuPerOp.process.toFixed(1),
    r.cpuPerOp.server === null ? '—' : r.cpuPerOp.server.toFixed(1),
    system === 'pulse' ? '1' : `${r.ratio.throughput.toFixed(2)}×`,
  ]
}

const kHead = [
  'workload',
  'system',
  'done/sent',
  'ops/s',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'p99.9 ms',
  'CPU/op µs',
  'server CPU/op µs',
  'ops/s × pulse',
]

function modeLine(report: LoadReport): string {
  const how =
    report.mode === 'bulk'
      ? `bulk: ${report.jobs} operations per system, drained with concurrency ${report.concurrency}`
      : `steady: ${report.rate}/s for ${(report.durationMs ?? 0) / 1000} s, concurrency ${report.concurrency}`
  return `${how}; ${report.rounds} round${report.rounds === 1 ? '' : 's'}; redis ${report.servers.redis}, postgres ${report.servers.postgres}`
}

function peerLine(report: LoadReport): string | undefined {
  const names = Object.entries(report.peers)
  if (names.length === 0) return undefined
  return `peers: ${names.map(([peer, workloads]) => `${peer} on ${workloads.join(', ')}`).join('; ')}`
}

export function printReport(report: LoadReport): void {
  const rows: unknown[][] = []
  for (const [workload, w] of Object.entries(report.workloads) as [Workload, WorkloadReport][]) {
    for (const [system, r] of Object.entries(w.systems)) rows.push(row(workload, system, r))
  }
  printTable(kHead, rows)
  const lines = [modeLine(report), peerLine(report)]
  lines.push(`latency: ${(Object.keys(report.workloads) as Workload[]).map((w) => `${w} ${LATENCY_OF[w]}`).join('; ')}`)
  for (const missing of report.missingPeers) lines.push(`${missing.reason}: ${missing.install}`)
  process.stdout.write(lines.filter((l) => l !== undefined).join('\n') + '\n')
}
