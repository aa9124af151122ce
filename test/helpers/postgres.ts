/**
 * PostgreSQL isolation: a database per test file, cloned from the run's migrated template.
 *
 * With PULSE_TEST_PGBOUNCER=1 (vitest.config.ts's `pgbouncer` project: the job queue's tests, a second
 * time) a test database's `url` goes through the run's PgBouncer in transaction mode, and what a queue
 * or a worker on it needs to work there comes with it: `transactionPooler`, and LISTEN on the
 * database itself (`poolerOptions`).
 */
import { randomUUID } from 'node:crypto'

import pg from 'pg'

import { databaseUrl, pgbouncerUrl, templateDatabase } from './servers.js'

/** This run's test databases are reached through PgBouncer (transaction mode). */
export const throughPgBouncer = process.env.PULSE_TEST_PGBOUNCER === '1'

export interface TestDatabase {
  readonly name: string
  /** Where the tests connect: the database, or PgBouncer in front of it when `throughPgBouncer`. */
  readonly url: string
  /** The database itself, never through PgBouncer (sessions: LISTEN, session settings, plans). */
  readonly directUrl: string
  drop(): Promise<void>
}

/** The options a `JobQueue` (`listenUrl`) or a `JobWorker` (`listenConnection`) on `url` needs. */
export interface PoolerOptions {
  transactionPooler?: true
  listenUrl?: string
  listenConnection?: string
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/**
 * For a URL through the run's PgBouncer: `transactionPooler`, and LISTEN on the same database reached
 * directly. Nothing for any other URL.
 */
export function poolerOptions(url: string, kind: 'queue' | 'worker' = 'queue'): PoolerOptions {
  const target = new URL(url)
  if (target.host !== new URL(pgbouncerUrl()).host) return {}
  const direct = withDatabase(databaseUrl(), target.pathname.slice(1))
  return kind === 'queue'
    ? { transactionPooler: true, listenUrl: direct }
    : { transactionPooler: true, listenConnection: direct }
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl() })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `pulse_t_${randomUUID().replaceAll('-', '').slice(0, 16)}`
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${templateDatabase()}`))
  const directUrl = withDatabase(databaseUrl(), name)
  return {
    name,
    url: throughPgBouncer ? withDatabase(pgbouncerUrl(), name) : directUrl,
    directUrl,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  }
}

/**
 * A pool of one connection that is never closed for being idle: for a queue a file opens in
 * `beforeAll` and its tests use, so that no test opens a socket the leak check would count.
 */
export function filePool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 })
  pool.on('error', () => undefined)
  return pool
}
