/**
 * Numbered, append-only schema migrations (graphile-worker's model).
 *
 * `migrate(pool, { schema })` brings `schema` up to date:
 * 1. It takes a session-level `pg_advisory_lock` on a client of its own, so that when several
 *    processes migrate at once, one applies and the others wait, then find nothing to do.
 * 2. It creates the schema and `<schema>.migrations (id, name, checksum, applied_at)` when missing.
 * 3. It checks the recorded migrations against the code's, and refuses with `MigrationError` when one
 *    was edited after it ran (sha256 checksum of its SQL), when the database has a migration the code
 *    does not know (it was migrated by a newer version), or when the records have a gap.
 * 4. It applies each pending migration in a transaction of its own, with `SET LOCAL search_path TO
 *    <schema>, public`, and records it in the same transaction.
 * 5. It unlocks, whatever happened (a client whose work failed is discarded, which ends its session and
 *    so its lock too).
 *
 * With `transactionPooler` (the pool goes through PgBouncer in transaction mode, which may run each
 * transaction on another server session, so a session lock would stay behind on one of them), steps
 * 2–4 run in ONE transaction that first takes `pg_advisory_xact_lock`: the lock ends with it, and a
 * failed migration rolls back the whole run.
 *
 * The code's migrations must have ids 1..n in order; otherwise `MigrationError` before connecting.
 * A lost connection is thrown as `PostgresConnectionError` (running `migrate` again is safe); any other
 * failure of a migration as `MigrationError` with the server's error as `cause`.
 */
import { createHash } from 'node:crypto'

import pg from 'pg'

import {
  InvalidArgumentError,
  MigrationError,
  PostgresConnectionError,
  PostgresQueryError,
} from '../../runtime/errors.js'
import { checkBoolean, checkInteger, checkKnownKeys, checkString } from '../../runtime/options.js'
import { mapPgError } from './errors.js'
import { type Migration, PULSE_MIGRATIONS } from './migrations/index.js'
import { createPgPool, PgPool } from './pool.js'

export type { Migration } from './migrations/index.js'

export interface MigrateOptions {
  /**
   * The schema holding the tables; created when missing. Lower-case letters, digits and `_`, not
   * starting with a digit or `pg_`, at most 63 characters.
   * @default 'pulse'
   */
  schema?: string | undefined
  /**
   * The migrations to apply, ids 1..n in order.
   * @default PULSE_MIGRATIONS
   */
  migrations?: readonly Migration[] | undefined
  /**
   * The `pg_advisory_lock` key (a bigint) serialising concurrent runs.
   * @default derived from `schema`
   */
  lockKey?: number | bigint | undefined
  /**
   * The pool goes through a transaction-mode pooler: everything runs in one transaction under
   * `pg_advisory_xact_lock` (see the module comment).
   * @default false
   */
  transactionPooler?: boolean | undefined
}

export interface MigrateResult {
  /** Ids of the migrations this call applied, in order; empty when the schema was up to date. */
  readonly applied: number[]
}

export const DEFAULT_MIGRATION_SCHEMA = 'pulse'

const kSchemaPattern = /^(?!pg_)[a-z_][a-z0-9_]{0,62}$/
const kMinBigint = -(2n ** 63n)
const kMaxBigint = 2n ** 63n - 1n

/** A row of `<schema>.migrations`. */
export interface AppliedRow {
  id: number
  name: string
  checksum: string
}

/** sha256 (hex) of a migration's SQL, line endings normalised so that a checkout's CRLF does not count. */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql.replaceAll('\r\n', '\n')).digest('hex')
}

/** The default lock key of `schema`: the first 8 bytes of a sha256, as a signed bigint. */
function defaultLockKey(schema: string): bigint {
  const digest = createHash('sha256').update(`pulse-runtime:migrate:${schema}`).digest()
  return digest.readBigInt64BE(0)
}

function checkLockKey(value: unknown): bigint {
  if (typeof value === 'bigint') {
    if (value < kMinBigint || value > kMaxBigint) {
      throw new InvalidArgumentError(`options.lockKey must fit a PostgreSQL bigint (got ${value}n)`, {
        data: { option: 'options.lockKey' },
      })
    }
    return value
  }
  return BigInt(checkInteger(value, 'options.lockKey'))
}

function checkMigrations(value: unknown, schema: string): readonly Migration[] {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError('options.migrations must be an array of { id, name, sql }', {
      data: { option: 'options.migrations' },
    })
  }
  const migrations = value as readonly unknown[]
  migrations.forEach((migration, index) => {
    const path = `options.migrations[${index}]`
    if (typeof migration !== 'object' || migration === null) {
      throw new InvalidArgumentError(`${path} must be an object { id, name, sql }`, { data: { option: path } })
    }
    const { id, name, sql } = migration as Partial<Record<keyof Migration, unknown>>
    checkInteger(id, `${path}.id`, { min: 1 })
    checkString(name, `${path}.name`, { nonEmpty: true })
    checkString(sql, `${path}.sql`, { nonEmpty: true })
    if (id !== index + 1) {
      throw new MigrationError(
        `migration ids must be 1..n in order: ${path}.id is ${String(id)}, expected ${index + 1}`,
        {
          data: { schema, index, id: id as number, expected: index + 1 },
        },
      )
    }
  })
  return migrations as readonly Migration[]
}

/** Brings `options.schema` up to date; see the module comment. */
export async function migrate(source: pg.Pool | PgPool, options: MigrateOptions = {}): Promise<MigrateResult> {
  checkKnownKeys(options, ['schema', 'migrations', 'lockKey', 'transactionPooler'])
  const schema =
    options.schema === undefined
      ? DEFAULT_MIGRATION_SCHEMA
      : checkString(options.schema, 'options.schema', { pattern: kSchemaPattern })
  const migrations = checkMigrations(options.migrations ?? PULSE_MIGRATIONS, schema)
  const lockKey = String(options.lockKey === undefined ? defaultLockKey(schema) : checkLockKey(options.lockKey))
  const pooled =
    options.transactionPooler === undefined
      ? false
      : checkBoolean(options.transactionPooler, 'options.transactionPooler')
  const run = pooled ? runInOneTransaction : runUnderSessionLock

  if (source instanceof PgPool) return run(source, schema, migrations, lockKey)
  const wrapper = createPgPool(source)
  try {
    return await run(wrapper, schema, migrations, lockKey)
  } finally {
    await wrapper.close()
  }
}

/** Steps 2–4 in one transaction under a transaction-level lock: nothing stays on the session. */
function runInOneTransaction(
  pool: PgPool,
  schema: string,
  migrations: readonly Migration[],
  lockKey: string,
): Promise<MigrateResult> {
  return pool.withTransaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey])
    return applyPending(client, schema, migrations, writeOne)
  })
}

async function runUnderSessionLock(
  pool: PgPool,
  schema: string,
  migrations: readonly Migration[],
  lockKey: string,
): Promise<MigrateResult> {
  return pool.withClient(async (client) => {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [lockKey])
    const unlock = () => client.query('SELECT pg_advisory_unlock($1::bigint)', [lockKey])
    let result: MigrateResult
    try {
      result = await applyPending(client, schema, migrations, applyOne)
    } catch (error) {
      // withClient discards this client since we throw: its session, and so the lock, ends anyway.
      await unlock().catch(() => undefined)
      throw error
    }
    try {
      await unlock()
    } catch (error) {
      // A lost connection took the lock with it; the migrations are committed.
      if (!(mapPgError(error) instanceof PostgresConnectionError)) throw error
    }
    return result
  })
}

/** How one migration is applied: in a transaction of its own (`applyOne`) or in the caller's (`writeOne`). */
type ApplyMigration = (client: pg.PoolClient, quoted: string, schema: string, migration: Migration) => Promise<void>

async function applyPending(
  client: pg.PoolClient,
  schema: string,
  migrations: readonly Migration[],
  apply: ApplyMigration,
): Promise<MigrateResult> {
  const quoted = pg.escapeIdentifier(schema)
  const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
  if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`)
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${quoted}.migrations (
      id integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`,
  )
  const { rows } = await client.query<AppliedRow>(`SELECT id, name, checksum FROM ${quoted}.migrations ORDER BY id`)
  verifyApplied(rows, migrations, schema)

  const applied: number[] = []
  for (const migration of migrations.slice(rows.length)) {
    await apply(client, quoted, schema, migration)
    applied.push(migration.id)
  }
  return { applied }
}

/**
 * Refuses, with `MigrationError`, recorded migrations (`rows`, by id) that the code's `migrations` do not
 * match: one the code does not know, a gap in the ids, or one whose SQL changed since it ran.
 */
export function verifyApplied(rows: readonly AppliedRow[], migrations: readonly Migration[], schema: string): void {
  rows.forEach((row, index) => {
    const known = migrations[row.id - 1]
    if (known === undefined) {
      throw new MigrationError(
        `schema "${schema}" has migration ${row.id} (${row.name}), which this code does not know (it knows 1..${migrations.length}): the database was migrated by a newer version`,
        { data: { schema, id: row.id, name: row.name, known: migrations.length } },
      )
    }
    if (row.id !== index + 1) {
      throw new MigrationError(
        `schema "${schema}" has migration ${row.id} (${row.name}) recorded but not migration ${index + 1}`,
        {
          data: { schema, id: row.id, missing: index + 1 },
        },
      )
    }
    const expected = migrationChecksum(known.sql)
    if (row.checksum !== expected) {
      throw new MigrationError(
        `migration ${row.id} (${row.name}) was changed after it was applied to schema "${schema}": add a new migration instead of editing one`,
        { data: { schema, id: row.id, name: row.name, recordedChecksum: row.checksum, checksum: expected } },
      )
    }
  })
}

async function applyOne(client: pg.PoolClient, quoted: string, schema: string, migration: Migration): Promise<void> {
  await client.query('BEGIN')
  try {
    await writeOne(client, quoted, schema, migration)
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw migrationFailure(error, schema, migration)
  }
}

/** Applies and records `migration` inside the transaction already open on `client`. */
async function writeOne(client: pg.PoolClient, quoted: string, schema: string, migration: Migration): Promise<void> {
  try {
    await client.query(`SET LOCAL search_path TO ${quoted}, public`)
    await client.query(migration.sql)
    await client.query(`INSERT INTO ${quoted}.migrations (id, name, checksum) VALUES ($1, $2, $3)`, [
      migration.id,
      migration.name,
      migrationChecksum(migration.sql),
    ])
  } catch (error) {
    throw migrationFailure(error, schema, migration)
  }
}

/** A lost connection as it is (running `migrate` again is safe); any other failure as `MigrationError`. */
function migrationFailure(error: unknown, schema: string, migration: Migration): Error {
  if (error instanceof MigrationError) return error
  const mapped = mapPgError(error)
  if (mapped instanceof PostgresConnectionError) return mapped
  const sqlstate = mapped instanceof PostgresQueryError ? mapped.data?.sqlstate : undefined
  return new MigrationError(
    `migration ${migration.id} (${migration.name}) failed in schema "${schema}": ${mapped.message}`,
    {
      cause: mapped,
      data: { schema, id: migration.id, name: migration.name, ...(sqlstate === undefined ? {} : { sqlstate }) },
    },
  )
}
