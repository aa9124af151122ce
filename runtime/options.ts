/**
 * Options validation at the edge.
 *
 * Every `createX(options)` validates its options before using them; each check below throws an
 * `InvalidArgumentError` (code `PULSE_ERR_INVALID_ARG`) whose message names the option, states the rule
 * and shows what was received, e.g. `options.maxRestarts must be an integer >= 0 (got -1)`. `name` is the
 * full path the caller wants in the message (`'options.maxRestarts'`, `'options.redis.keyPrefix'`).
 * Each check returns the value, narrowed. Absent optional fields are the caller's business:
 * `if (options.x !== undefined) checkInteger(options.x, 'options.x', { min: 0 })`.
 *
 * Then `resolveOptions(DEFAULT_X_OPTIONS, options)` merges and freezes: every option is optional, and
 * each module has one frozen `DEFAULT_*` object holding its defaults.
 */
import { InvalidArgumentError } from './errors.js'

/** The longest delay `setTimeout` honours (2^31 - 1 ms, about 24.8 days); longer ones fire at once. */
export const kMaxTimerMs = 2_147_483_647

export interface RangeOptions {
  min?: number
  max?: number
}

export interface StringOptions {
  nonEmpty?: boolean
  pattern?: RegExp
}

function fail(name: string, rule: string, value: unknown): never {
  throw new InvalidArgumentError(`${name} must be ${rule} (got ${describe(value)})`, { data: { option: name } })
}

/** A short, safe rendering of a received value for an error message. */
function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value)
    case 'bigint':
      return `${value}n`
    case 'boolean':
    case 'undefined':
    case 'symbol':
      return String(value)
    case 'function':
      return 'a function'
    case 'object':
      if (value === null) return 'null'
      if (Array.isArray(value)) return 'an array'
      return describeObject(value)
  }
}

function describeObject(value: object): string {
  const ctor: unknown = (value as { constructor?: unknown }).constructor
  return typeof ctor === 'function' && ctor.name !== '' && ctor !== Object ? `an instance of ${ctor.name}` : 'an object'
}

function describeRange({ min, max }: RangeOptions): string {
  if (min !== undefined && max !== undefined) return ` between ${min} and ${max}`
  if (min !== undefined) return ` >= ${min}`
  if (max !== undefined) return ` <= ${max}`
  return ''
}

function inRange(value: number, { min, max }: RangeOptions): boolean {
  return (min === undefined || value >= min) && (max === undefined || value <= max)
}

/** Throws on the first own key of `options` not in `allowed`, naming it (`options.maxRestart`). */
export function checkKnownKeys(options: object, allowed: readonly string[], path = 'options'): void {
  if (typeof options !== 'object' || options === null) fail(path, 'an object', options)
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new InvalidArgumentError(`${path}.${key} is not a known option (known: ${allowed.join(', ')})`, {
        data: { option: `${path}.${key}` },
      })
    }
  }
}

/** A safe integer, optionally within `[min, max]`. */
export function checkInteger(value: unknown, name: string, range: RangeOptions = {}): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || !inRange(value, range)) {
    fail(name, `an integer${describeRange(range)}`, value)
  }
  return value
}

/** A finite number, optionally within `[min, max]`. */
export function checkNumber(value: unknown, name: string, range: RangeOptions = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !inRange(value, range)) {
    fail(name, `a finite number${describeRange(range)}`, value)
  }
  return value
}

/**
 * A duration: an integer number of milliseconds in `[min, max]`, where `min` defaults to 0 and `max` to
 * `kMaxTimerMs` (beyond it a timer would fire at once).
 */
export function checkDurationMs(
  value: unknown,
  name: string,
  { min = 0, max = kMaxTimerMs }: RangeOptions = {},
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || !inRange(value, { min, max })) {
    fail(name, `an integer number of milliseconds${describeRange({ min, max })}`, value)
  }
  return value
}

export function checkString(value: unknown, name: string, { nonEmpty = false, pattern }: StringOptions = {}): string {
  if (typeof value !== 'string') fail(name, nonEmpty ? 'a non-empty string' : 'a string', value)
  if (nonEmpty && value === '') fail(name, 'a non-empty string', value)
  if (pattern !== undefined && !pattern.test(value)) fail(name, `a string matching ${String(pattern)}`, value)
  return value
}

export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') fail(name, 'a boolean', value)
  return value
}

export function checkOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value)
  }
  return value as T
}

export function checkFunction(value: unknown, name: string): (...args: never[]) => unknown {
  if (typeof value !== 'function') fail(name, 'a function', value)
  return value as (...args: never[]) => unknown
}

export function checkSignal(value: unknown, name: string): AbortSignal {
  if (!(value instanceof AbortSignal)) fail(name, 'an AbortSignal', value)
  return value
}

/** `Partial<T>` that also takes an explicit `undefined` per field (`exactOptionalPropertyTypes`). */
export type OptionsOf<T> = { [K in keyof T]?: T[K] | undefined }

/**
 * `{ ...defaults, ...options }` where an option whose value is `undefined` does not override its
 * default, frozen (shallowly). Validate first: unknown keys are copied too.
 */
export function resolveOptions<T extends object>(defaults: T, options: OptionsOf<T> | undefined): Readonly<T> {
  const given: [string, unknown][] = Object.entries(options ?? {}).filter(([, value]) => value !== undefined)
  // Spread and fromEntries define properties, so a `__proto__` key cannot change the prototype.
  return Object.freeze({ ...defaults, ...Object.fromEntries(given) })
}
