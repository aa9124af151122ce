import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { LocalPgBouncer } from '../../../cli/local-servers/pgbouncer-server.js'
import { MigrationError } from '../../../runtime/errors.js'
import {
  createPgPool,
  migrate,
  type Migration,
  migrationChecksum,
  type PgPool,
  PULSE_MIGRATIONS,
} from '../../../transports/postgres/index.js'
import { openTestDatabase, type PgTestTarget, uniqueName } from './database.js'

let db: PgTestTarget
let pool: PgPool

beforeAll(async () => {
  db = await openTestDatabase()
  pool = createPgPool(db.url, { max: 2 })
  // The file's pool keeps its connections between tests; open them now so that no test sees them as new.
  await Promise.all([pool.query('SELECT pg_sleep(0.05)'), pool.query('SELECT pg_sleep(0.05)')])
})

afterAll(async () => {
  await pool.close()
  await db.close()
})

const allIds = PULSE_MIGRATIONS.map((m) => m.id)

/** Migrations for a test: the package's, then two of the test's own (the second not re-runnable). */
function testMigrations(): Migration[] {
  return [
    ...PULSE_MIGRATIONS.slice(0, 1),
    { id: 2, name: 'items', sql: 'CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)' },
    { id: 3, name: 'first item', sql: "INSERT INTO items VALUES (1, 'first')" },
  ]
}

async function recorded(schema: string): Promise<{ id: number; name: string; checksum: string }[]> {
  return pool.query(`SELECT id, name, checksum FROM ${pg.escapeIdentifier(schema)}.migrations ORDER BY id`)
}

async function advisoryLocks(): Promise<number> {
  const [row] = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
  )
  return row?.n ?? -1
}

describe('migrate', () => {
  it('applies the package migrations to an empty schema, then has nothing to do', async () => {
    const schema = uniqueName('mig')
    expect(await migrate(pool, { schema })).toEqual({ applied: allIds })
    const rows = await recorded(schema)
    expect(rows.map(({ id, name }) => ({ id, name }))).toEqual(PULSE_MIGRATIONS.map(({ id, name }) => ({ id, name })))
    expect(rows[0]?.checksum).toBe(migrationChecksum(PULSE_MIGRATIONS[0]?.sql ?? ''))
    const [created] = await pool.query<{ value: { schema: string; at: string } }>(
      `SELECT value FROM ${schema}.meta WHERE key = 'created'`,
    )
    expect(created?.value.schema).toBe(schema)
    expect(typeof created?.value.at).toBe('string')

    expect(await migrate(pool, { schema })).toEqual({ applied: [] })
    expect(await recorded(schema)).toHaveLength(PULSE_MIGRATIONS.length)
    expect(await advisoryLocks()).toBe(0)
  })

  it("brings the default schema up to date (already done in the run's template database)", async () => {
    expect(await migrate(pool)).toEqual({ applied: db.shared ? [] : allIds })
    expect(await migrate(pool)).toEqual({ applied: [] })
    const [created] = await pool.query<{ value: { schema: string } }>(
      "SELECT value FROM pulse.meta WHERE key = 'created'",
    )
    expect(created?.value.schema).toBe('pulse')
  })

  it('migrates through a given pg.Pool and leaves its listeners as they were', async () => {
    const raw = new pg.Pool({ connectionString: db.url, max: 1 })
    try {
      const schema = uniqueName('mig')
      expect(await migrate(raw, { schema, migrations: testMigrations() })).toEqual({ applied: [1, 2, 3] })
      expect(raw.listenerCount('error')).toBe(0)
      expect(raw.ended).toBe(false)
      expect((await raw.query(`SELECT label FROM ${schema}.items`)).rows).toEqual([{ label: 'first' }])
    } finally {
      await raw.end()
    }
  })

  it('applies each migration once when 5 processes migrate at once', async () => {
    const schema = uniqueName('mig')
    const pools = Array.from({ length: 5 }, () => createPgPool(db.url, { max: 1 }))
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, { schema, migrations: testMigrations() })))
      const appliers = results.filter((r) => r.applied.length > 0)
      expect(appliers).toEqual([{ applied: [1, 2, 3] }])
      expect(results.filter((r) => r.applied.length === 0)).toHaveLength(4)
      expect((await recorded(schema)).map((r) => r.id)).toEqual([1, 2, 3])
      expect(await pool.query(`SELECT count(*)::int AS n FROM ${schema}.items`)).toEqual([{ n: 1 }])
      expect(await advisoryLocks()).toBe(0)
    } finally {
      await Promise.all(pools.map((p) => p.close()))
    }
  })

  it('applies only the pending migrations appended later', async () => {
    const schema = uniqueName('mig')
    const all = testMigrations()
    expect(await migrate(pool, { schema, migrations: all.slice(0, 1) })).toEqual({ applied: [1] })
    expect(await migrate(pool, { schema, migrations: all })).toEqual({ applied: [2, 3] })
  })

  it('refuses when an applied migration was edited', async () => {
    const schema = uniqueName('mig')
    const migrations = testMigrations()
    await migrate(pool, { schema, migrations })
    const edited = migrations.map((m) => (m.id === 2 ? { ...m, sql: 'CREATE TABLE items (id bigint PRIMARY KEY)' } : m))
    const error = await migrate(pool, { schema, migrations: edited }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ code: 'PULSE_ERR_PG_MIGRATION', data: { schema, id: 2, name: 'items' } })
    expect((error as Error).message).toContain('was changed after it was applied')
    expect(await advisoryLocks()).toBe(0)
  })

  it('refuses when the database has a migration newer than the code', async () => {
    const schema = uniqueName('mig')
    await migrate(pool, { schema, migrations: testMigrations() })
    const error = await migrate(pool, { schema, migrations: testMigrations().slice(0, 2) }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ data: { schema, id: 3, known: 2 } })
    expect((error as Error).message).toContain('newer version')
  })

  it('refuses migration ids that are not 1..n in order, before touching the database', async () => {
    const schema = uniqueName('mig')
    const [first] = testMigrations()
    const gap = [first, { id: 3, name: 'three', sql: 'SELECT 1' }] as Migration[]
    await expect(migrate(pool, { schema, migrations: gap })).rejects.toMatchObject({
      code: 'PULSE_ERR_PG_MIGRATION',
      data: { index: 1, id: 3, expected: 2 },
    })
    const duplicate = [first, first] as Migration[]
    await expect(migrate(pool, { schema, migrations: duplicate })).rejects.toBeInstanceOf(MigrationError)
    expect(await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([])
  })

  it('rolls back a failing migration, keeps the earlier ones, and unlocks', async () => {
    const schema = uniqueName('mig')
    const [first, second] = testMigrations()
    const broken = [first, { id: 2, name: 'broken', sql: 'CREATE TABLE oops (' }] as Migration[]
    const error = await migrate(pool, { schema, migrations: broken }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ data: { schema, id: 2, name: 'broken', sqlstate: '42601' } })
    expect((error as Error).cause).toMatchObject({ code: 'PULSE_ERR_PG_QUERY' })
    expect((await recorded(schema)).map((r) => r.id)).toEqual([1])
    expect(await advisoryLocks()).toBe(0)
    // Fixed, it applies (and does not wait for a lock left behind).
    expect(await migrate(pool, { schema, migrations: [first, second] as Migration[] })).toEqual({ applied: [2] })
  })

  it('rejects a bad schema name with PULSE_ERR_INVALID_ARG naming options.schema', async () => {
    for (const schema of ['Bad-Name', '1abc', 'pg_mine', 'x; DROP TABLE y', '', 'a'.repeat(64)]) {
      await expect(migrate(pool, { schema })).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option: 'options.schema' },
      })
    }
    await expect(migrate(pool, { lockKey: 2n ** 63n })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      data: { option: 'options.lockKey' },
    })
    await expect(migrate(pool, { migrations: 'nope' as never })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      data: { option: 'options.migrations' },
    })
  })

  it('takes an explicit lock key', async () => {
    const schema = uniqueName('mig')
    expect(await migrate(pool, { schema, lockKey: 42n })).toEqual({ applied: allIds })
    expect(await migrate(pool, { schema, lockKey: -7 })).toEqual({ applied: [] })
  })
})

describe('migrate through a transaction pooler (transactionPooler)', () => {
  let bouncer: LocalPgBouncer

  beforeAll(async () => {
    // Two server sessions: a session lock taken on one would stay there while the run goes on the other.
    bouncer = await LocalPgBouncer.start({ target: db.url, poolSize: 2 })
  })

  afterAll(async () => {
    await bouncer.close()
  })

  it('applies each migration once when 5 processes migrate at once through PgBouncer, and leaves no lock', async () => {
    const schema = uniqueName('mig')
    const pools = Array.from({ length: 5 }, () => createPgPool(bouncer.url, { max: 1 }))
    try {
      const results = await Promise.all(
        pools.map((p) => migrate(p, { schema, migrations: testMigrations(), transactionPooler: true })),
      )
      expect(results.filter((r) => r.applied.length > 0)).toEqual([{ applied: [1, 2, 3] }])
      expect((await recorded(schema)).map((r) => r.id)).toEqual([1, 2, 3])
      expect(await pool.query(`SELECT count(*)::int AS n FROM ${schema}.items`)).toEqual([{ n: 1 }])
      expect(await advisoryLocks()).toBe(0)
    } finally {
      await Promise.all(pools.map((p) => p.close()))
    }
  })

  it('runs in one transaction: a failing migration rolls back the whole run', async () => {
    const schema = uniqueName('mig')
    const [first, second] = testMigrations()
    const broken = [first, { id: 2, name: 'broken', sql: 'CREATE TABLE oops (' }] as Migration[]
    const through = createPgPool(bouncer.url, { max: 1 })
    try {
      const error = await migrate(through, { schema, migrations: broken, transactionPooler: true }).catch(
        (e: unknown) => e,
      )
      expect(error).toMatchObject({ code: 'PULSE_ERR_PG_MIGRATION', data: { schema, id: 2, sqlstate: '42601' } })
      expect(await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([])
      expect(await advisoryLocks()).toBe(0)
      const fixed = [first, second] as Migration[]
      expect(await migrate(through, { schema, migrations: fixed, transactionPooler: true })).toEqual({
        applied: [1, 2],
      })
      await expect(migrate(through, { transactionPooler: 'yes' as never })).rejects.toMatchObject({
        data: { option: 'options.transactionPooler' },
      })
    } finally {
      await through.close()
    }
  })
})
