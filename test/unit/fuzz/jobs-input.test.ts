/**
 * Fuzzing what the job queue takes from users as text or JSON: the jobs API's request readers
 * (actors/jobs/http/requests.ts) then the library's own checks (submit.ts, read-options.ts), schedule
 * specs (schedule-spec.ts: cron expressions, time zones, periods, dates) and the CLI's duration flags
 * (cli/common/duration.ts). Each input is read, or refused with a `PulseError` of a stable code —
 * never a plain `Error`, a `RangeError` or a hang.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'

import { bulkBody, jobBatch, jobItem, listQuery, reasonBody, scheduleBody } from '../../../actors/jobs/http/requests.js'
import { checkJobMatch } from '../../../actors/jobs/read-options.js'
import { checkScheduleSpec, firstOccurrence, nextOccurrence } from '../../../actors/jobs/schedule-spec.js'
import { toNewJob } from '../../../actors/jobs/submit.js'
import { parseDuration } from '../../../cli/common/duration.js'
import { isPulseError } from '../../../runtime/errors.js'

/** Runs `fn`; anything it throws must be a PulseError with one of `codes`. */
function readOrRefuse<T>(fn: () => T, codes: readonly string[] = ['PULSE_ERR_INVALID_ARG', 'PULSE_ERR_PROTOCOL']) {
  try {
    return fn()
  } catch (error) {
    expect(isPulseError(error), String(error)).toBe(true)
    expect(codes).toContain((error as { code: string }).code)
    return undefined
  }
}

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.string({ unit: fc.constantFrom('a', '\0', '\ud800', '\n', ' ', '1', 's', 'm', '-', '.', 'é', '中') }),
  fc.constantFrom('', ' ', '1s', '5m', '0s', '-1s', '100y', '1e3', '9'.repeat(400), 'x'.repeat(200)),
)
const wrong = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.nat(), { maxLength: 2 }))
const dateLike = fc.oneof(
  fc.date().map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
  fc.constantFrom('-004713-11-23T23:59:59.999Z', '-004713-11-24T00:00:00Z', '+275760-09-13T00:00:00Z', '0', '-1'),
  fc.double(),
  text,
)
const anyField = fc.oneof(text, wrong, dateLike, fc.jsonValue({ maxDepth: 2 }))
const json = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(
    fc.constantFrom(
      'name',
      'args',
      'priority',
      'runAt',
      'maxAttempts',
      'idempotencyKey',
      'jobs',
      'status',
      'reason',
      'createdAfter',
      'createdBefore',
      'jobName',
      'payload',
      'cron',
      'tz',
      'every',
      'at',
      'colour',
    ),
    anyField,
    { maxKeys: 5 },
  ),
)

describe('jobs API request readers, then the library checks', () => {
  it('a submit body becomes a checked job or a typed refusal', () => {
    fc.assert(
      fc.property(json, (body) => {
        const item = readOrRefuse(() => jobItem(body, 'body'))
        if (item === undefined) return
        const { name, args, ...options } = item
        readOrRefuse(() => toNewJob(name, args, options, { name: 'name', args: 'args', options: 'body' }))
      }),
      { numRuns: 1_000 },
    )
  })

  it('a batch, a bulk filter, a reason and a schedule body are read or refused with a typed error', () => {
    fc.assert(
      fc.property(json, fc.oneof(json, fc.array(json, { maxLength: 3 })), (body, jobs) => {
        readOrRefuse(() => jobBatch({ jobs }, 3))
        const filter = readOrRefuse(() => bulkBody(body))
        if (filter !== undefined) readOrRefuse(() => checkJobMatch(filter))
        readOrRefuse(() => reasonBody(body))
        const schedule = readOrRefuse(() => scheduleBody(body))
        if (schedule !== undefined) expect(checkScheduleSpec(schedule.spec)).toEqual(schedule.spec)
      }),
      { numRuns: 1_000 },
    )
  })

  it('a schedule body with a period of any text is read or refused (`ms` throws on some)', () => {
    fc.assert(
      fc.property(fc.oneof(text, wrong), (every) => {
        readOrRefuse(() => scheduleBody({ jobName: 'j', every }))
      }),
      { numRuns: 500 },
    )
    // `ms('')` throws a plain Error: it answered 500 before.
    expect(readOrRefuse(() => scheduleBody({ jobName: 'j', every: '' }))).toBeUndefined()
  })

  it('a list query string is read or refused, and its filter passes or fails the library check typed', () => {
    const pair = fc.tuple(
      fc.constantFrom('status', 'name', 'id', 'args', 'createdAfter', 'createdBefore', 'limit', 'cursor', 'x'),
      fc.oneof(
        text,
        dateLike.map(String),
        fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
      ),
    )
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 6 }), (pairs) => {
        const options = readOrRefuse(() => listQuery(new URLSearchParams(pairs)))
        if (options !== undefined) readOrRefuse(() => checkJobMatch(options))
      }),
      { numRuns: 1_000 },
    )
  })

  it('refuses a date before PostgreSQL can store it (it answered 500 PULSE_ERR_PG_QUERY before)', () => {
    const earliest = '-004713-11-24T00:00:00Z'
    const before = '-004713-11-23T23:59:59.999Z'
    expect(listQuery(new URLSearchParams({ createdAfter: earliest })).createdAfter?.toISOString()).toBe(
      '-004713-11-24T00:00:00.000Z',
    )
    for (const read of [
      () => listQuery(new URLSearchParams({ createdBefore: before })),
      () => jobItem({ name: 'j', runAt: before }, 'body'),
      () => bulkBody({ createdAfter: before }),
      () => scheduleBody({ jobName: 'j', at: before }),
    ]) {
      expect(read).toThrow(expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }))
    }
  })
})

describe('schedule specs from users', () => {
  const field = fc
    .array(
      fc.constantFrom(
        '0',
        '1',
        '5',
        '12',
        '31',
        '59',
        '60',
        '99',
        '*',
        '/',
        ',',
        '-',
        'L',
        'W',
        '#',
        '?',
        'MON',
        'jan',
      ),
      { minLength: 1, maxLength: 5 },
    )
    .map((parts) => parts.join(''))
  const expr = fc.oneof(
    fc.array(field, { minLength: 5, maxLength: 6 }).map((fields) => fields.join(' ')),
    fc.constantFrom('@yearly', '@hourly', '@weekly', '@nope', '0 0 31 2 *', '0 0 30 2 *', '* * * * * * *'),
    text,
  )
  const tz = fc.constantFrom(
    'UTC',
    'Europe/Paris',
    'America/St_Johns',
    'Asia/Kathmandu',
    'Nope/Zone',
    'utc',
    '+05:00',
    '',
  )
  const after = fc.date({
    min: new Date('1970-01-01T00:00:00Z'),
    max: new Date('2200-01-01T00:00:00Z'),
    noInvalidDate: true,
  })

  it('a cron expression in a time zone is refused typed, or gives occurrences strictly after', () => {
    fc.assert(
      fc.property(expr, fc.option(tz, { nil: undefined }), after, (e, zone, when) => {
        const spec = readOrRefuse(() =>
          checkScheduleSpec({ kind: 'cron', expr: e, ...(zone === undefined ? {} : { tz: zone }) }),
        )
        if (spec === undefined) return
        const next = nextOccurrence(spec, when)
        if (next !== undefined) expect(next.getTime()).toBeGreaterThan(when.getTime())
      }),
      { numRuns: 300 },
    )
  })

  it('any hand-written spec is normalised or refused typed; its first occurrence is a valid date or none', () => {
    const spec = fc.oneof(
      fc.record(
        {
          kind: fc.constantFrom('every', 'cron', 'at', 'never'),
          everyMs: anyField,
          expr: anyField,
          tz: anyField,
          at: anyField,
        },
        { requiredKeys: ['kind'] },
      ),
      fc.anything(),
    )
    fc.assert(
      fc.property(spec, after, (value, now) => {
        const checked = readOrRefuse(() => checkScheduleSpec(value))
        if (checked === undefined) return
        const first = firstOccurrence(checked, now)
        if (first !== undefined) expect(Number.isNaN(first.getTime())).toBe(false)
      }),
      { numRuns: 500 },
    )
  })
})

describe('duration flags of the CLI', () => {
  it('read a duration or refuse it naming the flag', () => {
    fc.assert(
      fc.property(text, (value) => {
        const ms = readOrRefuse(() => parseDuration(value, '--timeout'), ['PULSE_ERR_INVALID_ARG'])
        if (ms !== undefined) expect(Number.isSafeInteger(ms) && ms >= 0).toBe(true)
      }),
      { numRuns: 500 },
    )
  })
})
