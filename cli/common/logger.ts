/**
 * The operational log of the long-running commands (`pulse server`, `pulse dev`): pino, JSON lines on
 * stdout, pretty (pino-pretty) when stdout is a terminal; `PULSE_LOG_LEVEL` sets the level (`info`).
 * It fits the kernel's `Logger`, so the commands hand it to the library objects they make (their
 * warnings, failing requests). The start-up banner and the stop lines stay plain lines: they are what
 * an operator reads first, and what scripts wait for.
 */
import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export type CliLogger = Logger

export function cliLogger(name: string): CliLogger {
  const options = { name, level: process.env.PULSE_LOG_LEVEL ?? 'info' }
  // Synchronous writes: log lines and the banner's console lines stay in the order they were made.
  const stream = process.stdout.isTTY
    ? pretty({ colorize: true, sync: true })
    : pino.destination({ dest: 1, sync: true })
  return pino(options, stream)
}
