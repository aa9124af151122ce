import { describe, expect, it } from 'vitest'

import { after, at, cron, every, nextOccurrence } from '../../../actors/jobs/index.js'
import { checkScheduleSpec, firstOccurrence } from '../../../actors/jobs/schedule-spec.js'

const d = (iso: string) => new Date(iso)

describe('schedule specs', () => {
  it('build frozen JSON specs that survive a JSON round trip', () => {
    for (const spec of [
      every(5_000),
      cron('*/5 * * * *'),
      cron('0 9 * * 1', { tz: 'Europe/Paris' }),
      at(d('2030-01-01T00:00:00Z')),
      after(1_000),
    ]) {
      expect(Object.isFrozen(spec)).toBe(true)
      expect(checkScheduleSpec(JSON.parse(JSON.stringify(spec)))).toEqual(spec)
    }
    expect(cron('@hourly')).toEqual({ kind: 'cron', expr: '@hourly', tz: 'UTC' })
    expect(at(0)).toEqual({ kind: 'at', at: '1970-01-01T00:00:00.000Z' })
  })

  it('every: the next multiple of the period after `after`, strictly', () => {
    expect(nextOccurrence(every(60_000), d('2030-01-01T10:30:10Z'))).toEqual(d('2030-01-01T10:31:00Z'))
    expect(nextOccurrence(every(60_000), d('2030-01-01T10:31:00Z'))).toEqual(d('2030-01-01T10:32:00Z'))
    expect(firstOccurrence(every(1_000), d('2030-01-01T00:00:00.500Z'))).toEqual(d('2030-01-01T00:00:01Z'))
  })

  it('cron: the next match in its time zone, strictly after', () => {
    expect(nextOccurrence(cron('0 * * * *'), d('2030-01-01T10:30:00Z'))).toEqual(d('2030-01-01T11:00:00Z'))
    expect(nextOccurrence(cron('0 * * * *'), d('2030-01-01T11:00:00Z'))).toEqual(d('2030-01-01T12:00:00Z'))
    expect(nextOccurrence(cron('*/10 * * * * *'), d('2030-01-01T00:00:05Z'))).toEqual(d('2030-01-01T00:00:10Z'))
    // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
    expect(nextOccurrence(cron('0 9 * * *', { tz: 'Europe/Paris' }), d('2030-01-01T00:00:00Z'))).toEqual(
      d('2030-01-01T08:00:00Z'),
    )
    expect(nextOccurrence(cron('0 9 * * *', { tz: 'Europe/Paris' }), d('2030-07-01T00:00:00Z'))).toEqual(
      d('2030-07-01T07:00:00Z'),
    )
  })

  it('at: its time while in the future, then none; a past at is its own first occurrence', () => {
    const spec = at(d('2030-01-01T00:00:00Z'))
    expect(nextOccurrence(spec, d('2029-12-31T23:59:59Z'))).toEqual(d('2030-01-01T00:00:00Z'))
    expect(nextOccurrence(spec, d('2030-01-01T00:00:00Z'))).toBeUndefined()
    expect(firstOccurrence(spec, d('2031-01-01T00:00:00Z'))).toEqual(d('2030-01-01T00:00:00Z'))
  })

  it('refuse invalid input with PULSE_ERR_INVALID_ARG naming it', () => {
    const invalid: [() => unknown, string][] = [
      [() => every(0), 'ms'],
      [() => every(-5), 'ms'],
      [() => every('5' as unknown as number), 'ms'],
      [() => cron('nope'), 'expr'],
      [() => cron('60 * * * *'), 'expr'],
      [() => cron('* * * *'), 'expr'],
      [() => cron('0 * * * *', { tz: '' }), 'options.tz'],
      [() => cron('0 * * * *', { zone: 'UTC' } as never), 'options.zone'],
      [() => at(new Date(Number.NaN)), 'date'],
      [() => after(1.5), 'ms'],
      [() => nextOccurrence({ kind: 'every', everyMs: 1, extra: true }, new Date()), 'spec.extra'],
      [() => nextOccurrence('every', new Date()), 'spec'],
    ]
    for (const [call, option] of invalid) {
      expect(call, option).toThrow(
        expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option } }) as Error,
      )
    }
  })
})
