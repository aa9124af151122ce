/** The parsers of the commands' arguments: durations, integers, counts, dates, JSON, addresses, stream ids. */
import { describe, expect, it } from 'vitest'

import { formatDuration, parseDuration } from '../../../cli/common/duration.js'
import {
  parseAddr,
  parseCount,
  parseFrom,
  parseInteger,
  parseIsoDate,
  parseJsonArgument,
} from '../../../cli/common/parse.js'
import { kMaxTimerMs } from '../../../runtime/options.js'

/** Matches a refusal naming `option` (an asymmetric matcher, typed for `toThrow`). */
const invalid = (option: string): Error =>
  expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option } }) as Error

describe('durations', () => {
  it('read ms’s units and bare milliseconds', () => {
    expect(parseDuration('500ms', '--t')).toBe(500)
    expect(parseDuration('1.5s', '--t')).toBe(1_500)
    expect(parseDuration('2h', '--t')).toBe(7_200_000)
    expect(parseDuration('1d', '--t')).toBe(86_400_000)
    expect(parseDuration(' 250 ', '--t')).toBe(250)
    expect(parseDuration('0', '--t')).toBe(0)
  })

  it('refuse negatives, fractions of a millisecond, junk and values below min, naming the flag', () => {
    // The empty string made `ms` throw a plain Error: it is a refused flag like the others.
    for (const text of ['-5ms', '0.5', '1.0001s', 'soon', '', '  ', '1e3', '10 parsecs']) {
      expect(() => parseDuration(text, '--every')).toThrow(invalid('--every'))
    }
    expect(() => parseDuration('0', '--timeout', { min: 1 })).toThrow('of at least 1 ms (got "0")')
  })

  it('refuse a count past the safe integers, and past max when the flag becomes a timer', () => {
    expect(() => parseDuration('99999999999999999999', '--every')).toThrow(invalid('--every'))
    // 30 days is a fine interval for a schedule, but a timer that long would fire at once.
    expect(parseDuration('30d', '--every')).toBe(2_592_000_000)
    expect(() => parseDuration('30d', '--timeout', { min: 1, max: kMaxTimerMs })).toThrow(
      `--timeout must be a duration like 500ms, 30s, 1m or 2h of at least 1 ms and at most ${kMaxTimerMs} ms (got "30d")`,
    )
    expect(parseDuration(String(kMaxTimerMs), '--timeout', { max: kMaxTimerMs })).toBe(kMaxTimerMs)
  })

  it('format back as ms writes them', () => {
    expect(formatDuration(90_000)).toBe('2m')
    expect(formatDuration(1_500.4)).toBe('2s')
    expect(formatDuration(999)).toBe('999ms')
  })
})

describe('integers and counts', () => {
  it('parseInteger takes signed decimal integers within the range (int32 by default)', () => {
    expect(parseInteger('-7', '--priority')).toBe(-7)
    expect(parseInteger(' 42 ', '--priority')).toBe(42)
    expect(parseInteger('2147483647', '--priority')).toBe(2_147_483_647)
    for (const text of ['2147483648', '1.5', '1e3', '0x10', '', '+1', '7 8']) {
      expect(() => parseInteger(text, '--priority')).toThrow(invalid('--priority'))
    }
    expect(() => parseInteger('0', '--max-attempts', { min: 1 })).toThrow('--max-attempts must be an integer from 1 to')
  })

  it('parseCount takes an integer of at least 1, or none', () => {
    expect(parseCount(undefined)).toBeUndefined()
    expect(parseCount('10')).toBe(10)
    for (const text of ['0', '-1', '1.0', ' 3', '9007199254740993'])
      expect(() => parseCount(text)).toThrow(invalid('--count'))
  })
})

describe('dates', () => {
  it('take ISO 8601 dates, times and offsets', () => {
    expect(parseIsoDate('2030-01-31', '--at').toISOString()).toBe('2030-01-31T00:00:00.000Z')
    expect(parseIsoDate('2030-01-31T09:00:00Z', '--at').toISOString()).toBe('2030-01-31T09:00:00.000Z')
    expect(parseIsoDate('2030-01-31T09:00:00+05:30', '--at').toISOString()).toBe('2030-01-31T03:30:00.000Z')
    expect(parseIsoDate('2028-02-29', '--at').getUTCDate()).toBe(29) // a leap day
  })

  it('refuse a day the month does not have instead of rolling it into the next month', () => {
    for (const text of ['2030-02-29', '2030-02-31', '2030-04-31', '2030-06-31T10:00:00Z', '2030-13-01', '2030-00-10']) {
      expect(() => parseIsoDate(text, '--run-at')).toThrow(invalid('--run-at'))
    }
  })

  it('refuse what is not ISO 8601 although Date takes it', () => {
    for (const text of ['Jan 31 2030', '31/01/2030', '2030', '1893456000000', 'tomorrow']) {
      expect(() => parseIsoDate(text, '--at')).toThrow(invalid('--at'))
    }
  })
})

describe('JSON, addresses and stream positions', () => {
  it('JSON arguments parse, and a malformed one names what it was', () => {
    expect(parseJsonArgument('{"to":"a@b.com"}', 'args')).toEqual({ to: 'a@b.com' })
    expect(parseJsonArgument('null', 'args')).toBeNull()
    expect(() => parseJsonArgument("{to:'x'}", 'the JSON argument')).toThrow(invalid('the JSON argument'))
  })

  it('an address is host:port, [v6]:port or :port (loopback)', () => {
    expect(parseAddr('0.0.0.0:2021')).toEqual({ host: '0.0.0.0', port: 2021 })
    expect(parseAddr('[::1]:80')).toEqual({ host: '::1', port: 80 })
    expect(parseAddr(':9000')).toEqual({ host: '127.0.0.1', port: 9000 })
    for (const addr of ['localhost', 'host:65536', 'a:b:80', '[::1]', 'host:-1', 'host:123456']) {
      expect(() => parseAddr(addr)).toThrow(/must be host:port/)
    }
  })

  it('--from is newest, oldest, or an id made inclusive by starting just before it', () => {
    expect(parseFrom('newest')).toBe('newest')
    expect(parseFrom('5-3')).toEqual({ after: '5-2' })
    expect(parseFrom('5')).toEqual({ after: '4-18446744073709551615' })
    expect(parseFrom('0-0')).toBe('oldest')
    expect(parseFrom('0')).toBe('oldest')
    for (const text of ['18446744073709551616', '1-18446744073709551616', '1-', '-1', 'latest', '1.5']) {
      expect(() => parseFrom(text)).toThrow(invalid('--from'))
    }
  })
})
