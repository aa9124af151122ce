/**
 * `pulse submit NAME JSON`: enqueues one job on the job queue and prints its id (`--json`: `{"id"}`).
 */
import { Command } from 'commander'

import type { EnqueueOptions } from '../../actors/jobs/index.js'
import { withConnectionFlags, within, withQueue } from '../common/connect.js'
import { cell, print } from '../common/output.js'
import { parseInteger, parseIsoDate, parseJsonArgument } from '../common/parse.js'
import type { ConnectionFlags } from '../common/settings.js'

interface SubmitFlags extends ConnectionFlags {
  priority?: string
  runAt?: string
  maxAttempts?: string
  key?: string
  json?: boolean
}

function enqueueOptions(flags: SubmitFlags): EnqueueOptions {
  return {
    priority: flags.priority === undefined ? undefined : parseInteger(flags.priority, '--priority'),
    runAt: flags.runAt === undefined ? undefined : parseIsoDate(flags.runAt, '--run-at'),
    maxAttempts:
      flags.maxAttempts === undefined ? undefined : parseInteger(flags.maxAttempts, '--max-attempts', { min: 1 }),
    idempotencyKey: flags.key,
  }
}

async function runSubmit(name: string, json: string, flags: SubmitFlags): Promise<void> {
  const args = parseJsonArgument(json, 'the JSON argument')
  const options = enqueueOptions(flags)
  const id = await withQueue(flags, (queue, settings) =>
    within(queue.enqueue(name, args, options), settings.timeoutMs, 'the enqueue'),
  )
  print(flags.json, { id }, () => process.stdout.write(`submitted job ${id} (${cell(name)})\n`))
}

export function submitCommand(): Command {
  return withConnectionFlags(new Command('submit'), { database: true })
    .description('enqueue a job on the job queue; prints its id')
    .argument('<name>', 'the job name, e.g. send-email')
    .argument('<json>', 'the job\u2019s args as JSON, e.g. \'{"to":"a@b.com"}\'')
    .option('--priority <n>', 'higher runs first (an integer; default 0)')
    .option('--run-at <date>', 'not run before this ISO 8601 date, e.g. 2030-01-31T09:00:00Z')
    .option('--max-attempts <n>', 'attempts before the job is dead-lettered (default 5)')
    .option('--key <idempotency-key>', 'a second submit with the same key returns the first job\u2019s id')
    .option('--json', 'print {"id"} as JSON')
    .action((name: string, json: string, flags: SubmitFlags) => runSubmit(name, json, flags))
}
