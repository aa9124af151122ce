import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'

import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { freePort } from '../../../cli/local-servers/free-port.js'
import { ClosedError, CloseTimeoutError, PostgresConnectionError, PostgresQueryError } from '../../../runtime/errors.js'
import { createPgPool, type PgPool } from '../../../transports/postgres/index.js'
import { deferred, openTestDatabase, type PgTestTarget, uniqueName } from './database.js'

let db: PgTestTarget

beforeAll(async () => {
  db = await openTestDatabase()
})

afterAll(async () => {
  await db.close()
})

/** Runs `fn` with a fresh pool (and a fresh table name), closing the pool afterwards. */
async function withPool<T>(
  fn: (pool: PgPool, table: string) => Promise<T>,
  options: Parameters<typeof createPgPool>[1] = {},
): Promise<T> {
  const pool = createPgPool(db.url, options)
  try {
    return await fn(pool, uniqueName('t'))
  } finally {
    await pool.close()
  }
}

describe('query', () => {
  it('returns the rows, typed', async () => {
    await withPool(async (pool) => {
      const rows = await pool.query<{ n: number; s: string }>('SELECT $1::int AS n, $2::text AS s', [41, 'x'])
      expect(rows).toEqual([{ n: 41, s: 'x' }])
    })
  })

  it('maps a unique violation to PostgresQueryError (23505, fatal) and keeps the client', async () => {
    await withPool(
      async (pool, table) => {
        await pool.query(`CREATE TABLE ${table} (id int CONSTRAINT ${table}_pk PRIMARY KEY)`)
        const [before] = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        await pool.query(`INSERT INTO ${table} VALUES (1)`)
        const error = await pool.query(`INSERT INTO ${table} VALUES (1)`).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(PostgresQueryError)
        expect(error).toMatchObject({
          code: 'PULSE_ERR_PG_QUERY',
          data: {
            sqlstate: '23505',
            retryable: false,
            condition: 'unique_violation',
            constraint: `${table}_pk`,
            table,
          },
        })
        expect((error as Error).cause).toBeInstanceOf(pg.DatabaseError)
        // A server error in autocommit leaves the session usable: same backend afterwards.
        const [after] = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        expect(after?.pid).toBe(before?.pid)
      },
      { max: 1 },
    )
  })

  it('maps other server errors by the table (42P01 fatal)', async () => {
    await withPool(async (pool) => {
      await expect(pool.query('SELECT * FROM no_such_table_here')).rejects.toMatchObject({
        code: 'PULSE_ERR_PG_QUERY',
        data: { sqlstate: '42P01', retryable: false, condition: 'undefined_table' },
      })
    })
  })

  it('sets statement_timeout and application_name on its sessions', async () => {
    await withPool(
      async (pool) => {
        expect(
          await pool.query(
            "SELECT current_setting('application_name') AS name, current_setting('statement_timeout') AS timeout",
          ),
        ).toEqual([{ name: 'pulse-test', timeout: '150ms' }])
        await expect(pool.query('SELECT pg_sleep(5)')).rejects.toMatchObject({
          code: 'PULSE_ERR_PG_QUERY',
          data: { sqlstate: '57014', retryable: false, condition: 'query_canceled' },
        })
      },
      { statementTimeoutMs: 150, applicationName: 'pulse-test' },
    )
  })

  it('fails fast with PostgresConnectionError when nothing listens', async () => {
    const port = await freePort()
    const pool = createPgPool(`postgres://postgres@127.0.0.1:${port}/postgres`)
    try {
      const started = Date.now()
      const error = await pool.query('SELECT 1').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PostgresConnectionError)
      expect(error).toMatchObject({
        code: 'PULSE_ERR_PG_CONNECTION',
        data: { retryable: true, systemCode: 'ECONNREFUSED' },
      })
      expect(Date.now() - started).toBeLessThan(5_000)
    } finally {
      await pool.close()
    }
  })

  it('fails with PostgresConnectionError after connectionTimeoutMs when the server never answers', async () => {
    const sockets = new Set<Socket>()
    const silent = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => undefined)
    })
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    const address = silent.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    const pool = createPgPool(`postgres://postgres@127.0.0.1:${port}/postgres`, { connectionTimeoutMs: 200 })
    try {
      const started = Date.now()
      const error = await pool.query('SELECT 1').catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PostgresConnectionError)
      expect((error as Error).message).toContain('Connection terminated due to connection timeout')
      expect(Date.now() - started).toBeLessThan(2_000)
    } finally {
      await pool.close()
      for (const socket of sockets) socket.destroy()
      silent.close()
      await once(silent, 'close')
    }
  })
})

describe('withClient', () => {
  it('hands a client and returns it to the pool', async () => {
    await withPool(
      async (pool) => {
        const pid = await pool.withClient(
          async (client) => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid,
        )
        const [again] = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        expect(again?.pid).toBe(pid)
        expect(pool.pool.idleCount).toBe(1)
      },
      { max: 1 },
    )
  })

  it('discards the client when the callback throws, and rethrows the error as is', async () => {
    await withPool(
      async (pool) => {
        const boom = new Error('boom')
        let pid: number | undefined
        const error = await pool
          .withClient(async (client) => {
            pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
            await client.query('BEGIN')
            throw boom
          })
          .catch((e: unknown) => e)
        expect(error).toBe(boom)
        const [next] = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        expect(next?.pid).not.toBe(pid)
      },
      { max: 1 },
    )
  })
})

describe('withTransaction', () => {
  it('commits', async () => {
    await withPool(async (pool, table) => {
      await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
      const result = await pool.withTransaction(async (client) => {
        await client.query(`INSERT INTO ${table} VALUES (1), (2)`)
        return 'done'
      })
      expect(result).toBe('done')
      expect(await pool.query(`SELECT id FROM ${table} ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }])
    })
  })

  it('rolls back when the function throws, rethrows, and keeps the client', async () => {
    await withPool(
      async (pool, table) => {
        await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
        const [before] = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        const boom = new Error('boom')
        await expect(
          pool.withTransaction(async (client) => {
            await client.query(`INSERT INTO ${table} VALUES (1)`)
            throw boom
          }),
        ).rejects.toBe(boom)
        expect(await pool.query(`SELECT id FROM ${table}`)).toEqual([])
        const [after] = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
        expect(after?.pid).toBe(before?.pid)
      },
      { max: 1 },
    )
  })

  it('maps a server error inside the function and does not retry a fatal one', async () => {
    await withPool(async (pool, table) => {
      await pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`)
      await pool.query(`INSERT INTO ${table} VALUES (1)`)
      let attempts = 0
      await expect(
        pool.withTransaction(
          async (client) => {
            attempts++
            await client.query(`INSERT INTO ${table} VALUES (1)`)
          },
          { retries: 3 },
        ),
      ).rejects.toMatchObject({ code: 'PULSE_ERR_PG_QUERY', data: { sqlstate: '23505', retryable: false } })
      expect(attempts).toBe(1)
    })
  })

  it('runs at the requested isolation level', async () => {
    await withPool(async (pool) => {
      const level = await pool.withTransaction(
        async (client) =>
          (await client.query<{ level: string }>("SELECT current_setting('transaction_isolation') AS level")).rows[0]
            ?.level,
        { isolation: 'serializable' },
      )
      expect(level).toBe('serializable')
    })
  })

  it('retries the whole function after a serialization failure (40001), then commits once', async () => {
    await withPool(async (pool, table) => {
      await pool.query(`CREATE TABLE ${table} (attempt int)`)
      let attempts = 0
      const result = await pool.withTransaction(
        async (client) => {
          attempts++
          await client.query(`INSERT INTO ${table} VALUES ($1)`, [attempts])
          if (attempts === 1)
            throw Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' })
          return attempts
        },
        { retries: 2 },
      )
      expect(result).toBe(2)
      // The first attempt was rolled back.
      expect(await pool.query(`SELECT attempt FROM ${table}`)).toEqual([{ attempt: 2 }])
    })
  })

  it('gives up after `retries` and throws the retryable error', async () => {
    await withPool(async (pool) => {
      let attempts = 0
      const error = await pool
        .withTransaction(
          () => {
            attempts++
            return Promise.reject(Object.assign(new Error('deadlock detected'), { code: '40P01' }))
          },
          { retries: 2 },
        )
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(PostgresQueryError)
      expect(error).toMatchObject({ data: { sqlstate: '40P01', retryable: true, condition: 'deadlock_detected' } })
      expect(attempts).toBe(3)
    })
  })

  it('resolves a real SERIALIZABLE write skew by retrying the loser', async () => {
    await withPool(
      async (pool, table) => {
        await pool.query(`CREATE TABLE ${table} (v int)`)
        const bothRead = deferred()
        let readers = 0
        let attempts = 0
        const increment = () =>
          pool.withTransaction(
            async (client) => {
              attempts++
              const sum =
                (await client.query<{ s: number }>(`SELECT coalesce(sum(v), 0)::int AS s FROM ${table}`)).rows[0]?.s ??
                0
              if (readers < 2) {
                // First attempts only: both transactions read before either writes.
                if (++readers === 2) bothRead.resolve()
                await bothRead.promise
              }
              await client.query(`INSERT INTO ${table} VALUES ($1)`, [sum + 1])
            },
            { isolation: 'serializable', retries: 5 },
          )
        await Promise.all([increment(), increment()])
        expect(attempts).toBeGreaterThanOrEqual(3)
        expect(await pool.query(`SELECT v FROM ${table} ORDER BY v`)).toEqual([{ v: 1 }, { v: 2 }])
      },
      { max: 2 },
    )
  })

  it('validates its options', async () => {
    await withPool(async (pool) => {
      await expect(pool.withTransaction(() => Promise.resolve(), { retries: -1 })).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option: 'options.retries' },
      })
      await expect(
        pool.withTransaction(() => Promise.resolve(), { isolation: 'snapshot' as never }),
      ).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option: 'options.isolation' },
      })
    })
  })
})

describe('close', () => {
  it('is idempotent and memoised; later calls reject with ClosedError', async () => {
    const pool = createPgPool(db.url)
    await pool.query('SELECT 1')
    const first = pool.close()
    expect(pool.close()).toBe(first)
    await first
    await pool.close()
    await pool[Symbol.asyncDispose]()
    expect(await pool.closed).toBeUndefined()
    await expect(pool.query('SELECT 1')).rejects.toBeInstanceOf(ClosedError)
    await expect(pool.withClient(() => Promise.resolve())).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
    await expect(pool.withTransaction(() => Promise.resolve())).rejects.toMatchObject({ code: 'PULSE_ERR_CLOSED' })
    expect(pool.pool.ended).toBe(true)
  })

  it('waits for calls in flight', async () => {
    const pool = createPgPool(db.url)
    const inside = deferred()
    const release = deferred()
    const call = pool.withClient(async (client) => {
      inside.resolve()
      await release.promise
      return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one
    })
    await inside.promise
    const closing = pool.close()
    await expect(pool.query('SELECT 1')).rejects.toBeInstanceOf(ClosedError)
    release.resolve()
    expect(await call).toBe(1)
    await closing
  })

  it('is bounded: after closeTimeoutMs it discards held clients and rejects with CloseTimeoutError', async () => {
    const pool = createPgPool(db.url, { closeTimeoutMs: 100 })
    const inside = deferred()
    const gate = deferred()
    const call = pool
      .withClient(async (client) => {
        inside.resolve()
        await gate.promise
        return client.query('SELECT 1')
      })
      .catch((e: unknown) => e)
    await inside.promise
    const started = Date.now()
    await expect(pool.close()).rejects.toBeInstanceOf(CloseTimeoutError)
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(await pool.closed).toBeInstanceOf(CloseTimeoutError)
    gate.resolve()
    // The discarded client is not queryable any more.
    expect(await call).toBeInstanceOf(PostgresConnectionError)
    expect(pool.pool.ended).toBe(true)
  })

  it('rejects with ClosedError when a given pg.Pool was ended under it', async () => {
    const raw = new pg.Pool({ connectionString: db.url })
    const pool = createPgPool(raw)
    await raw.end()
    await expect(pool.query('SELECT 1')).rejects.toBeInstanceOf(ClosedError)
    await pool.close()
  })

  it('does not end a given pg.Pool and removes its error listener', async () => {
    const raw = new pg.Pool({ connectionString: db.url, max: 1 })
    try {
      const pool = createPgPool(raw)
      expect(pool.owned).toBe(false)
      expect(raw.listenerCount('error')).toBe(1)
      expect(await pool.query('SELECT 2 AS two')).toEqual([{ two: 2 }])
      await pool.close()
      expect(raw.listenerCount('error')).toBe(0)
      expect(raw.ended).toBe(false)
      expect((await raw.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }])
    } finally {
      await raw.end()
    }
  })

  it('refuses build options for a given pg.Pool, and bad options', async () => {
    const raw = new pg.Pool({ connectionString: db.url })
    try {
      expect(() => createPgPool(raw, { max: 3 })).toThrow(
        expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option: 'options.max' } }),
      )
      expect(() => createPgPool(db.url, { connectionTimeoutMs: 0 })).toThrow(
        expect.objectContaining({ data: { option: 'options.connectionTimeoutMs' } }),
      )
      expect(() => createPgPool(db.url, { nope: 1 } as never)).toThrow(
        expect.objectContaining({ data: { option: 'options.nope' } }),
      )
      expect(() => createPgPool('')).toThrow(expect.objectContaining({ data: { option: 'source' } }))
    } finally {
      await raw.end()
    }
  })
})
