/**
 * The PostgreSQL server of the run: `DATABASE_URL` when set, else a `LocalPostgres` with durable
 * settings (fsync and synchronous_commit on, like the peers' measurements), stopped at the end. Each
 * library gets a database of its own, dropped and re-created at setup.
 */
import pg from 'pg'

import { LocalPostgres } from '../../cli/local-servers/postgres-server.js'

export interface BenchServer {
  /** The URL of a database on the server, by name. */
  url(database: string): string
  createDatabase(name: string): Promise<string>
  version: string
  settings: string
  managed: boolean
  close(): Promise<void>
}

export async function openServer(): Promise<BenchServer> {
  const given = process.env['DATABASE_URL']
  const local = given === undefined || given === '' ? await LocalPostgres.start({ fast: false }) : undefined
  const base = local?.url ?? given ?? ''
  const url = (database: string): string => {
    const u = new URL(base)
    u.pathname = `/${database}`
    return u.toString()
  }
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  const { rows } = await admin.query<{ v: string }>('SELECT version() AS v')
  const { rows: s } = await admin.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_sync_method', 'max_wal_size', 'full_page_writes') ORDER BY name`,
  )
  return {
    url,
    version: rows[0]?.v.split(' on ')[0] ?? 'unknown',
    settings: s.map((r) => `${r.name}=${r.setting}`).join(', '),
    managed: local !== undefined,
    async createDatabase(name: string): Promise<string> {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.query(`CREATE DATABASE ${name}`)
      return url(name)
    },
    async close(): Promise<void> {
      await admin.end().catch(() => undefined)
      await local?.close()
    },
  }
}

/** Runs one statement on a short-lived client. */
export async function exec(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** Polls `count()` every `everyMs` until it returns true; resolves to performance.now() then. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await check()) return performance.now()
    if (performance.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
