/**
 * The `ProcessSupervisor`'s options: their types, defaults and validation. Every check throws
 * `InvalidArgumentError` (`PULSE_ERR_INVALID_ARG`) naming the option by its full path, e.g.
 * `options.children[0].restart`.
 */
import { InvalidArgumentError } from '../errors.js'
import {
  checkBoolean,
  checkDurationMs,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkOneOf,
  checkString,
  resolveOptions,
} from '../options.js'
import { RESTART_POLICIES, type RestartPolicy } from '../supervision.js'

/** One supervised program, run as `instances` processes. */
export interface ChildSpec {
  /** Names the child in `status()`, events and output prefixes (`[name#instance] `); unique, non-empty. */
  name: string
  /** The executable, e.g. `process.execPath` or `'node'` (looked up in `PATH`). */
  command: string
  /** @default [] */
  args?: readonly string[] | undefined
  /**
   * How many processes to run; each gets `PULSE_INSTANCE=<0..instances-1>` in its environment.
   * @default 1
   */
  instances?: number | undefined
  /** Added to (and overriding) the supervisor's own environment. @default {} */
  env?: Readonly<Record<string, string>> | undefined
  /** Working directory. @default the supervisor's */
  cwd?: string | undefined
  /**
   * `'permanent'`: restart after any exit; `'transient'`: only after an abnormal exit (a non-zero code
   * or a signal); `'temporary'`: never.
   * @default 'permanent'
   */
  restart?: RestartPolicy | undefined
  /**
   * Wait for the process to send `process.send('ready')` over IPC before it counts as running (an IPC
   * channel is opened for it). Otherwise it runs as soon as it is spawned.
   * @default false
   */
  ready?: boolean | undefined
  /** With `ready`, how long to wait for the message. @default 30_000 */
  readyTimeoutMs?: number | undefined
}

/** What the supervisor logs (restarts, unexpected exits, kills); `console` fits. */
export interface ProcessSupervisorLogger {
  info(message: string, data?: Record<string, unknown>): void
  warn(message: string, data?: Record<string, unknown>): void
  error(message: string, data?: Record<string, unknown>): void
}

export interface ProcessSupervisorOptions {
  children: readonly ChildSpec[]
  /** More than `maxRestarts` restarts (all children together) within `withinMs` → give up. @default 10 */
  maxRestarts?: number | undefined
  /** @default 60_000 */
  withinMs?: number | undefined
  /** First restart delay of an instance; it doubles per consecutive restart. @default 100 */
  backoffMs?: number | undefined
  /** The cap of the restart delay. @default 10_000 */
  maxBackoffMs?: number | undefined
  /** A run at least this long resets the instance's restart delay to `backoffMs`. @default 30_000 */
  stableRunMs?: number | undefined
  /** `stop()` sends SIGTERM, then SIGKILL to what still runs after this long. @default 10_000 */
  shutdownTimeoutMs?: number | undefined
  /** Where the children's stdout and stderr lines go, prefixed `[name#instance] `. @default process.stdout */
  output?: NodeJS.WritableStream | undefined
  /** @default none: nothing is logged (the events say it all) */
  logger?: ProcessSupervisorLogger | undefined
  /** `start()` calls `forwardSignals()`: SIGTERM / SIGINT of this process stop the supervisor. @default false */
  handleSignals?: boolean | undefined
}

export interface ResolvedChildSpec {
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  readonly instances: number
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string | undefined
  readonly restart: RestartPolicy
  readonly ready: boolean
  readonly readyTimeoutMs: number
}

export interface ResolvedProcessSupervisorOptions {
  readonly children: readonly ResolvedChildSpec[]
  readonly maxRestarts: number
  readonly withinMs: number
  readonly backoffMs: number
  readonly maxBackoffMs: number
  readonly stableRunMs: number
  readonly shutdownTimeoutMs: number
  readonly output: NodeJS.WritableStream | undefined
  readonly logger: ProcessSupervisorLogger | undefined
  readonly handleSignals: boolean
}

export const DEFAULT_PROCESS_SUPERVISOR_OPTIONS = {
  children: [],
  maxRestarts: 10,
  withinMs: 60_000,
  backoffMs: 100,
  maxBackoffMs: 10_000,
  stableRunMs: 30_000,
  shutdownTimeoutMs: 10_000,
  output: undefined,
  logger: undefined,
  handleSignals: false,
} as const satisfies ResolvedProcessSupervisorOptions

export const DEFAULT_CHILD_SPEC = {
  args: [],
  instances: 1,
  env: {},
  cwd: undefined,
  restart: 'permanent',
  ready: false,
  readyTimeoutMs: 30_000,
} as const satisfies Omit<ResolvedChildSpec, 'name' | 'command'>

const kOptionKeys = Object.keys(DEFAULT_PROCESS_SUPERVISOR_OPTIONS)
const kChildKeys = ['name', 'command', ...Object.keys(DEFAULT_CHILD_SPEC)]

function invalid(name: string, rule: string, got: string): never {
  throw new InvalidArgumentError(`${name} must be ${rule} (got ${got})`, { data: { option: name } })
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : typeof value
}

function checkPlainObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) invalid(name, 'an object', kindOf(value))
  return value as Record<string, unknown>
}

function checkStringArray(value: unknown, name: string): readonly string[] {
  if (!Array.isArray(value)) invalid(name, 'an array of strings', kindOf(value))
  return Object.freeze(value.map((item, i) => checkString(item, `${name}[${i}]`)))
}

function checkEnv(value: unknown, name: string): Readonly<Record<string, string>> {
  const env = checkPlainObject(value, name)
  const entries = Object.entries(env).map(([key, item]) => [key, checkString(item, `${name}.${key}`)] as const)
  return Object.freeze(Object.fromEntries(entries))
}

function validateChild(value: unknown, path: string): ResolvedChildSpec {
  const child = checkPlainObject(value, path)
  checkKnownKeys(child, kChildKeys, path)
  const spec = {
    name: checkString(child.name, `${path}.name`, { nonEmpty: true }),
    command: checkString(child.command, `${path}.command`, { nonEmpty: true }),
    args: child.args === undefined ? undefined : checkStringArray(child.args, `${path}.args`),
    instances:
      child.instances === undefined ? undefined : checkInteger(child.instances, `${path}.instances`, { min: 1 }),
    env: child.env === undefined ? undefined : checkEnv(child.env, `${path}.env`),
    cwd: child.cwd === undefined ? undefined : checkString(child.cwd, `${path}.cwd`, { nonEmpty: true }),
    restart: child.restart === undefined ? undefined : checkOneOf(child.restart, `${path}.restart`, RESTART_POLICIES),
    ready: child.ready === undefined ? undefined : checkBoolean(child.ready, `${path}.ready`),
    readyTimeoutMs:
      child.readyTimeoutMs === undefined
        ? undefined
        : checkDurationMs(child.readyTimeoutMs, `${path}.readyTimeoutMs`, { min: 1 }),
  }
  return resolveOptions<ResolvedChildSpec>({ ...DEFAULT_CHILD_SPEC, name: spec.name, command: spec.command }, spec)
}

function checkOutput(value: unknown, name: string): NodeJS.WritableStream {
  if (typeof value !== 'object' || value === null || typeof (value as { write?: unknown }).write !== 'function') {
    invalid(name, 'a writable stream', kindOf(value))
  }
  return value as NodeJS.WritableStream
}

function checkLogger(value: unknown, name: string): ProcessSupervisorLogger {
  if (typeof value !== 'object' || value === null) invalid(name, 'an object', kindOf(value))
  const logger = value as Record<string, unknown>
  for (const level of ['info', 'warn', 'error'] as const) checkFunction(logger[level], `${name}.${level}`)
  return value as ProcessSupervisorLogger
}

/** Validates, applies the defaults and freezes. */
export function resolveProcessSupervisorOptions(value: unknown): ResolvedProcessSupervisorOptions {
  const options = checkPlainObject(value, 'options')
  checkKnownKeys(options, kOptionKeys)
  if (!Array.isArray(options.children) || options.children.length === 0) {
    invalid('options.children', 'a non-empty array', kindOf(options.children))
  }
  const children = options.children.map((child, i) => validateChild(child, `options.children[${i}]`))
  const firstByName = new Map<string, number>()
  children.forEach(({ name }, i) => {
    const first = firstByName.get(name)
    if (first !== undefined) {
      invalid(`options.children[${i}].name`, `unique`, `${JSON.stringify(name)}, as options.children[${first}].name`)
    }
    firstByName.set(name, i)
  })
  const given = {
    children: Object.freeze(children),
    maxRestarts:
      options.maxRestarts === undefined
        ? undefined
        : checkInteger(options.maxRestarts, 'options.maxRestarts', { min: 0 }),
    withinMs:
      options.withinMs === undefined ? undefined : checkDurationMs(options.withinMs, 'options.withinMs', { min: 1 }),
    backoffMs: options.backoffMs === undefined ? undefined : checkDurationMs(options.backoffMs, 'options.backoffMs'),
    maxBackoffMs:
      options.maxBackoffMs === undefined ? undefined : checkDurationMs(options.maxBackoffMs, 'options.maxBackoffMs'),
    stableRunMs:
      options.stableRunMs === undefined ? undefined : checkDurationMs(options.stableRunMs, 'options.stableRunMs'),
    shutdownTimeoutMs:
      options.shutdownTimeoutMs === undefined
        ? undefined
        : checkDurationMs(options.shutdownTimeoutMs, 'options.shutdownTimeoutMs'),
    output: options.output === undefined ? undefined : checkOutput(options.output, 'options.output'),
    logger: options.logger === undefined ? undefined : checkLogger(options.logger, 'options.logger'),
    handleSignals:
      options.handleSignals === undefined ? undefined : checkBoolean(options.handleSignals, 'options.handleSignals'),
  }
  const resolved = resolveOptions<ResolvedProcessSupervisorOptions>(DEFAULT_PROCESS_SUPERVISOR_OPTIONS, given)
  // Reconcile: the cap cannot be below the first delay.
  if (resolved.maxBackoffMs < resolved.backoffMs) {
    invalid('options.maxBackoffMs', `>= options.backoffMs (${resolved.backoffMs})`, String(resolved.maxBackoffMs))
  }
  return resolved
}
