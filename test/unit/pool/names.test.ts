import { describe, expect, it } from 'vitest'

import {
  checkJobKey,
  checkMemberId,
  checkPoolName,
  checkProducerName,
  checkTickerName,
  isMemberId,
  kReservedProducerNames,
} from '../../../actors/pool/names.js'
import { InvalidArgumentError } from '../../../runtime/errors.js'

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect(error).toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    return (error as Error).message
  }
  throw new Error('expected an InvalidArgumentError')
}

describe('pool names', () => {
  it('follow the map-name rule and exclude "="', () => {
    for (const ok of ['email', 'a:b', 'x'.repeat(256), 'café/pool']) expect(checkPoolName(ok)).toBe(ok)
    for (const bad of ['', 'a b', 'a*', 'a?', 'a[', 'a]', 'a\0', 'a=b', 'x'.repeat(257), 7, undefined]) {
      expect(message(() => checkPoolName(bad))).toMatch(/^name must be 1 to 256 characters without space/)
    }
    expect(message(() => checkPoolName('a b', 'poolName'))).toBe(
      `poolName must be 1 to 256 characters without space, '*', '?', '[', ']', NUL or '=' (got "a b")`,
    )
  })
})

describe('member ids', () => {
  it('take ULIDs and UUIDs, nothing that would break a derived name', () => {
    for (const ok of ['01ARZ3NDEKTSV4RRFFQ69G5FAV', '3b241101-e2bb-4255-8caf-4136c566a962', 'w_1']) {
      expect(checkMemberId(ok)).toBe(ok)
      expect(isMemberId(ok)).toBe(true)
    }
    for (const bad of ['', 'a:b', 'a b', 'a=b', 'x'.repeat(65), 'é']) {
      expect(isMemberId(bad)).toBe(false)
      expect(message(() => checkMemberId(bad, 'workerId'))).toMatch(/^workerId must be 1 to 64 characters of/)
    }
  })
})

describe('ticker and producer names', () => {
  it('ticker names are map-key safe', () => {
    expect(checkTickerName('rollup:hourly')).toBe('rollup:hourly')
    for (const bad of ['', 'a=b', 'a b', 'x'.repeat(256)])
      expect(() => checkTickerName(bad)).toThrow(InvalidArgumentError)
  })

  it('producer names cannot take a pool map or contain ":"', () => {
    expect(checkProducerName('reconcile')).toBe('reconcile')
    for (const reserved of kReservedProducerNames) {
      expect(message(() => checkProducerName(reserved))).toMatch(/^producer\.name must be none of the pool's map names/)
    }
    expect(message(() => checkProducerName('x:jobs'))).toMatch(/without ':'/)
    expect(() => checkProducerName('a=b')).toThrow(InvalidArgumentError)
  })
})

describe('job keys', () => {
  it('are non-empty, without "=", well-formed', () => {
    for (const ok of ['user:123', 'ca/santa-barbara', 'é', '😀']) expect(checkJobKey(ok)).toBe(ok)
    expect(message(() => checkJobKey(''))).toBe('key must be a non-empty string (got "")')
    expect(message(() => checkJobKey('a=b'))).toMatch(/without '='/)
    expect(message(() => checkJobKey('\ud800'))).toMatch(/lone surrogate/)
    expect(message(() => checkJobKey(5, 'jobKey'))).toBe('jobKey must be a non-empty string (got number)')
  })
})
