/**
 * `LocalPostgres` and `LocalRedis` stopped each way and started again on the same port and folder:
 * committed data survives, and the servers' logs show how they went down (a clean shutdown, or a crash
 * that the next start recovers from). Private servers: stopping the run's shared ones would disturb the
 * other files.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { LocalPostgres } from '../../../cli/local-servers/postgres-server.js'
import { LocalRedis } from '../../../cli/local-servers/redis-server.js'

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql, values)).rows
  } finally {
    await client.end()
  }
}

/** What a server's log gained since `from` (its length then). */
function logSince(path: string, from: number): string {
  return readFileSync(path, 'utf8').slice(from)
}

describe('LocalPostgres stop modes', () => {
  let server: LocalPostgres
  const log = () => join(server.dir, 'postgres.log')

  beforeAll(async () => {
    // Durable (no `fast`): a crash keeps what was committed.
    server = await LocalPostgres.start()
    await query(server.url, 'CREATE TABLE kept (n integer)')
  })

  afterAll(async () => {
    await server.close()
  })

  for (const mode of ['fast', 'immediate'] as const) {
    it(`restart('${mode}') comes back on the same port with every committed row`, async () => {
      const port = server.port
      await query(server.url, 'INSERT INTO kept VALUES ($1)', [mode === 'fast' ? 1 : 2])
      const before = readFileSync(log(), 'utf8').length

      await server.stop(mode)
      expect(server.running).toBe(false)
      await server.start()

      expect(server.port).toBe(port)
      const rows = await query<{ n: number }>(server.url, 'SELECT n FROM kept ORDER BY n')
      expect(rows.map((r) => r.n)).toEqual(mode === 'fast' ? [1] : [1, 2])
      const since = logSince(log(), before)
      if (mode === 'fast') {
        expect(since).toMatch(/received fast shutdown request/)
        expect(since).toMatch(/database system was shut down at/)
      } else {
        expect(since).toMatch(/received immediate shutdown request/)
        expect(since).toMatch(/database system was not properly shut down; automatic recovery in progress/)
      }
    })
  }
})

describe('LocalRedis stop modes', () => {
  let server: LocalRedis
  const log = () => join(server.dir, 'redis.log')

  beforeAll(async () => {
    // Every write reaches the append-only file before its reply: a SIGKILL loses nothing acknowledged.
    server = await LocalRedis.start({ persist: true, extraArgs: ['--appendfsync', 'always'] })
  })

  afterAll(async () => {
    await server.close()
  })

  for (const mode of ['shutdown', 'kill'] as const) {
    it(`restart('${mode}') comes back on the same port with every acknowledged write`, async () => {
      const port = server.port
      const client = new Redis(server.url, { maxRetriesPerRequest: 1, lazyConnect: true })
      client.on('error', () => undefined)
      try {
        await client.connect()
        await client.incr(`writes:${mode}`)
        const pidBefore = /process_id:(\d+)/.exec(await client.info('server'))?.[1]
        const before = readFileSync(log(), 'utf8').length

        await server.restart(mode)

        expect(server.port).toBe(port)
        const fresh = new Redis(server.url, { maxRetriesPerRequest: 1 })
        try {
          expect(await fresh.get(`writes:${mode}`)).toBe('1')
          expect(/process_id:(\d+)/.exec(await fresh.info('server'))?.[1]).not.toBe(pidBefore)
        } finally {
          fresh.disconnect()
        }
        // A SHUTDOWN says goodbye in the log; a SIGKILL leaves no word.
        const since = logSince(log(), before)
        if (mode === 'shutdown') expect(since).toMatch(/ready to exit, bye bye/)
        else expect(since).not.toMatch(/bye bye/)
      } finally {
        client.disconnect()
      }
    })
  }
})
