/**
 * `pulse jobs list | get | cancel | requeue`: the job queue's jobs, for operators. `jobs list --status
 * dead` is the dead-letter inbox.
 *
 * `cancel` and `requeue` take one job id, or a filter (`--status`, `--name`) for every matching job.
 * A filtered action counts the jobs first and asks for confirmation on a terminal (`--yes` skips it);
 * without a terminal it needs `--yes` (a usage error otherwise). It then transitions the jobs in
 * batches, at most as many as it counted, with a progress bar when standard error is a terminal.
 */
import { createInterface } from 'node:readline/promises'

import { Presets, SingleBar } from 'cli-progress'
import { Command, Option } from 'commander'

import type { JobInfo, JobQueue, JobStatus, JobSummary } from '../../actors/jobs/index.js'
import { InvalidArgumentError, JobNotFoundError } from '../../runtime/errors.js'
import { CANCELABLE_STATUSES, JOB_STATUSES, REQUEUABLE_STATUSES } from '../../transports/postgres/jobs/status.js'
import { withConnectionFlags, within, withQueue } from '../common/connect.js'
import { cell, print, printRecord, printTable } from '../common/output.js'
import type { ConnectionFlags, Settings } from '../common/settings.js'
import { parseInteger } from '../common/parse.js'

interface OutputFlags extends ConnectionFlags {
  json?: boolean
}

interface ListFlags extends OutputFlags {
  status?: JobStatus
  name?: string
  limit?: string
  cursor?: string
}

interface ActionFlags extends OutputFlags {
  status?: JobStatus
  name?: string
  message?: string
  yes?: boolean
}

type Action = 'cancel' | 'requeue'

const kActions = {
  cancel: { past: 'canceled', statuses: CANCELABLE_STATUSES, after: 'canceled' },
  requeue: { past: 'requeued', statuses: REQUEUABLE_STATUSES, after: 'pending' },
} as const

/** Jobs one bulk call transitions. */
const kBatch = 1_000

export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('list, inspect, cancel and requeue the job queue\u2019s jobs')
  jobs.addCommand(listCommand())
  jobs.addCommand(getCommand())
  jobs.addCommand(actionCommand('cancel'))
  jobs.addCommand(actionCommand('requeue'))
  return jobs
}

function listCommand(): Command {
  return withConnectionFlags(new Command('list'), { database: true })
    .description('a page of jobs, newest first (--status dead: the dead-letter inbox)')
    .addOption(new Option('--status <status>', 'only jobs in this status').choices(JOB_STATUSES))
    .option('--name <name>', 'only jobs of this name')
    .option('--limit <n>', 'jobs on the page (1 to 1000)', '100')
    .option('--cursor <cursor>', 'the next page: the cursor the previous page printed')
    .option('--json', 'print {"jobs", "cursor"} as JSON')
    .action((flags: ListFlags) => runList(flags))
}

function getCommand(): Command {
  return withConnectionFlags(new Command('get'), { database: true })
    .description('one job with its history')
    .argument('<id>', 'the job id')
    .option('--json', 'print the job as JSON')
    .action((id: string, flags: OutputFlags) => runGet(id, flags))
}

function actionCommand(action: Action): Command {
  const { statuses } = kActions[action]
  return withConnectionFlags(new Command(action), { database: true })
    .description(
      action === 'cancel'
        ? 'cancel one job, or every pending, running or retrying job matching --status / --name'
        : 'requeue one dead job, or every dead job matching --status dead / --name',
    )
    .argument('[id]', 'the job id; leave it out to act on every job matching the filter')
    .addOption(new Option('--status <status>', 'with no id: only jobs in this status').choices(statuses))
    .option('--name <name>', 'with no id: only jobs of this name')
    .option('-m, --message <reason>', 'why, for the audit log')
    .option('--yes', 'with no id: do not ask for confirmation (needed when standard input is not a terminal)')
    .option('--json', 'print the result as JSON')
    .action((id: string | undefined, flags: ActionFlags, command: Command) =>
      id === undefined ? runBulk(action, flags, command) : runOne(action, id, flags, command),
    )
}

async function runList(flags: ListFlags): Promise<void> {
  const limit = parseInteger(flags.limit ?? '100', '--limit', { min: 1, max: 1_000 })
  if (flags.cursor !== undefined && !/^[1-9]\d{0,18}$/.test(flags.cursor)) {
    throw new InvalidArgumentError(
      `--cursor must be a cursor a previous page printed (got ${JSON.stringify(flags.cursor)})`,
      {
        data: { option: '--cursor' },
      },
    )
  }
  const page = await withQueue(flags, (queue, settings) =>
    within(
      queue.listJobs({ status: flags.status, name: flags.name, limit, cursor: flags.cursor }),
      settings.timeoutMs,
      'the job list',
    ),
  )
  print(flags.json, { jobs: page.jobs, cursor: page.cursor ?? null }, () => printJobs(page.jobs, page.cursor))
}

/** `value` in a table cell of at most `width` characters: JSON without stacks (`--json` has them). */
function brief(value: unknown, width: number): string {
  const text =
    typeof value === 'string' ? value : JSON.stringify(value, (key, v: unknown) => (key === 'stack' ? undefined : v))
  const safe = cell(text)
  return safe.length > width ? `${safe.slice(0, width - 1)}\u2026` : safe
}

/** A job's last error record as `name: message`, cut to `width`. */
function errorSummary(error: unknown, width: number): string {
  if (error === undefined || error === null) return ''
  const { name, message } = error as { name?: unknown; message?: unknown }
  if (typeof message !== 'string') return brief(error, width)
  return brief(typeof name === 'string' && name !== 'Error' ? `${name}: ${message}` : message, width)
}

function printJobs(jobs: readonly JobSummary[], cursor: string | undefined): void {
  if (jobs.length === 0) {
    process.stdout.write('no jobs\n')
    return
  }
  printTable(
    ['id', 'name', 'status', 'attempts', 'priority', 'run at', 'last error'],
    jobs.map((j) => [
      j.id,
      j.name,
      j.status,
      `${j.attempt}/${j.maxAttempts}`,
      j.priority,
      j.runAt,
      errorSummary(j.lastError, 60),
    ]),
  )
  if (cursor !== undefined) process.stdout.write(`more: --cursor ${cursor}\n`)
}

async function runGet(id: string, flags: OutputFlags): Promise<void> {
  const job = await withQueue(flags, (queue, settings) => within(queue.getJob(id), settings.timeoutMs, 'the job read'))
  if (job === undefined) throw new JobNotFoundError(`no job has id ${JSON.stringify(id)}`, { data: { id } })
  print(flags.json, job, printJob)
}

function printJob(job: JobInfo): void {
  const { history, maxAttempts, lastError, ...rest } = job
  const record: Record<string, unknown> = { ...rest, attempt: `${job.attempt}/${maxAttempts}` }
  record.args = brief(job.args, 100)
  if (lastError !== undefined) record.lastError = errorSummary(lastError, 100)
  if (job.progress !== undefined) record.progress = brief(job.progress, 100)
  printRecord(Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)))
  printTable(
    ['#', 'event', 'attempt', 'at', 'data'],
    history.map((e) => [e.seq, e.type, e.attempt, e.at, e.data === undefined ? '' : brief(e.data, 80)]),
  )
}

/** A usage error (exit code 2) unless the filter and the id (`hasId`) make one well-formed action. */
function checkTarget(command: Command, hasId: boolean, flags: ActionFlags): void {
  const filtered = flags.status !== undefined || flags.name !== undefined
  if (hasId && filtered) command.error('error: give a job id or a filter (--status, --name), not both', { exitCode: 2 })
  if (!hasId && !filtered)
    command.error('error: give a job id, or --status / --name to act on every matching job', { exitCode: 2 })
}

async function runOne(action: Action, id: string, flags: ActionFlags, command: Command): Promise<void> {
  checkTarget(command, true, flags)
  await withQueue(flags, (queue, settings) => {
    const note = { reason: flags.message }
    const done = action === 'cancel' ? queue.cancel(id, note) : queue.requeue(id, note)
    return within(done, settings.timeoutMs, `the ${action}`)
  })
  const { past, after } = kActions[action]
  print(flags.json, { id, status: after }, () => process.stdout.write(`${past} job ${id} (now ${after})\n`))
}

async function runBulk(action: Action, flags: ActionFlags, command: Command): Promise<void> {
  checkTarget(command, false, flags)
  if (flags.yes !== true && process.stdin.isTTY !== true) {
    command.error(`error: ${action} of every matching job needs --yes when standard input is not a terminal`, {
      exitCode: 2,
    })
  }
  const count = await withQueue(flags, (queue, settings) => bulk(queue, settings, action, flags))
  print(flags.json, { count }, () => process.stdout.write(`${kActions[action].past} ${jobsText(count, flags)}\n`))
}

/** Counts, confirms and transitions the jobs of `flags`' filter; resolves to how many it transitioned. */
async function bulk(queue: JobQueue, settings: Settings, action: Action, flags: ActionFlags): Promise<number> {
  const filter = { status: flags.status ?? kActions[action].statuses, name: flags.name }
  const total = await within(queue.countJobs(filter), settings.timeoutMs, 'the job count')
  if (total === 0) return 0
  if (flags.yes !== true && !(await confirm(`${action} ${jobsText(total, flags, true)}?`))) {
    throw new Error(`aborted: no job was ${kActions[action].past}`)
  }
  const options = { ...filter, reason: flags.message }
  const step = (limit: number) =>
    within(
      action === 'cancel' ? queue.cancelJobs({ ...options, limit }) : queue.requeueJobs({ ...options, limit }),
      settings.timeoutMs,
      `the bulk ${action}`,
    )
  return inBatches(total, step, kActions[action].past)
}

/** `count` jobs as the filter of `flags` says: `3 dead jobs`, `1 pending job named send-email`. */
function jobsText(count: number, flags: ActionFlags, withName = false): string {
  const status = flags.status === undefined ? '' : `${flags.status} `
  const name = withName && flags.name !== undefined ? ` named ${cell(flags.name)}` : ''
  return `${count} ${status}job${count === 1 ? '' : 's'}${name}`
}

/** Asks `question` on the terminal; true for y or yes. */
async function confirm(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await terminal.question(`${question} [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    terminal.close()
  }
}

/**
 * Runs `step` until it transitions none or `total` jobs went: no more than were counted (and
 * confirmed), even if jobs keep arriving in the filter meanwhile.
 */
async function inBatches(
  total: number,
  step: (limit: number) => Promise<{ count: number }>,
  label: string,
): Promise<number> {
  const bar =
    process.stderr.isTTY === true
      ? new SingleBar({ format: `${label} {bar} {value}/{total}` }, Presets.shades_classic)
      : undefined
  bar?.start(total, 0)
  let done = 0
  try {
    while (done < total) {
      const { count } = await step(Math.min(kBatch, total - done))
      if (count === 0) break
      done += count
      bar?.update(done)
    }
  } finally {
    bar?.stop()
  }
  return done
}
