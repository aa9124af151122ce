/**
 * A connection that dies while the job actors hold it checked out of their `pg.Pool` (a schedule's fire
 * transaction, a statement through a transaction pooler): the call rejects, the client is discarded, and
 * no 'error' event escapes — one would be thrown on the jobs thread and end it, every actor on it with
 * it. The connection is ended with `pg_terminate_backend` while its statement waits on a lock.
 */
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'

import { every, nextOccurrence } from '../../../actors/jobs/index.js'
import { PostgresConnectionError } from '../../../runtime/errors.js'
import { endPool, INDEX_PLANS_LOCAL_SQL, openActorDb } from '../../../transports/postgres/jobs/actor-pool.js'
import { quoteSchema } from '../../../transports/postgres/jobs/queryable.js'
import { fireDueSchedules, upsertSchedule } from '../../../transports/postgres/jobs/schedules.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { waitFor } from '../../helpers/wait.js'
import { withClients } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

/** The pid of the one other session of this database that waits on a lock. */
async function lockWaiter(admin: pg.Client): Promise<number> {
  let pid: number | undefined
  await waitFor(
    async () => {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      )
      pid = rows[0]?.pid
      return pid !== undefined
    },
    { what: 'a session waiting on a lock' },
  )
  return pid ?? 0
}

it("a schedule fire whose connection dies mid-transaction rejects with PostgresConnectionError, and the pool's next call works", async () => {
  const q = quoteSchema('pulse')
  const pool = new pg.Pool({ connectionString: db.directUrl, max: 1 })
  pool.on('error', () => undefined)
  try {
    const due = new Date(Date.now() - 60_000)
    const { schedule } = await upsertSchedule(pool, q, {
      name: 'blocked',
      jobName: 'tick',
      spec: every(60_000),
      nextRunAt: due,
    })
    await withClients(db.directUrl, 2, async ([blocker, admin]) => {
      if (blocker === undefined || admin === undefined) throw new Error('no clients')
      // The occurrence's job, inserted and not committed: the fire's insert waits for this transaction.
      await blocker.query('BEGIN')
      await blocker.query(`INSERT INTO ${q}.jobs (name, schedule_id, occurrence) VALUES ('tick', $1, $2)`, [
        schedule.id,
        due,
      ])
      const firing = fireDueSchedules(pool, q, new Date(), nextOccurrence).then(
        () => undefined,
        (error: unknown) => error,
      )
      await admin.query('SELECT pg_terminate_backend($1)', [await lockWaiter(admin)])
      expect(await firing).toBeInstanceOf(PostgresConnectionError)
      await blocker.query('ROLLBACK')
    })
    expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  } finally {
    await pool.end()
  }
})

it("a statement through a transaction pooler whose connection dies rejects, and the pool's next statement works", async () => {
  const { pool, db: actorDb } = openActorDb({
    connection: db.directUrl,
    max: 1,
    applicationName: 'pulse-test',
    transactionPooler: true,
    settings: { session: '', transaction: INDEX_PLANS_LOCAL_SQL },
  })
  try {
    await withClients(db.directUrl, 2, async ([blocker, admin]) => {
      if (blocker === undefined || admin === undefined) throw new Error('no clients')
      await blocker.query('SELECT pg_advisory_lock(4242)')
      const querying = actorDb.query('SELECT pg_advisory_xact_lock(4242)').then(
        () => undefined,
        (error: unknown) => error,
      )
      await admin.query('SELECT pg_terminate_backend($1)', [await lockWaiter(admin)])
      expect(await querying).toBeInstanceOf(Error)
      await blocker.query('SELECT pg_advisory_unlock(4242)')
    })
    expect((await actorDb.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
  } finally {
    await endPool(pool)
  }
})
