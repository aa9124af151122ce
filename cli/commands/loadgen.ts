/**
 * `pulse loadgen [workload…]`: a fixed workload on the job queue, sinks, the pool and the bus (all
 * four by default), measured: throughput, HDR latency percentiles and CPU per operation, in a table
 * or (`--json`) one document. `--peers` runs the same workload on BullMQ, pg-boss and graphile-worker
 * where they have it, in the same rounds. Bulk by default (`--jobs` operations drained with
 * `--concurrency`); steady with `--rate` for `--duration`. It uses the configured servers, else
 * embedded ones it starts and stops (cli/loadgen/servers.ts). Bad flags exit 2 with one line.
 */
import { Command, CommanderError } from 'commander'

import { InvalidArgumentError, TimeoutError } from '../../actors/runtime/index.js'
import { printJson } from '../common/output.js'
import { resolveSettings } from '../common/settings.js'
import { loadPeer, type MissingPeer, PEERS, type PeerName, peerServer, peerWorkloads } from '../loadgen/peers/index.js'
import { peersOf, planOf } from '../loadgen/plan.js'
import { progressBar } from '../loadgen/progress.js'
import { loadReport, printReport, type LoadReport } from '../loadgen/report.js'
import { runLoad } from '../loadgen/run.js'
import { openServers } from '../loadgen/servers.js'
import { type Plan, type ServerKind, type SystemSpec, type Workload, WORKLOADS } from '../loadgen/types.js'
import { pulseBus } from '../loadgen/workloads/bus.js'
import { pulseJobs } from '../loadgen/workloads/jobs.js'
import { pulsePool } from '../loadgen/workloads/pool.js'
import { pulseSinks } from '../loadgen/workloads/sinks.js'

interface LoadgenFlags {
  jobs: string
  concurrency: string
  rate?: string
  duration?: string
  rounds: string
  peers?: string
  redis?: string
  database?: string
  json?: boolean
}

const kPulse: Readonly<Record<Workload, SystemSpec>> = {
  jobs: { system: 'pulse', server: 'postgres', make: pulseJobs },
  sinks: { system: 'pulse', server: 'redis', make: pulseSinks },
  pool: { system: 'pulse', server: 'redis', make: pulsePool },
  bus: { system: 'pulse', server: 'redis', make: pulseBus },
}

export function loadgenCommand(): Command {
  return new Command('loadgen')
    .description('drive the job queue, sinks, pool and bus with a fixed workload and measure them (and peers)')
    .argument('[workload...]', `what to drive: ${WORKLOADS.join(', ')} (default: all)`)
    .option('--jobs <n>', 'bulk: operations per system and round', '20000')
    .option('--concurrency <n>', 'jobs run at once, dispatchers, publishers', '50')
    .option('--rate <r>', 'steady: operations per second, for --duration, instead of bulk')
    .option('--duration <d>', 'with --rate: how long to send (e.g. 30s, 500ms)')
    .option('--rounds <n>', 'rounds; each runs every system once, ratios to Pulse are taken within one', '1')
    .option('--peers <list>', `also run the peers where they have the workload: ${PEERS.join(',')}`)
    .option('--redis <url>', 'Redis URL (default: REDIS_URL, the saved config, else an embedded redis-server)')
    .option('--database <url>', 'PostgreSQL URL (default: DATABASE_URL, the saved config, else an embedded one)')
    .option('--json', 'print one JSON document')
    .action((workloads: string[], flags: LoadgenFlags) => runLoadgen(workloads, flags))
}

/** A usage error: one line on standard error, exit code 2. */
function usage(message: string): never {
  process.stderr.write(`pulse loadgen: error: ${message}\n`)
  throw new CommanderError(2, 'pulse.loadgen.usage', message)
}

interface Systems {
  readonly specs: Map<Workload, SystemSpec[]>
  readonly peers: Record<string, Workload[]>
  readonly missing: MissingPeer[]
}

async function systemsOf(plan: Plan, peers: readonly PeerName[]): Promise<Systems> {
  const specs = new Map(plan.workloads.map((w) => [w, [kPulse[w]]]))
  const ran: Record<string, Workload[]> = {}
  const missing: MissingPeer[] = []
  for (const peer of peers) {
    const loaded = await loadPeer(peer)
    if (!('targets' in loaded)) {
      missing.push(loaded)
      process.stderr.write(`pulse loadgen: ${loaded.reason}; add it with: ${loaded.install}\n`)
      continue
    }
    ran[peer] = plan.workloads.filter((w) => peerWorkloads(peer).includes(w))
    for (const workload of ran[peer]) {
      const make = loaded.targets[workload]
      if (make !== undefined) specs.get(workload)?.push({ system: peer, server: peerServer(peer), make })
    }
  }
  return { specs, peers: ran, missing }
}

function serversNeeded(specs: ReadonlyMap<Workload, readonly SystemSpec[]>): Set<ServerKind> {
  return new Set([...specs.values()].flat().map((s) => s.server))
}

function plannedOps(plan: Plan, specs: ReadonlyMap<Workload, readonly SystemSpec[]>): number {
  const perSystem = plan.rate === undefined ? plan.jobs : Math.floor((plan.rate * plan.durationMs) / 1000)
  return perSystem * plan.rounds * [...specs.values()].flat().length
}

/** Fails the command (exit 1) when a system did not finish what it was sent within the drain timeout. */
function checkComplete(report: LoadReport, plan: Plan): void {
  for (const [workload, w] of Object.entries(report.workloads)) {
    for (const [system, r] of Object.entries(w.systems)) {
      if (r.completed < r.sent)
        throw new TimeoutError(
          `${workload} on ${system}: ${r.sent - r.completed} of ${r.sent} operations not done within ${plan.drainTimeoutMs / 1000} s of the last send`,
          { data: { workload, system } },
        )
    }
  }
}

/** `fn`'s result; its `InvalidArgumentError` as a usage error. */
function orUsage<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof InvalidArgumentError) usage(error.message)
    throw error
  }
}

async function runLoadgen(workloads: string[], flags: LoadgenFlags): Promise<void> {
  const plan = orUsage(() => planOf(workloads, flags))
  const peers = orUsage(() => peersOf(flags.peers))
  const settings = await resolveSettings({ redis: flags.redis, database: flags.database })
  const systems = await systemsOf(plan, peers)
  const servers = await openServers(settings, serversNeeded(systems.specs))
  let report: LoadReport
  try {
    const progress = progressBar(plannedOps(plan, systems.specs))
    try {
      const collection = await runLoad({ ...servers, plan, systems: systems.specs, progress })
      report = loadReport({ plan, collection, servers, peers: systems.peers, missingPeers: systems.missing })
    } finally {
      progress.stop()
    }
  } finally {
    await servers.stop()
  }
  if (flags.json === true) printJson(report)
  else printReport(report)
  checkComplete(report, plan)
}
