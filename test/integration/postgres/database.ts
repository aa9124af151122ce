/**
 * A database for one test file: a clone of the run's migrated template when the global setup provides
 * the server (test/helpers/postgres.ts), else a private server started for the file (when the file runs
 * under a config without the global setup).
 */
import { randomUUID } from 'node:crypto'

import { inject } from 'vitest'

import { LocalPostgres } from '../../../cli/local-servers/postgres-server.js'
import { createTestDatabase } from '../../helpers/postgres.js'

export interface PgTestTarget {
  readonly url: string
  /** Whether it lives on the run's shared server (then the `pulse` schema is already migrated). */
  readonly shared: boolean
  close(): Promise<void>
}

export async function openTestDatabase(): Promise<PgTestTarget> {
  // `inject` answers undefined when no global setup provided the value.
  if (typeof (inject('databaseUrl') as unknown) === 'string') {
    const database = await createTestDatabase()
    return { url: database.url, shared: true, close: () => database.drop() }
  }
  const server = await LocalPostgres.start({ fast: true })
  return { url: server.url, shared: false, close: () => server.close() }
}

/** A fresh lower-case identifier: `prefix_` and 12 hex digits. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`
}

export interface Deferred<T = void> {
  readonly promise: Promise<T>
  resolve(value: T): void
}

export function deferred<T = void>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}
