/** `PgPool` without a server: option checks, what it is named (credentials never), and its closed state. */
import pg from 'pg'
import { describe, expect, it } from 'vitest'

import { ClosedError } from '../../../runtime/errors.js'
import { createPgPool, PgPool } from '../../../transports/postgres/index.js'
import { describeTarget, isPgPool } from '../../../transports/postgres/pool.js'

const kUrl = 'postgres://alice:s3cret@db.internal:6543/orders?sslmode=require'
/** Matches a refusal naming `option` (an asymmetric matcher, typed for `toThrow`). */
const invalid = (option: string): Error =>
  expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option } }) as Error

describe('PgPool options', () => {
  it.each([
    [{ max: 0 }, 'options.max'],
    [{ max: 10_001 }, 'options.max'],
    [{ connectionTimeoutMs: 0 }, 'options.connectionTimeoutMs'],
    [{ statementTimeoutMs: -1 }, 'options.statementTimeoutMs'],
    [{ statementTimeoutMs: 2 ** 31 }, 'options.statementTimeoutMs'],
    [{ applicationName: '' }, 'options.applicationName'],
    [{ closeTimeoutMs: 1.5 }, 'options.closeTimeoutMs'],
    [{ maxConnections: 5 }, 'options.maxConnections'],
  ])('refuses %j', (options, option) => {
    expect(() => createPgPool(kUrl, options as never)).toThrow(invalid(option))
  })

  it('refuses a source that is neither a connection string nor a pg.Pool', () => {
    expect(() => createPgPool('')).toThrow(invalid('source'))
    expect(() => createPgPool(42 as never)).toThrow(invalid('source'))
    expect(() => createPgPool({ connect() {} } as never)).toThrow(invalid('source'))
  })

  it('refuses the options that shape a pool for a given pg.Pool, but takes closeTimeoutMs', async () => {
    const given = new pg.Pool({ host: '127.0.0.1', port: 1 })
    try {
      expect(isPgPool(given)).toBe(true)
      for (const key of ['max', 'connectionTimeoutMs', 'statementTimeoutMs', 'applicationName']) {
        expect(() => createPgPool(given, { [key]: key === 'applicationName' ? 'x' : 5 })).toThrow(
          `options.${key} applies only to a pool built from a connection string, not to a given pg.Pool`,
        )
      }
      const wrapper = createPgPool(given, { closeTimeoutMs: 100 })
      expect(wrapper.owned).toBe(false)
      await wrapper.close()
      expect(given.ending).toBe(false) // not owned: left open
      expect(given.listenerCount('error')).toBe(0) // its listener removed
    } finally {
      await given.end()
    }
  })
})

describe('the name of a pool', () => {
  it('is host:port/database of a URL, without user, password or query', () => {
    expect(describeTarget(kUrl)).toBe('db.internal:6543/orders')
    expect(describeTarget('postgresql://u:p@localhost/db')).toBe('localhost/db')
    expect(describeTarget('postgres://[::1]:5432/x')).toBe('[::1]:5432/x')
  })

  it('is a fixed word for a string that is not a URL, so a keyword-style secret never shows', () => {
    expect(describeTarget('host=db password=hunter2')).toBe('connection string')
  })

  it('is what a closed pool’s errors say', async () => {
    const pool = new PgPool(kUrl)
    expect(pool.owned).toBe(true)
    await pool.close()
    await pool.close()
    const error = await pool.query('SELECT 1').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ClosedError)
    expect((error as Error).message).toBe('cannot query: PgPool db.internal:6543/orders is closed')
    expect((error as Error).message).not.toContain('s3cret')
    expect(await pool.closed).toBeUndefined()
  })
})

describe('withTransaction options', () => {
  it('refuses an unknown isolation level, too many retries and unknown keys before taking a client', async () => {
    const pool = createPgPool(kUrl, { connectionTimeoutMs: 1 })
    try {
      await expect(pool.withTransaction(() => Promise.resolve(1), { isolation: 'snapshot' as never })).rejects.toThrow(
        invalid('options.isolation'),
      )
      await expect(pool.withTransaction(() => Promise.resolve(1), { retries: 101 })).rejects.toThrow(
        invalid('options.retries'),
      )
      await expect(pool.withTransaction(() => Promise.resolve(1), { retries: -1 })).rejects.toThrow(
        invalid('options.retries'),
      )
      await expect(pool.withTransaction(() => Promise.resolve(1), { retry: 1 } as never)).rejects.toThrow(
        invalid('options.retry'),
      )
    } finally {
      await pool.close()
    }
  })
})
