/**
 * The migrations without a server: the list against the files, checksums, the checks of recorded rows,
 * and `migrate`'s refusals, which come before it connects (the pool here points at a closed port).
 */
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'

import { migrate, migrationChecksum, PULSE_MIGRATIONS } from '../../../transports/postgres/index.js'
import { verifyApplied } from '../../../transports/postgres/migrate.js'

const kFolder = fileURLToPath(new URL('../../../transports/postgres/migrations/', import.meta.url))
const nowhere = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 1 })

afterAll(() => nowhere.end())

const row = (id: number, checksum = migrationChecksum(PULSE_MIGRATIONS[id - 1]?.sql ?? '')) => ({
  id,
  name: PULSE_MIGRATIONS[id - 1]?.name ?? `m${id}`,
  checksum,
})

describe('the migration list', () => {
  it('has ids 1..n in order, one per NNNNNN-<name>.ts file, with that id and name', () => {
    const files = readdirSync(kFolder)
      .filter((f) => f !== 'index.ts')
      .sort()
    expect(files.length).toBe(PULSE_MIGRATIONS.length)
    PULSE_MIGRATIONS.forEach((migration, i) => {
      expect(migration.id).toBe(i + 1)
      expect(files[i]).toBe(`${String(migration.id).padStart(6, '0')}-${migration.name}.ts`)
      expect(migration.sql.trim()).not.toBe('')
    })
    expect(Object.isFrozen(PULSE_MIGRATIONS)).toBe(true)
  })

  it('checksums SQL as sha256 hex, the same for CRLF and LF line endings, different for any edit', () => {
    const sql = 'CREATE TABLE t (a int);\nCREATE INDEX ON t (a);'
    expect(migrationChecksum(sql)).toMatch(/^[0-9a-f]{64}$/)
    expect(migrationChecksum(sql.replaceAll('\n', '\r\n'))).toBe(migrationChecksum(sql))
    expect(migrationChecksum(`${sql} `)).not.toBe(migrationChecksum(sql))
  })
})

describe('recorded migrations', () => {
  it('pass when they are a prefix of the code’s, none included', () => {
    expect(() => verifyApplied([], PULSE_MIGRATIONS, 'pulse')).not.toThrow()
    expect(() => verifyApplied([row(1), row(2), row(3)], PULSE_MIGRATIONS, 'pulse')).not.toThrow()
  })

  it('refuse one the code does not know: the database was migrated by a newer version', () => {
    const newer = PULSE_MIGRATIONS.length + 1
    expect(() =>
      verifyApplied([...PULSE_MIGRATIONS.map((m) => row(m.id)), row(newer, 'x')], PULSE_MIGRATIONS, 'pulse'),
    ).toThrow(
      expect.objectContaining({
        code: 'PULSE_ERR_PG_MIGRATION',
        message: expect.stringContaining('newer version') as string,
        data: expect.objectContaining({ id: newer, known: PULSE_MIGRATIONS.length }) as object,
      }),
    )
  })

  it('refuse a gap, naming the missing id', () => {
    expect(() => verifyApplied([row(1), row(3)], PULSE_MIGRATIONS, 's')).toThrow(
      expect.objectContaining({ data: { schema: 's', id: 3, missing: 2 } }),
    )
  })

  it('refuse one whose SQL changed after it ran, with both checksums', () => {
    expect(() => verifyApplied([row(1), row(2, 'f'.repeat(64))], PULSE_MIGRATIONS, 'pulse')).toThrow(
      expect.objectContaining({
        message: expect.stringContaining('add a new migration instead of editing one') as string,
        data: expect.objectContaining({ id: 2, recordedChecksum: 'f'.repeat(64) }) as object,
      }),
    )
  })
})

describe('migrate refuses before connecting', () => {
  it.each([
    ['Pulse', 'options.schema'],
    ['pg_jobs', 'options.schema'],
    ['1jobs', 'options.schema'],
    ['a'.repeat(64), 'options.schema'],
    ['jobs; DROP TABLE x', 'options.schema'],
  ])('the schema %j', async (schema, option) => {
    await expect(migrate(nowhere, { schema })).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      data: { option },
    })
  })

  it('takes a 63-character schema name', async () => {
    // Valid options: the failure is the connection's, so the checks passed.
    await expect(migrate(nowhere, { schema: `a${'_'.repeat(62)}` })).rejects.toMatchObject({
      code: 'PULSE_ERR_PG_CONNECTION',
    })
  })

  it('migrations that are not ids 1..n in order, or not { id, name, sql }', async () => {
    const m = (id: number) => ({ id, name: `m${id}`, sql: 'SELECT 1' })
    await expect(migrate(nowhere, { migrations: [m(1), m(3)] })).rejects.toMatchObject({
      code: 'PULSE_ERR_PG_MIGRATION',
      data: { index: 1, id: 3, expected: 2 },
    })
    await expect(migrate(nowhere, { migrations: [m(2)] })).rejects.toThrow(/expected 1/)
    await expect(migrate(nowhere, { migrations: {} as never })).rejects.toMatchObject({
      data: { option: 'options.migrations' },
    })
    await expect(migrate(nowhere, { migrations: [{ id: 1, name: 'a', sql: '' }] })).rejects.toMatchObject({
      data: { option: 'options.migrations[0].sql' },
    })
    await expect(migrate(nowhere, { migrations: [null as never] })).rejects.toMatchObject({
      data: { option: 'options.migrations[0]' },
    })
  })

  it('a lock key outside a PostgreSQL bigint, a non-integer one, and unknown or mistyped options', async () => {
    for (const [options, option] of [
      [{ lockKey: 2n ** 63n }, 'options.lockKey'],
      [{ lockKey: -(2n ** 63n) - 1n }, 'options.lockKey'],
      [{ lockKey: 1.5 }, 'options.lockKey'],
      [{ transactionPooler: 'yes' }, 'options.transactionPooler'],
      [{ shema: 'x' }, 'options.shema'],
    ] as const) {
      await expect(migrate(nowhere, options as never)).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option },
      })
    }
  })
})
