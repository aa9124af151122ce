/** The classification tables, on errors shaped like those pg and node raise (real-server cases are in pool.test.ts). */
import { describe, expect, it } from 'vitest'

import { ClosedError, PostgresConnectionError, PostgresQueryError } from '../../../runtime/errors.js'
import { classifySqlstate, isRetryablePgError, mapPgError, SQLSTATE_RULES } from '../../../transports/postgres/index.js'

const sqlError = (code: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`server says ${code}`), { code, severity: 'ERROR', ...extra })

describe('the SQLSTATE table', () => {
  it.each([
    ['40001', true, false],
    ['40P01', true, false],
    ['55P03', true, false],
    ['53000', true, false],
    ['53200', true, false],
    ['53999', true, false], // class 53 fallback
    ['53300', true, true],
    ['08006', true, true],
    ['08999', true, true], // class 08 fallback
    ['57P01', true, true],
    ['57P02', true, true],
    ['57P03', true, true],
    ['23505', false, false],
    ['42P01', false, false],
    ['57014', false, false],
    ['40002', false, false],
    ['22012', undefined, undefined], // not listed: fatal
  ] as const)('%s → retryable %s, connection %s', (code, retryable, connection) => {
    const rule = classifySqlstate(code)
    expect(rule?.retryable).toBe(retryable)
    expect(rule?.connection).toBe(connection)
    expect(isRetryablePgError(sqlError(code))).toBe(retryable ?? false)
  })

  it('names every listed condition', () => {
    for (const [code, rule] of Object.entries(SQLSTATE_RULES)) {
      expect(code).toMatch(/^[0-9A-Z]{5}$/)
      expect(rule.condition).toMatch(/^[a-z_]+$/)
    }
  })
})

describe('mapPgError', () => {
  it('maps a server error to PostgresQueryError with sqlstate, retryable, constraint and table; cause kept', () => {
    const original = sqlError('23505', {
      constraint: 'jobs_key',
      table: 'jobs',
      schema: 'pulse',
      detail: 'Key (k)=(secret) already exists.',
    })
    const mapped = mapPgError(original)
    expect(mapped).toBeInstanceOf(PostgresQueryError)
    expect(mapped.cause).toBe(original)
    expect((mapped as PostgresQueryError).data).toEqual({
      sqlstate: '23505',
      retryable: false,
      condition: 'unique_violation',
      constraint: 'jobs_key',
      table: 'jobs',
      schema: 'pulse',
    })
  })

  it('maps an unlisted SQLSTATE to a fatal PostgresQueryError without a condition', () => {
    expect(mapPgError(sqlError('22012')).toString()).toContain('SQLSTATE 22012')
    expect((mapPgError(sqlError('22012')) as PostgresQueryError).data).toEqual({ sqlstate: '22012', retryable: false })
  })

  it.each(['57P01', '08006', '53300'])('maps connection-level SQLSTATE %s to PostgresConnectionError', (code) => {
    const mapped = mapPgError(sqlError(code))
    expect(mapped).toBeInstanceOf(PostgresConnectionError)
    expect(mapped).toMatchObject({ data: { sqlstate: code, retryable: true } })
  })

  it.each(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'])(
    'maps socket error %s to PostgresConnectionError',
    (code) => {
      const original = Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: 'connect' })
      const mapped = mapPgError(original)
      expect(mapped).toBeInstanceOf(PostgresConnectionError)
      expect(mapped).toMatchObject({ data: { retryable: true, systemCode: code } })
      expect(mapped.cause).toBe(original)
    },
  )

  it('looks into an AggregateError (a connect trying several addresses) and a pg-pool timeout cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })
    expect(mapPgError(new AggregateError([refused], ''))).toMatchObject({
      message: 'PostgreSQL connection failed: ECONNREFUSED',
      data: { systemCode: 'ECONNREFUSED' },
    })
    expect(mapPgError(new Error('wrapped', { cause: refused }))).toBeInstanceOf(PostgresConnectionError)
  })

  it.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error and is not queryable',
  ])('maps pg\'s "%s" to PostgresConnectionError', (message) => {
    expect(mapPgError(new Error(message))).toBeInstanceOf(PostgresConnectionError)
  })

  it('passes PulseErrors through and leaves other errors alone', () => {
    const closed = new ClosedError('closed')
    expect(mapPgError(closed)).toBe(closed)
    const plain = new TypeError('not a pg error')
    expect(mapPgError(plain)).toBe(plain)
    // Node's EPERM is not a SQLSTATE although it has five capitals.
    const eperm = Object.assign(new Error('operation not permitted'), { code: 'EPERM' })
    expect(mapPgError(eperm)).toBe(eperm)
    expect(mapPgError('text')).toBeInstanceOf(Error)
    expect(mapPgError({ code: '40001', message: 'serialization failure' })).toMatchObject({
      data: { sqlstate: '40001', retryable: true },
    })
  })
})
