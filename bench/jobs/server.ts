/**
 * The PostgreSQL server of the run: `DATABASE_URL` when set, else a `LocalPostgres` with durable
 * settings (fsync and synchronous_commit on, like the peers' measurements), stopped at the end. Each
 * library gets a database of its own, dropped and re-created at setup.
 */
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/queue.js'
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

/**
 * A client on a fresh database `name` with pulse's tables (schema `pulse`), and its backend's pid: the
 * probes that time one statement at a time read that backend's CPU from /proc.
 */
export async function pulseProbeClient(server: BenchServer, name: string): Promise<{ client: pg.Client; pid: number }> {
  const url = await server.createDatabase(name)
  await (await JobQueue.connect({ pg: url, schema: 'pulse' })).close()
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return { client, pid: rows[0]?.pid ?? 0 }
}

/** Runs one statement on a short-lived client. */
export { exec } from '../../cli/loadgen/sql.js'

/** Polls `count()` every `everyMs` until it returns true; resolves to performance.now() then. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<number> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (await check()) return performance.now()
    if (performance.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
