/**
 * A dispatcher's wake session (transports/postgres/jobs/wake-session.ts) on its own: alone in its group
 * it becomes the waker, and `close()` is memoised, so a second call resolves only once the session is
 * gone, which is observed from outside: the process's sockets, `pg_stat_activity` and `pg_locks`.
 *
 * The session connects to the database directly (LISTEN and advisory locks are session state), also in
 * the PgBouncer pass.
 */
import { randomUUID } from 'node:crypto'

import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { type WakeRole, WakeSession } from '../../../transports/postgres/jobs/wake-session.js'
import { countHandles } from '../../helpers/leaks.js'
import { createTestDatabase, filePool, type TestDatabase } from '../../helpers/postgres.js'
import { waitFor } from '../../helpers/wait.js'

let db: TestDatabase
let pool: pg.Pool

beforeAll(async () => {
  db = await createTestDatabase()
  pool = filePool(db.directUrl)
  await pool.query('SELECT 1')
})

afterAll(async () => {
  await pool.end()
  await db.drop()
})

function sockets(): number {
  return countHandles().get('TCPSocketWrap') ?? 0
}

/** The server sessions named `applicationName`, and the wake locks they hold. */
async function serverSide(applicationName: string): Promise<{ sessions: number; locks: number }> {
  const { rows } = await pool.query<{ sessions: number; locks: number }>(
    `SELECT count(DISTINCT a.pid)::int AS sessions, count(l.pid)::int AS locks
       FROM pg_stat_activity a
       LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
      WHERE a.application_name = $1`,
    [applicationName],
  )
  return rows[0] ?? { sessions: 0, locks: 0 }
}

describe('WakeSession', () => {
  it('two concurrent close() calls: neither resolves before the session is gone', async () => {
    const applicationName = `wake-${randomUUID().slice(0, 8)}`
    const roles: WakeRole[] = []
    const errors: Error[] = []
    const before = sockets()
    const session = new WakeSession({
      connection: db.directUrl,
      schema: 'pulse',
      group: 1,
      applicationName,
      onJobs: () => undefined,
      onRole: (role) => roles.push(role),
      onError: (error) => errors.push(error),
    })
    session.start()
    await waitFor(() => session.role === 'waker', { what: 'the session to become the waker' })
    expect(roles).toEqual(['standby', 'waker'])
    expect(await serverSide(applicationName)).toEqual({ sessions: 1, locks: 1 })
    expect(sockets()).toBe(before + 1)

    const first = session.close()
    const second = session.close()
    await second
    // Right after the second call resolved: the socket is closed and the server ended the session and its lock.
    expect(sockets()).toBe(before)
    expect(await serverSide(applicationName)).toEqual({ sessions: 0, locks: 0 })
    await first
    expect(session.role).toBeUndefined()
    expect(errors).toEqual([])
  })
})
