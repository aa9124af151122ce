/**
 * `pulse pool status NAME`: the nodes and workers of a keyed worker pool (`actors/pool`) and the jobs
 * each worker owns, read from the pool's maps with `readPoolStatus` — it joins nothing and writes
 * nothing. Liveness is judged with `--worker-ttl` (the pool's `workerTtlMs`, not stored in Redis).
 *
 * Prints a summary, a table of nodes, a table of workers, and the jobs no worker owns (queued or
 * orphaned) (`--json`: one document, every job key). A pool with no node, worker or job in its maps
 * does not exist: `PULSE_ERR_INVALID_ARG`. The read is bounded by `--timeout`.
 */
import { Command } from 'commander'

import { readPoolStatus } from '../../actors/pool/index.js'
import type { PoolStatus } from '../../actors/pool/index.js'
import { InvalidArgumentError } from '../../runtime/errors.js'
import { redisRequest, requireRedis, withConnectionFlags } from '../common/connect.js'
import { parseDuration } from '../common/duration.js'
import { cell, printJson, printRecord, printTable } from '../common/output.js'
import { type ConnectionFlags, resolveSettings } from '../common/settings.js'

interface StatusFlags extends ConnectionFlags {
  workerTtl: string
  json?: boolean
}

/** Job keys a worker's row shows; `--json` has them all. */
const kShownKeys = 5

export function poolCommand(): Command {
  const pool = new Command('pool').description('inspect keyed worker pools (actors/pool)')
  pool.addCommand(
    withConnectionFlags(new Command('status'), { redis: true })
      .description('nodes, workers and the jobs each worker owns')
      .argument('<name>', 'the pool')
      .option('--worker-ttl <duration>', 'the pool\u2019s workerTtlMs: an older keep-alive is stale', '30s')
      .option('--json', 'print one JSON document')
      .action((name: string, flags: StatusFlags) => runStatus(name, flags)),
  )
  return pool
}

async function runStatus(name: string, flags: StatusFlags): Promise<void> {
  const workerTtlMs = parseDuration(flags.workerTtl, '--worker-ttl', { min: 1 })
  const settings = await resolveSettings(flags)
  const url = requireRedis(settings)
  const status = await redisRequest(readPoolStatus(url, name, { workerTtlMs }), settings, url)
  if (status === undefined) {
    throw new InvalidArgumentError(`pool ${JSON.stringify(name)} does not exist (no node, worker or job in its maps)`, {
      data: { option: 'name' },
    })
  }
  if (flags.json === true) printJson(statusJson(status))
  else printStatus(status)
}

function iso(date: Date | undefined): string | null {
  return date === undefined ? null : date.toISOString()
}

function statusJson(status: PoolStatus): unknown {
  return {
    name: status.name,
    shutdownBy: status.shutdownBy ?? null,
    nodes: status.nodes.map((node) => ({ id: node.id, alive: node.alive, lastSeen: iso(node.lastSeen) })),
    workers: status.workers.map((worker) => ({
      id: worker.id,
      state: worker.state,
      createdAt: iso(worker.createdAt),
      lastSeen: iso(worker.lastSeen),
      jobs: worker.jobs,
    })),
    unownedJobs: status.unownedJobs,
  }
}

function printStatus(status: PoolStatus): void {
  const alive = status.nodes.filter((node) => node.alive).length
  const active = status.workers.filter((worker) => worker.state === 'active').length
  printRecord({
    pool: status.name,
    nodes: `${alive} alive of ${status.nodes.length}`,
    workers: `${active} active of ${status.workers.length}`,
    'jobs owned': status.workers.reduce((sum, worker) => sum + worker.jobs.length, 0),
    'jobs unowned': status.unownedJobs.length,
    ...(status.shutdownBy === undefined ? {} : { 'shutting down': `asked by node ${status.shutdownBy}` }),
  })
  if (status.nodes.length > 0) {
    printTable(
      ['node', 'alive', 'last seen'],
      status.nodes.map((node) => [node.id, node.alive ? 'yes' : 'no', node.lastSeen]),
    )
  }
  if (status.workers.length > 0) {
    printTable(
      ['worker', 'state', 'created', 'last seen', 'jobs', 'job keys'],
      status.workers.map((worker) => [
        worker.id,
        worker.state,
        worker.createdAt,
        worker.lastSeen,
        worker.jobs.length,
        shownKeys(worker.jobs),
      ]),
    )
  }
  if (status.unownedJobs.length > 0) {
    process.stdout.write(`unowned jobs (queued for a worker, or orphaned):\n${shownKeys(status.unownedJobs)}\n`)
  }
}

/** The first job keys, one per line (each escaped), and how many more there are. */
function shownKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, kShownKeys).map((key) => cell(key).replace(/\n/g, '\\n'))
  const more = keys.length - shown.length
  return [...shown, ...(more > 0 ? [`\u2026 ${more} more (--json lists them)`] : [])].join('\n')
}
