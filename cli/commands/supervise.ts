/**
 * `pulse supervise CONFIG`: runs the `ProcessSupervisor` described by a JSON file (its options without
 * `output` and `logger`), with the children's prefixed output on stdout and the supervisor's notes on
 * stderr, until SIGTERM / SIGINT (a second signal SIGKILLs the children), until every child has ended
 * for good (all `temporary` or `transient` and done), or until the supervisor gives up. Exit code 0 once
 * every child has stopped, unless one had failed (ended abnormally and was not restarted) or the
 * supervisor gave up: then 1, with one line naming them. A child's relative `cwd` is resolved against the config file's
 * folder, which is also the default `cwd`, so that relative paths in `args` work from anywhere.
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'

import { Command } from 'commander'

import {
  type ExitCode,
  InvalidArgumentError,
  ProcessSupervisor,
  type ProcessSupervisorLogger,
  type ProcessSupervisorOptions,
  PulseError,
} from '../../runtime/index.js'

export function superviseCommand(): Command {
  return new Command('supervise')
    .description('run a supervised child-process deployment described by a JSON file of ProcessSupervisor options')
    .argument(
      '<config>',
      'JSON file: { "children": [{ "name", "command", "args", "instances", "restart", "ready", … }], "maxRestarts", … }',
    )
    .action((config: string) => runSupervise(config))
}

function line(message: string): void {
  process.stderr.write(`pulse supervise: ${message}\n`)
}

const stderrLogger: ProcessSupervisorLogger = { info: line, warn: line, error: line }

async function readConfig(file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new InvalidArgumentError(`CONFIG: cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
      data: { option: 'CONFIG' },
    })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    throw new InvalidArgumentError(`CONFIG: ${file} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      data: { option: 'CONFIG' },
    })
  }
}

/** Relative (or absent) `cwd`s of the children resolved against `dir`; anything malformed is left to validation. */
function withCwdFrom(config: unknown, dir: string): unknown {
  if (typeof config !== 'object' || config === null || !('children' in config) || !Array.isArray(config.children))
    return config
  const children: unknown[] = config.children
  return {
    ...config,
    children: children.map((child) => {
      if (typeof child !== 'object' || child === null) return child
      const cwd = (child as { cwd?: unknown }).cwd
      if (cwd !== undefined && (typeof cwd !== 'string' || cwd === '')) return child
      return { ...child, cwd: resolve(dir, cwd ?? '.') }
    }),
  }
}

async function runSupervise(file: string): Promise<void> {
  const path = resolve(file)
  const config = withCwdFrom(await readConfig(path), dirname(path))
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidArgumentError(`CONFIG: ${file} must hold a JSON object of ProcessSupervisor options`, {
      data: { option: 'CONFIG' },
    })
  }
  if ('output' in config || 'logger' in config) {
    throw new InvalidArgumentError('CONFIG: output and logger cannot be set in a config file', {
      data: { option: 'CONFIG' },
    })
  }
  const options = { ...(config as ProcessSupervisorOptions), output: process.stdout, logger: stderrLogger }
  const supervisor = new ProcessSupervisor(options)
  // The give-up is reported below, through `closed`.
  supervisor.on('error', () => {})
  supervisor.forwardSignals()
  const started = await supervisor.start().then(
    () => true,
    () => false, // the reason is in `closed`; none when a signal stopped the start
  )
  if (started) {
    const count = supervisor.status().length
    line(`${count} process${count === 1 ? '' : 'es'} running; SIGTERM or Ctrl-C stops ${count === 1 ? 'it' : 'them'}`)
  }
  const failure = await supervisor.closed
  if (failure !== undefined) throw failure
  const failed = supervisor.status().filter(({ state }) => state === 'failed')
  if (failed.length > 0) {
    const which = failed.map(({ name, instance, lastExitCode }) => `${name}#${instance} (${describe(lastExitCode)})`)
    throw new PulseError('PULSE_ERR_INTERNAL', `stopped; these children had failed: ${which.join(', ')}`)
  }
  line('stopped')
}

function describe(exitCode: ExitCode | null): string {
  if (exitCode === null) return 'never ran'
  return typeof exitCode === 'number' ? `code ${exitCode}` : exitCode
}
