/**
 * The `pulse` command line. Exit codes: 0 ok, 1 failure (one line with the error code; `--verbose`
 * adds the stack), 2 usage.
 */
import { Command, CommanderError } from 'commander'

import { coerceError } from '../runtime/errors.js'
import { busCommand } from './commands/bus.js'
import { devCommand } from './commands/dev.js'
import { superviseCommand } from './commands/supervise.js'
import { packageVersion } from './package-info.js'

export function buildProgram(): Command {
  const program = new Command('pulse')
    .description('Pulse: actors, replicated maps, streams, worker pools, a durable job queue and a bus')
    .version(packageVersion())
    .option('--verbose', 'print stacks with errors')
  program.addCommand(devCommand())
  program.addCommand(superviseCommand())
  program.addCommand(busCommand())
  overrideExits(program)
  return program
}

/** Usage errors of every command and subcommand reach `runCli` (exit code 2) instead of exiting there. */
function overrideExits(command: Command): void {
  command.exitOverride()
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
