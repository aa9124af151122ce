/**
 * The `pulse` command line. Exit codes: 0 ok, 1 failure (one line with the error code; `--verbose`
 * adds the stack), 2 usage.
 */
import { Command, CommanderError } from 'commander'

import { coerceError } from '../runtime/errors.js'
import { busCommand } from './commands/bus.js'
import { configCommand } from './commands/config.js'
import { devCommand } from './commands/dev.js'
import { dispatchCommand } from './commands/dispatch.js'
import { jobsCommand } from './commands/jobs.js'
import { loadgenCommand } from './commands/loadgen.js'
import { mapsCommand } from './commands/maps.js'
import { passwdCommand } from './commands/passwd.js'
import { poolCommand } from './commands/pool.js'
import { schedulesCommand } from './commands/schedules.js'
import { statsCommand } from './commands/stats.js'
import { streamsCommand } from './commands/streams.js'
import { submitCommand } from './commands/submit.js'
import { serverCommand } from './commands/server.js'
import { superviseCommand } from './commands/supervise.js'
import { packageVersion } from './package-info.js'

export function buildProgram(): Command {
  const program = new Command('pulse')
    .description('Pulse: actors, replicated maps, streams, worker pools, a durable job queue and a bus')
    .version(packageVersion())
    .option('--verbose', 'print stacks with errors')
  program.addCommand(devCommand())
  program.addCommand(serverCommand())
  program.addCommand(superviseCommand())
  program.addCommand(busCommand())
  program.addCommand(submitCommand())
  program.addCommand(jobsCommand())
  program.addCommand(dispatchCommand())
  program.addCommand(schedulesCommand())
  program.addCommand(statsCommand())
  program.addCommand(passwdCommand())
  program.addCommand(configCommand())
  program.addCommand(streamsCommand())
  program.addCommand(mapsCommand())
  program.addCommand(poolCommand())
  program.addCommand(loadgenCommand())
  overrideExits(program)
  return program
}

/**
 * Usage errors of every command and subcommand reach `runCli` (exit code 2) instead of exiting there,
 * after the command's usage.
 */
function overrideExits(command: Command): void {
  command.exitOverride()
  command.showHelpAfterError()
  for (const sub of command.commands) overrideExits(sub)
}

function report(error: unknown, verbose: boolean): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2
  const err = coerceError(error)
  const code = (err as { code?: unknown }).code
  process.stderr.write(`pulse: ${typeof code === 'string' ? `${code}: ` : ''}${err.message}\n`)
  if (verbose && err.stack !== undefined) process.stderr.write(`${err.stack}\n`)
  return 1
}

/** Runs the command line on `argv` (without node and the script) and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    return report(error, argv.includes('--verbose'))
  }
}
