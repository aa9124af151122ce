/**
 * The server goes away under a pool and comes back. This file starts a private server: restarting the
 * run's shared one would disturb the other files.
 */
import { once } from 'node:events'

import { afterAll, beforeAll, expect, it } from 'vitest'

import { LocalPostgres } from '../../../cli/local-servers/postgres-server.js'
import { PostgresConnectionError } from '../../../runtime/errors.js'
import { createPgPool } from '../../../transports/postgres/index.js'
import { deferred } from './database.js'

let server: LocalPostgres

beforeAll(async () => {
  server = await LocalPostgres.start({ fast: true })
})

afterAll(async () => {
  await server.close()
})

it('fails fast with PostgresConnectionError while the server is down, and works again once it is back', async () => {
  const pool = createPgPool(server.url, { max: 4, connectionTimeoutMs: 2_000 })
  try {
    // Idle clients: pg-pool emits 'error' on the pool when their server dies (no crash: we listen).
    await Promise.all([1, 2, 3].map(() => pool.query('SELECT pg_sleep(0.02)')))
    expect(pool.pool.idleCount).toBe(3)
    // Observed through 'remove', which (unlike a test's own 'error' listener) does not hide a missing one.
    const idleGone = new Promise<void>((resolve) => {
      const check = () => {
        if (pool.pool.idleCount > 0) return
        pool.pool.off('remove', check)
        resolve()
      }
      pool.pool.on('remove', check)
    })

    // A query in flight, and a client held between queries, when the server stops.
    const sleeping = pool.query('SELECT pg_sleep(60)').catch((e: unknown) => e)
    const held = deferred()
    const holding = pool
      .withClient(async (client) => {
        await client.query('SELECT 1')
        const lost = once(client, 'error')
        held.resolve()
        const [error] = (await lost) as [Error]
        return error
      })
      .catch((e: unknown) => e)
    await held.promise

    await server.stop()
    // The client left idle saw its server go: pg-pool dropped it and emitted 'error' on the pool.
    await idleGone

    const inFlight = await sleeping
    expect(inFlight).toBeInstanceOf(PostgresConnectionError)
    expect(inFlight).toMatchObject({ code: 'PULSE_ERR_PG_CONNECTION', data: { retryable: true } })
    // The held client saw its connection go (and did not crash the process).
    expect(await holding).toBeInstanceOf(Error)

    const started = Date.now()
    const down = await pool.query('SELECT 1').catch((e: unknown) => e)
    expect(down).toBeInstanceOf(PostgresConnectionError)
    expect(Date.now() - started).toBeLessThan(5_000)
    await expect(pool.withTransaction(() => Promise.resolve())).rejects.toBeInstanceOf(PostgresConnectionError)

    await server.start()

    expect(await pool.query('SELECT 1 AS one')).toEqual([{ one: 1 }])
    expect(
      await pool.withTransaction(
        async (client) => (await client.query<{ two: number }>('SELECT 2 AS two')).rows[0]?.two,
      ),
    ).toBe(2)
  } finally {
    await pool.close()
  }
})

it('retries a transaction across a restart when asked to', async () => {
  const pool = createPgPool(server.url, { max: 2, connectionTimeoutMs: 2_000 })
  try {
    await pool.query('SELECT 1')
    let attempts = 0
    const firstAttempt = deferred()
    const stopped = deferred()
    const result = pool.withTransaction(
      async (client) => {
        attempts++
        if (attempts === 1) {
          firstAttempt.resolve()
          await stopped.promise
        }
        return (await client.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one
      },
      { retries: 50 },
    )
    await firstAttempt.promise
    await server.stop()
    const restarted = server.start()
    stopped.resolve()
    await restarted
    expect(await result).toBe(1)
    expect(attempts).toBeGreaterThanOrEqual(2)
  } finally {
    await pool.close()
  }
})
