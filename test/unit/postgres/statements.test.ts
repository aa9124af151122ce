/**
 * The SQL text and parameter builders of the job statements, and what they parse back (notices, args),
 * checked on their values: quoting and escaping are where an injection or a wrong array would come from.
 */
import pg from 'pg'
import { describe, expect, it } from 'vitest'

import { connectionOf, poolConfig, retryDelayMs } from '../../../transports/postgres/jobs/actor-pool.js'
import { parseArgs } from '../../../transports/postgres/jobs/hot-path.js'
import {
  bigintArray,
  idList,
  preparedStatement,
  quoteSchema,
  regclassLiteral,
  textArray,
  textPerSchema,
} from '../../../transports/postgres/jobs/queryable.js'
import { parseJobsNotice, wakeStatements } from '../../../transports/postgres/jobs/wake-session.js'

describe('identifiers and literals', () => {
  it('quote a schema, doubling quotes inside', () => {
    expect(quoteSchema('pulse')).toBe('"pulse"')
    expect(quoteSchema('we"ird')).toBe('"we""ird"')
  })

  it('make a regclass literal of a quoted schema and a name, doubling single quotes', () => {
    expect(regclassLiteral('"pulse"', 'jobs_id_seq')).toBe(`'"pulse".jobs_id_seq'::regclass`)
    expect(regclassLiteral(`"o'neil"`, 'seq')).toBe(`'"o''neil".seq'::regclass`)
  })

  it('the wake session quotes its channel and lock key for any schema', () => {
    const statements = wakeStatements(`x"y'z`)
    expect(statements).toContain(`LISTEN "pulse_jobs:x""y'z"`)
    expect(statements.some((s) => s.includes(`hashtext('pulse_jobs:x"y''z')`))).toBe(true)
    expect(new Set(wakeStatements('a'))).not.toEqual(new Set(wakeStatements('b')))
  })
})

describe('array parameters', () => {
  it('send decimal ids as one {…} literal, and anything else as the list for the driver to reject', () => {
    expect(bigintArray(['1', '22', '333'])).toBe('{1,22,333}')
    expect(bigintArray([])).toEqual([]) // `{}` would also do; the driver sends an empty array
    expect(bigintArray(['1', '2;DROP'])).toEqual(['1', '2;DROP'])
    expect(bigintArray(['-1'])).toEqual(['-1'])
  })

  it('quote and escape every text element, equal runs once, with what the server reads back', () => {
    expect(textArray([])).toBe('{}')
    expect(textArray(['a', 'a', 'b'])).toBe('{"a","a","b"}')
    expect(textArray(['', 'NULL', 'x,y', '{z}'])).toBe('{"","NULL","x,y","{z}"}')
    expect(textArray(['say "hi"', 'back\\slash'])).toBe('{"say \\"hi\\"","back\\\\slash"}')
  })

  it('split string_agg ids, none for NULL or empty', () => {
    expect(idList('3,1,2')).toEqual(['3', '1', '2'])
    expect(idList(null)).toEqual([])
    expect(idList(undefined)).toEqual([])
    expect(idList('')).toEqual([])
  })
})

describe('statement texts', () => {
  it('name a prepared statement by its text: the same text the same name, on every call', () => {
    const a = preparedStatement('SELECT 1', [1])
    expect(a).toEqual({ name: expect.stringMatching(/^pulse_[0-9a-f]{24}$/) as string, text: 'SELECT 1', values: [1] })
    expect(preparedStatement('SELECT 1').name).toBe(a.name)
    expect(preparedStatement('SELECT 2').name).not.toBe(a.name)
    expect(preparedStatement('SELECT 1')).not.toHaveProperty('values')
  })

  it('build a text once per schema', () => {
    let builds = 0
    const text = textPerSchema((q) => `SELECT * FROM ${q}.jobs -- ${++builds}`)
    expect(text('"a"')).toBe(text('"a"'))
    expect(text('"b"')).toBe('SELECT * FROM "b".jobs -- 2')
    expect(builds).toBe(2)
  })
})

describe('what comes back', () => {
  it('a jobs notice gives its count and names, nothing for a foreign or malformed payload', () => {
    expect(parseJobsNotice('{"n":3,"names":["a","b"]}')).toEqual({ count: 3, names: ['a', 'b'] })
    expect(parseJobsNotice('{"n":"3","names":["a",1]}')).toEqual({ count: undefined, names: undefined })
    for (const payload of [undefined, '', 'wake', '[1]', 'null', '{']) {
      expect(parseJobsNotice(payload)).toEqual({ count: undefined, names: undefined })
    }
  })

  it('a claimed job’s args are its bytes when it has them, else its JSON parsed', () => {
    const bytes = Buffer.from([1, 2])
    expect(parseArgs({ argsBytes: bytes, argsJson: '{"ignored":1}' })).toBe(bytes)
    expect(parseArgs({ argsBytes: null, argsJson: '{"a":[1]}' })).toEqual({ a: [1] })
    expect(parseArgs({ argsBytes: null, argsJson: null })).toBeNull()
  })
})

describe('an actor’s own pool', () => {
  it('takes the connection of a given pg.Pool without its pool settings, the hidden password included', async () => {
    const pool = new pg.Pool({
      host: 'db',
      port: 5433,
      user: 'u',
      password: 'p',
      database: 'd',
      max: 50,
      idleTimeoutMillis: 1,
    })
    try {
      const connection = connectionOf(pool)
      expect(connection).toMatchObject({ host: 'db', port: 5433, user: 'u', password: 'p', database: 'd' })
      expect(connection).not.toHaveProperty('max')
      expect(connection).not.toHaveProperty('idleTimeoutMillis')
    } finally {
      await pool.end()
    }
  })

  it('refuses a connection setting that cannot cross to a thread, naming it', async () => {
    const pool = new pg.Pool({ host: 'db', password: () => 'from a vault' })
    try {
      expect(() => connectionOf(pool)).toThrow(
        expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option: 'options.pool.options.password' } }),
      )
    } finally {
      await pool.end()
    }
  })

  it('sets its own size and idle timeout over the connection’s, and defaults the rest', () => {
    expect(poolConfig('postgres://x/y', 3, 'pulse-jobs')).toEqual({
      connectionString: 'postgres://x/y',
      connectionTimeoutMillis: 5_000,
      application_name: 'pulse-jobs',
      keepAlive: true,
      max: 3,
      idleTimeoutMillis: 30_000,
    })
    expect(poolConfig({ host: 'h', max: 99, application_name: 'mine' }, 2, 'pulse')).toMatchObject({
      host: 'h',
      max: 2,
      application_name: 'mine',
    })
  })

  it('waits 25–50 ms after a first failure, doubling to the cap', () => {
    for (let i = 0; i < 50; i++) {
      const first = retryDelayMs(1)
      expect(first).toBeGreaterThanOrEqual(25)
      expect(first).toBeLessThanOrEqual(50)
      expect(retryDelayMs(40)).toBeLessThanOrEqual(2_000)
      expect(retryDelayMs(40)).toBeGreaterThanOrEqual(1_000)
      expect(retryDelayMs(10, 300)).toBeLessThanOrEqual(300)
    }
  })
})
