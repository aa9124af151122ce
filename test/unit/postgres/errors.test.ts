/**
 * `mapPgError` at its edges (the common cases are in test/integration/postgres/errors.test.ts): lettered
 * SQLSTATE classes, what is not a SQLSTATE, nesting bounds, and which fields reach `data`.
 */
import { describe, expect, it } from 'vitest'

import { PostgresConnectionError, PostgresQueryError } from '../../../runtime/errors.js'
import { classifySqlstate, isRetryablePgError, mapPgError } from '../../../transports/postgres/index.js'

const sqlError = (code: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`server says ${code}`), { code, ...extra })

describe('mapPgError at its edges', () => {
  it('knows the lettered classes (P0, XX, HV, F0) as SQLSTATEs', () => {
    expect(mapPgError(sqlError('P0001'))).toMatchObject({ data: { sqlstate: 'P0001', condition: 'raise_exception' } })
    expect(mapPgError(sqlError('XX000'))).toBeInstanceOf(PostgresQueryError)
    expect(mapPgError(sqlError('HV000'))).toMatchObject({ data: { sqlstate: 'HV000', retryable: false } })
    expect(mapPgError(sqlError('F0000'))).toBeInstanceOf(PostgresQueryError)
  })

  it('leaves codes that are not SQLSTATEs alone: lower case, wrong length, an unknown lettered class', () => {
    for (const code of ['40p01', '4000', '400011', 'ZZ000', 'ERR_X']) {
      const error = sqlError(code)
      expect(mapPgError(error)).toBe(error)
      expect(isRetryablePgError(error)).toBe(false)
    }
  })

  it('copies only non-empty string fields the server names, never detail or hint', () => {
    const mapped = mapPgError(
      sqlError('23502', {
        column: 'name',
        table: '',
        schema: 5,
        constraint: undefined,
        detail: 'row (secret)',
        hint: 'h',
      }),
    )
    expect((mapped as PostgresQueryError).data).toEqual({
      sqlstate: '23502',
      retryable: false,
      condition: 'not_null_violation',
      column: 'name',
    })
  })

  it('finds a socket code three causes deep, not four', () => {
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })
    const wrap = (inner: Error, n: number): Error =>
      n === 0 ? inner : new Error(`w${n}`, { cause: wrap(inner, n - 1) })
    expect(mapPgError(wrap(refused, 3))).toBeInstanceOf(PostgresConnectionError)
    expect(mapPgError(wrap(refused, 4))).not.toBeInstanceOf(PostgresConnectionError)
  })

  it('survives a cycle of causes', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    Object.assign(a, { cause: b })
    expect(mapPgError(a)).toBe(a)
  })

  it('uses the class rule for an unlisted code of a listed class, and none for an unlisted class', () => {
    expect(classifySqlstate('08ABC')).toMatchObject({ connection: true, retryable: true })
    expect(classifySqlstate('53999')).toMatchObject({ connection: false, retryable: true })
    expect(classifySqlstate('23999')).toBeUndefined()
    expect(isRetryablePgError(sqlError('53999'))).toBe(true)
  })
})
