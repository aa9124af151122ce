/**
 * The injected logger every module takes: pino's shape (`console` fits too). The library is silent
 * unless one is given.
 */
import { InvalidArgumentError } from './errors.js'

export interface Logger {
  debug(...args: unknown[]): void
  info(...args: unknown[]): void
  warn(...args: unknown[]): void
  error(...args: unknown[]): void
}

function silent(): void {}

export const SILENT_LOGGER: Logger = Object.freeze({ debug: silent, info: silent, warn: silent, error: silent })

const kLevels = ['debug', 'info', 'warn', 'error'] as const

/** Throws `PULSE_ERR_INVALID_ARG` naming `name` unless `value` has the four level methods. */
export function checkLogger(value: unknown, name = 'options.logger'): Logger {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    kLevels.every((level) => typeof (value as Record<string, unknown>)[level] === 'function')
  if (!ok)
    throw new InvalidArgumentError(`${name} must have debug, info, warn and error methods`, { data: { option: name } })
  return value as Logger
}
