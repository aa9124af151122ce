/**
 * `pulse dispatch pause -m REASON | resume | status`: the job queue's dispatch switch. A pause stops
 * claims on every replica, durably, until a resume; enqueues, running jobs and schedules go on. Each
 * subcommand prints the dispatch status (`--json`: `{ paused, reason, pausedAt }`, null when absent);
 * pause and resume are recorded in the audit log as `cli:<user>`.
 */
import { Command } from 'commander'

import type { DispatchStatus, JobQueue } from '../../actors/jobs/index.js'
import { withConnectionFlags, within, withQueue } from '../common/connect.js'
import { print, printRecord } from '../common/output.js'
import type { ConnectionFlags } from '../common/settings.js'

interface DispatchFlags extends ConnectionFlags {
  message?: string
  json?: boolean
}

type Verb = 'pause' | 'resume' | 'status'

export function dispatchCommand(): Command {
  const dispatch = new Command('dispatch').description('pause, resume or show the job queue\u2019s dispatch')
  dispatch.addCommand(
    subcommand('pause', 'stop claiming jobs on every replica until resumed').requiredOption(
      '-m, --message <reason>',
      'why (shown by dispatch status, recorded in the audit log)',
    ),
  )
  dispatch.addCommand(
    subcommand('resume', 'claim jobs again').option('-m, --message <reason>', 'why, for the audit log'),
  )
  dispatch.addCommand(subcommand('status', 'whether dispatch is paused, why and since when'))
  return dispatch
}

function subcommand(verb: Verb, description: string): Command {
  return withConnectionFlags(new Command(verb), { database: true })
    .description(description)
    .option('--json', 'print the dispatch status as JSON')
    .action((flags: DispatchFlags) => run(verb, flags))
}

function act(queue: JobQueue, verb: Verb, flags: DispatchFlags): Promise<DispatchStatus> {
  switch (verb) {
    case 'pause':
      return queue.pauseDispatch(flags.message)
    case 'resume':
      return queue.resumeDispatch({ reason: flags.message })
    case 'status':
      return queue.dispatchStatus()
  }
}

async function run(verb: Verb, flags: DispatchFlags): Promise<void> {
  const status = await withQueue(flags, (queue, settings) =>
    within(act(queue, verb, flags), settings.timeoutMs, `dispatch ${verb}`),
  )
  const document = { paused: status.paused, reason: status.reason ?? null, pausedAt: status.pausedAt ?? null }
  print(flags.json, document, () =>
    printRecord({
      dispatch: status.paused ? 'paused' : 'running',
      reason: status.reason,
      [status.paused ? 'paused at' : 'last paused at']: status.pausedAt,
    }),
  )
}
