/** PostgreSQL isolation: a database per test file, cloned from the run's migrated template. */
import { randomUUID } from 'node:crypto'

import pg from 'pg'

import { databaseUrl, templateDatabase } from './servers.js'

export interface TestDatabase {
  readonly name: string
  readonly url: string
  drop(): Promise<void>
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
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
  return {
    name,
    url: withDatabase(databaseUrl(), name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  }
}
