/**
 * `pulse stats`: the job queue's counts per job name and status, and how long the oldest job waiting
 * to be claimed has been due (`--json`: `{ byName, oldestPendingAgeMs }`, the latter null when none
 * waits).
 */
import { Command } from 'commander'

import type { JobStats } from '../../actors/jobs/index.js'
import { JOB_STATUSES } from '../../transports/postgres/jobs/status.js'
import { withConnectionFlags, within, withQueue } from '../common/connect.js'
import { formatDuration } from '../common/duration.js'
import { print, printTable } from '../common/output.js'
import type { ConnectionFlags } from '../common/settings.js'

interface StatsFlags extends ConnectionFlags {
  json?: boolean
}

export function statsCommand(): Command {
  return withConnectionFlags(new Command('stats'), { database: true })
    .description('jobs per name and status, and the age of the oldest job waiting to run')
    .option('--json', 'print the stats as JSON')
    .action((flags: StatsFlags) => runStats(flags))
}

async function runStats(flags: StatsFlags): Promise<void> {
  const stats = await withQueue(flags, (queue, settings) => within(queue.stats(), settings.timeoutMs, 'the stats'))
  print(flags.json, { byName: stats.byName, oldestPendingAgeMs: stats.oldestPendingAgeMs ?? null }, () =>
    printStats(stats),
  )
}

function printStats(stats: JobStats): void {
  const rows = Object.entries(stats.byName).map(([name, counts]) => [name, ...JOB_STATUSES.map((s) => counts[s])])
  if (rows.length === 0) process.stdout.write('no jobs\n')
  else printTable(['name', ...JOB_STATUSES], rows)
  const age = stats.oldestPendingAgeMs
  process.stdout.write(
    age === undefined ? 'no job is waiting to run\n' : `oldest job waiting to run: due ${formatDuration(age)} ago\n`,
  )
}
