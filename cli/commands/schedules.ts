/**
 * `pulse schedules list | add | pause | resume | delete`: the job queue's schedules.
 *
 * `schedules add NAME` defines the schedule named NAME, spawning jobs named NAME (or `--job`) with
 * `--payload` (JSON, default `{}`) as their args, on exactly one of `--cron EXPR` (in `--tz`, default
 * UTC), `--every DURATION` (`30s`, `5m`: on a grid aligned to the Unix epoch) or `--at DATE` (once).
 * Adding under a name that exists replaces that schedule; the command says which it did (`--json`:
 * `{ "id", "created" }`).
 */
import { Command, Option } from 'commander'

import { at, cron, every, type JobQueue, type ScheduleInfo, type ScheduleSpec } from '../../actors/jobs/index.js'
import { InvalidArgumentError, PulseError, ScheduleNotFoundError } from '../../runtime/errors.js'
import { withConnectionFlags, within, withQueue } from '../common/connect.js'
import { formatDuration, parseDuration } from '../common/duration.js'
import { cell, print, printTable } from '../common/output.js'
import type { ConnectionFlags } from '../common/settings.js'
import { parseIsoDate, parseJsonArgument } from '../common/parse.js'

interface OutputFlags extends ConnectionFlags {
  json?: boolean
}

interface AddFlags extends OutputFlags {
  cron?: string
  tz?: string
  every?: string
  at?: string
  job?: string
  payload?: string
}

type IdVerb = 'pause' | 'resume' | 'delete'

export function schedulesCommand(): Command {
  const schedules = new Command('schedules').description('list, add, pause, resume and delete the job schedules')
  schedules.addCommand(
    withConnectionFlags(new Command('list'), { database: true })
      .description('every schedule, oldest first')
      .option('--json', 'print {"schedules"} as JSON')
      .action((flags: OutputFlags) => runList(flags)),
  )
  schedules.addCommand(addCommand())
  schedules.addCommand(idCommand('pause', 'stop a schedule firing until resumed'))
  schedules.addCommand(idCommand('resume', 'let a paused schedule fire again'))
  schedules.addCommand(idCommand('delete', 'delete a schedule (the jobs it spawned stay)'))
  return schedules
}

function addCommand(): Command {
  return withConnectionFlags(new Command('add'), { database: true })
    .description('create the schedule NAME, or replace the one of that name')
    .argument('<name>', 'the schedule\u2019s name, and the job name unless --job')
    .addOption(new Option('--cron <expr>', 'a cron expression, e.g. "0 3 * * *"').conflicts(['every', 'at']))
    .addOption(new Option('--every <duration>', 'a period, e.g. 30s, 5m, 1h').conflicts(['cron', 'at']))
    .addOption(new Option('--at <date>', 'once, at this ISO 8601 date').conflicts(['cron', 'every']))
    .option('--tz <zone>', 'with --cron: the IANA time zone it is read in (default UTC)')
    .option('--job <name>', 'the name of the jobs it spawns (default: the schedule\u2019s name)')
    .option('--payload <json>', 'the jobs\u2019 args as JSON', '{}')
    .option('--json', 'print {"id", "created"} as JSON')
    .action((name: string, flags: AddFlags, command: Command) => runAdd(name, flags, command))
}

function idCommand(verb: IdVerb, description: string): Command {
  return withConnectionFlags(new Command(verb), { database: true })
    .description(description)
    .argument('<id>', 'the schedule id (schedules list shows it)')
    .option('--json', 'print the result as JSON')
    .action((id: string, flags: OutputFlags) => runById(verb, id, flags))
}

async function runList(flags: OutputFlags): Promise<void> {
  const schedules = await withQueue(flags, (queue, settings) =>
    within(queue.listSchedules(), settings.timeoutMs, 'the schedule list'),
  )
  print(flags.json, { schedules }, printSchedules)
}

function printSchedules({ schedules }: { schedules: ScheduleInfo[] }): void {
  if (schedules.length === 0) {
    process.stdout.write('no schedules\n')
    return
  }
  printTable(
    ['id', 'name', 'job', 'when', 'next run', 'paused', 'payload'],
    schedules.map((s) => [s.id, s.name, s.jobName, specText(s.spec), s.nextRunAt, s.paused ? 'yes' : 'no', s.args]),
  )
}

function specText(spec: ScheduleSpec): string {
  switch (spec.kind) {
    case 'cron':
      return `cron ${spec.expr}${spec.tz === 'UTC' ? '' : ` (${spec.tz})`}`
    case 'every':
      return `every ${formatDuration(spec.everyMs)}`
    case 'at':
      return `at ${spec.at}`
  }
}

/** The spec of `flags`' one timing option; a usage error (exit code 2) when there is none. */
function specOf(flags: AddFlags, command: Command): ScheduleSpec {
  if (flags.tz !== undefined && flags.cron === undefined) command.error('error: --tz goes with --cron', { exitCode: 2 })
  if (flags.cron !== undefined) return cronSpec(flags.cron, flags.tz)
  if (flags.every !== undefined) return every(parseDuration(flags.every, '--every', { min: 1 }))
  if (flags.at !== undefined) return at(parseIsoDate(flags.at, '--at'))
  return command.error('error: give when the schedule fires: --cron EXPR, --every DURATION or --at DATE', {
    exitCode: 2,
  })
}

function cronSpec(expr: string, tz: string | undefined): ScheduleSpec {
  try {
    return cron(expr, { tz })
  } catch (error) {
    if (!(error instanceof PulseError)) throw error
    // The library names the values by its parameters' names; the flags are what the operator typed.
    const message = error.message.replace(/^expr\b/, '--cron').replace(/^options\.tz\b/, '--tz')
    throw new InvalidArgumentError(message, {
      cause: error,
      data: { option: error.message.startsWith('options.tz') ? '--tz' : '--cron' },
    })
  }
}

async function runAdd(name: string, flags: AddFlags, command: Command): Promise<void> {
  const spec = specOf(flags, command)
  const payload = parseJsonArgument(flags.payload ?? '{}', '--payload')
  const job = flags.job ?? name
  const result = await withQueue(flags, (queue, settings) =>
    within(queue.defineSchedule(job, payload, spec, { name }), settings.timeoutMs, 'the schedule definition'),
  )
  print(flags.json, result, ({ id, created }) =>
    process.stdout.write(
      `${created ? 'created' : 'replaced'} schedule ${id} ${cell(JSON.stringify(name))}: job ${cell(job)}, ${specText(spec)}\n`,
    ),
  )
}

function byId(queue: JobQueue, verb: IdVerb, id: string): Promise<unknown> {
  switch (verb) {
    case 'pause':
      return queue.pauseSchedule(id)
    case 'resume':
      return queue.resumeSchedule(id)
    case 'delete':
      return queue.deleteSchedule(id).then((deleted) => {
        if (!deleted) throw new ScheduleNotFoundError(`no schedule has id ${JSON.stringify(id)}`, { data: { id } })
      })
  }
}

async function runById(verb: IdVerb, id: string, flags: OutputFlags): Promise<void> {
  await withQueue(flags, (queue, settings) => within(byId(queue, verb, id), settings.timeoutMs, `schedule ${verb}`))
  const past = { pause: 'paused', resume: 'resumed', delete: 'deleted' }[verb]
  const document = verb === 'delete' ? { id, deleted: true } : { id, paused: verb === 'pause' }
  print(flags.json, document, () => process.stdout.write(`${past} schedule ${id}\n`))
}
