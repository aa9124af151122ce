import { describe, expect, it } from 'vitest'

import { InvalidArgumentError } from '../../../runtime/errors.js'
import {
  checkBoolean,
  checkDurationMs,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkNumber,
  checkOneOf,
  checkSignal,
  checkString,
  kMaxTimerMs,
  resolveOptions,
} from '../../../runtime/options.js'

/** Runs `fn`, expects an InvalidArgumentError and returns its message. */
function invalid(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect(error).toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    return (error as Error).message
  }
  throw new Error('expected an InvalidArgumentError')
}

describe('checkKnownKeys', () => {
  it('accepts known keys', () => {
    expect(() => checkKnownKeys({ a: 1, b: undefined }, ['a', 'b', 'c'])).not.toThrow()
  })

  it('names the unknown key under its path', () => {
    expect(invalid(() => checkKnownKeys({ a: 1, maxRestart: 3 }, ['a', 'maxRestarts']))).toBe(
      'options.maxRestart is not a known option (known: a, maxRestarts)',
    )
    expect(invalid(() => checkKnownKeys({ x: 1 }, [], 'options.redis'))).toMatch(
      /^options\.redis\.x is not a known option/,
    )
  })

  it('rejects a non-object', () => {
    expect(invalid(() => checkKnownKeys(null as unknown as object, []))).toBe('options must be an object (got null)')
  })
})

describe('checkInteger', () => {
  it('returns a valid integer', () => {
    expect(checkInteger(3, 'options.n')).toBe(3)
    expect(checkInteger(0, 'options.n', { min: 0, max: 0 })).toBe(0)
  })

  it('names the option, the rule and the value', () => {
    expect(invalid(() => checkInteger(-1, 'options.maxRestarts', { min: 0 }))).toBe(
      'options.maxRestarts must be an integer >= 0 (got -1)',
    )
    expect(invalid(() => checkInteger(11, 'options.n', { min: 1, max: 10 }))).toBe(
      'options.n must be an integer between 1 and 10 (got 11)',
    )
    expect(invalid(() => checkInteger(5, 'options.n', { max: 4 }))).toBe('options.n must be an integer <= 4 (got 5)')
    expect(invalid(() => checkInteger(1.5, 'options.n'))).toBe('options.n must be an integer (got 1.5)')
    expect(invalid(() => checkInteger('3', 'options.n'))).toBe('options.n must be an integer (got "3")')
    expect(invalid(() => checkInteger(Number.NaN, 'options.n'))).toContain('(got NaN)')
    expect(invalid(() => checkInteger(2 ** 60, 'options.n'))).toContain('options.n')
  })
})

describe('checkNumber', () => {
  it('returns a finite number in range', () => {
    expect(checkNumber(0.5, 'options.ratio', { min: 0, max: 1 })).toBe(0.5)
  })

  it('rejects non-finite and out-of-range values', () => {
    expect(invalid(() => checkNumber(Infinity, 'options.ratio'))).toBe(
      'options.ratio must be a finite number (got Infinity)',
    )
    expect(invalid(() => checkNumber(1.5, 'options.ratio', { min: 0, max: 1 }))).toBe(
      'options.ratio must be a finite number between 0 and 1 (got 1.5)',
    )
    expect(invalid(() => checkNumber(null, 'options.ratio'))).toContain('(got null)')
  })
})

describe('checkDurationMs', () => {
  it('returns integer milliseconds from 0 up to the timer limit', () => {
    expect(checkDurationMs(0, 'options.closeTimeoutMs')).toBe(0)
    expect(checkDurationMs(kMaxTimerMs, 'options.closeTimeoutMs')).toBe(kMaxTimerMs)
  })

  it('rejects negative, fractional, infinite and too long durations', () => {
    expect(invalid(() => checkDurationMs(-1, 'options.closeTimeoutMs'))).toBe(
      `options.closeTimeoutMs must be an integer number of milliseconds between 0 and ${kMaxTimerMs} (got -1)`,
    )
    expect(invalid(() => checkDurationMs(1.5, 'options.closeTimeoutMs'))).toContain('options.closeTimeoutMs')
    expect(invalid(() => checkDurationMs(Infinity, 'options.closeTimeoutMs'))).toContain('(got Infinity)')
    expect(invalid(() => checkDurationMs(kMaxTimerMs + 1, 'options.closeTimeoutMs'))).toContain(
      'options.closeTimeoutMs',
    )
    expect(invalid(() => checkDurationMs(5, 'options.pollMs', { min: 10, max: 100 }))).toBe(
      'options.pollMs must be an integer number of milliseconds between 10 and 100 (got 5)',
    )
  })
})

describe('checkString', () => {
  it('returns a valid string, the empty string included by default', () => {
    expect(checkString('', 'options.prefix')).toBe('')
    expect(checkString('a:b', 'options.prefix', { nonEmpty: true, pattern: /^[a-z:]+$/ })).toBe('a:b')
  })

  it('rejects non-strings, empty strings and mismatches', () => {
    expect(invalid(() => checkString(1, 'options.name'))).toBe('options.name must be a string (got 1)')
    expect(invalid(() => checkString('', 'options.name', { nonEmpty: true }))).toBe(
      'options.name must be a non-empty string (got "")',
    )
    expect(invalid(() => checkString('A B', 'options.name', { pattern: /^[a-z]+$/ }))).toBe(
      'options.name must be a string matching /^[a-z]+$/ (got "A B")',
    )
  })

  it('shortens a long received string', () => {
    expect(invalid(() => checkString('x'.repeat(100), 'options.name', { pattern: /^$/ })).length).toBeLessThan(100)
  })
})

describe('checkBoolean, checkOneOf, checkFunction, checkSignal', () => {
  it('return valid values', () => {
    expect(checkBoolean(false, 'options.flag')).toBe(false)
    const mode: 'fifo' | 'lifo' = checkOneOf('lifo', 'options.mode', ['fifo', 'lifo'] as const)
    expect(mode).toBe('lifo')
    const fn = () => 1
    expect(checkFunction(fn, 'options.onError')).toBe(fn)
    const { signal } = new AbortController()
    expect(checkSignal(signal, 'options.signal')).toBe(signal)
  })

  it('reject invalid values, naming the option', () => {
    expect(invalid(() => checkBoolean('true', 'options.flag'))).toBe('options.flag must be a boolean (got "true")')
    expect(invalid(() => checkOneOf('lru', 'options.mode', ['fifo', 'lifo']))).toBe(
      'options.mode must be one of "fifo", "lifo" (got "lru")',
    )
    expect(invalid(() => checkOneOf(1, 'options.mode', ['fifo']))).toContain('options.mode')
    expect(invalid(() => checkFunction({}, 'options.onError'))).toBe(
      'options.onError must be a function (got an object)',
    )
    expect(invalid(() => checkSignal(new AbortController(), 'options.signal'))).toBe(
      'options.signal must be an AbortSignal (got an instance of AbortController)',
    )
    expect(invalid(() => checkSignal([], 'options.signal'))).toContain('(got an array)')
    expect(invalid(() => checkSignal(undefined, 'options.signal'))).toContain('(got undefined)')
  })

  it('put the option name in the error data', () => {
    let caught: unknown
    try {
      checkBoolean(1, 'options.flag')
    } catch (error) {
      caught = error
    }
    expect(caught).toMatchObject({ data: { option: 'options.flag' } })
  })
})

describe('resolveOptions', () => {
  interface Resolved {
    concurrency: number
    name: string
    signal?: AbortSignal
  }
  const defaults: Resolved = { concurrency: 4, name: 'default' }

  it('overrides defaults with given values and keeps defaults for undefined ones', () => {
    const resolved = resolveOptions(defaults, { concurrency: 8, name: undefined })
    expect(resolved).toEqual({ concurrency: 8, name: 'default' })
  })

  it('accepts no options and keeps optional fields without defaults', () => {
    expect(resolveOptions(defaults, undefined)).toEqual(defaults)
    const { signal } = new AbortController()
    expect(resolveOptions(defaults, { signal }).signal).toBe(signal)
  })

  it('freezes the result and leaves the inputs alone', () => {
    const options = { concurrency: 1 }
    const resolved = resolveOptions(defaults, options)
    expect(Object.isFrozen(resolved)).toBe(true)
    expect(resolved).not.toBe(defaults)
    expect(defaults.concurrency).toBe(4)
    expect(Object.isFrozen(options)).toBe(false)
  })

  it('does not let a __proto__ key change the prototype', () => {
    const options = JSON.parse('{"__proto__": {"polluted": true}}') as Partial<Resolved>
    const resolved = resolveOptions(defaults, options)
    expect(Object.getPrototypeOf(resolved)).toBe(Object.prototype)
    expect((resolved as unknown as Record<string, unknown>).polluted).toBeUndefined()
  })
})
