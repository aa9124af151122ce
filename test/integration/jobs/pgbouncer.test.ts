/**
 * The job queue through PgBouncer in transaction mode (`transactionPooler: true`): LISTEN on
 * `listenUrl`, polling with a warning without it, and no session state left on PgBouncer's server
 * sessions — checked on a PgBouncer of this file's own with a pool of two server sessions, where a
 * named prepared statement would be prepared on one session and executed on the other.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobQueue, type JobQueueOptions } from '../../../actors/jobs/index.js'
import { LocalPgBouncer } from '../../../cli/local-servers/pgbouncer-server.js'
import { nextEvents, waitUntil } from '../../fixtures/jobs/execution-support.js'
import { createTestDatabase, type TestDatabase, withDatabase } from '../../helpers/postgres.js'
import { databaseUrl, pgbouncerUrl } from '../../helpers/servers.js'
import { uniqueName } from './helpers.js'

let db: TestDatabase
/** This file's database through the run's PgBouncer (transaction mode). */
let pooledUrl: string

beforeAll(async () => {
  db = await createTestDatabase()
  pooledUrl = withDatabase(pgbouncerUrl(), db.name)
})

afterAll(async () => {
  await db.drop()
})

async function withPooledQueue<T>(
  options: Omit<JobQueueOptions, 'pg'>,
  fn: (queue: JobQueue) => Promise<T>,
  url = pooledUrl,
): Promise<T> {
  const queue = await JobQueue.connect({ pg: url, transactionPooler: true, schema: uniqueName('pgb'), ...options })
  try {
    return await fn(queue)
  } finally {
    await queue.close()
  }
}

describe('through PgBouncer in transaction mode', () => {
  it('wakes on LISTEN at listenUrl: a job starts well before the 10 s poll', async () => {
    await withPooledQueue({ listenUrl: db.directUrl, pollIntervalMs: 10_000 }, async (queue) => {
      const warnings: string[] = []
      queue.events.on('warning', ({ message }) => warnings.push(message))
      queue.register('wake', (args: { n: number }) => args.n * 2)
      await queue.start({ concurrency: 2, schedules: false })
      // The worker's wake-up connection is up (it shows in pg_stat_activity) before anything is enqueued.
      await waitUntil(async () => (await queue.workers()).connected === 1, 5_000, 20, 'the LISTEN connection')

      const started = nextEvents(queue, 'started', 1, () => true, 2_000)
      const completed = nextEvents(queue, 'completed', 1, () => true, 2_000)
      const t0 = performance.now()
      const id = await queue.enqueue('wake', { n: 21 })
      expect((await started)[0]?.id).toBe(id)
      expect(performance.now() - t0).toBeLessThan(2_000)
      await completed
      expect((await queue.getJob(id))?.status).toBe('completed')
      expect(warnings).toEqual([])
    })
  })

  it('without listenUrl, warns once that LISTEN is off and still runs every job by polling', async () => {
    await withPooledQueue({ pollIntervalMs: 100 }, async (queue) => {
      const warnings: { message: string; error: Error }[] = []
      queue.events.on('warning', (warning) => warnings.push(warning))
      queue.register('polled', () => undefined)
      await queue.start({ concurrency: 4, schedules: false })
      expect(warnings).toHaveLength(1)
      expect(warnings[0]?.error).toMatchObject({ code: 'PULSE_ERR_JOB_LISTEN_OFF', data: { pollIntervalMs: 100 } })
      expect(warnings[0]?.message).toMatch(/LISTEN is off: .*transaction pooler.*polling every 100 ms/)

      const completed = nextEvents(queue, 'completed', 20)
      const ids = await queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ name: 'polled', args: i })))
      expect(new Set((await completed).map((e) => e.id))).toEqual(new Set(ids))
      // No wake-up connection: the insight counts none, and no second warning came meanwhile.
      expect((await queue.workers()).connected).toBe(0)
      expect(warnings).toHaveLength(1)
    })
  })
})

describe('through a PgBouncer of two server sessions', () => {
  let bouncer: LocalPgBouncer
  let narrowUrl: string

  beforeAll(async () => {
    bouncer = await LocalPgBouncer.start({ target: databaseUrl(), poolSize: 2 })
    narrowUrl = withDatabase(bouncer.url, db.name)
  })

  afterAll(async () => {
    await bouncer.close()
  })

  /** Runs `sql` on each server session of the pool: both held at once in a transaction, so both distinct. */
  async function onEachSession<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
    const clients = [0, 1].map(() => new pg.Client({ connectionString: narrowUrl }))
    try {
      await Promise.all(clients.map((c) => c.connect()))
      const rows = await Promise.all(
        clients.map(async (c) => {
          await c.query('BEGIN')
          const {
            rows: [pid],
          } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
          const {
            rows: [row],
          } = await c.query<R>(sql)
          return { pid: pid?.pid, row: row as R }
        }),
      )
      await Promise.all(clients.map((c) => c.query('COMMIT')))
      expect(new Set(rows.map((r) => r.pid)).size).toBe(2)
      return rows.map((r) => r.row)
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
    }
  }

  /** How many statements each server session has prepared. */
  async function preparedPerSession(): Promise<number[]> {
    const rows = await onEachSession<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements')
    return rows.map((r) => r.n)
  }

  it('a named statement prepared on one server session is missing on the other (the trap the queue avoids)', async () => {
    const [a, b] = [new pg.Client({ connectionString: narrowUrl }), new pg.Client({ connectionString: narrowUrl })]
    try {
      await Promise.all([a.connect(), b.connect()])
      // b holds one server session while a prepares on the other; once b lets go, PgBouncer hands a
      // the session used last: b's.
      await b.query('BEGIN')
      await b.query('SELECT 1')
      await a.query({ name: 'pulse_probe', text: 'SELECT 1 AS one' })
      await b.query('COMMIT')
      await expect(a.query({ name: 'pulse_probe', text: 'SELECT 1 AS one' })).rejects.toThrow(
        /prepared statement "pulse_probe" does not exist/,
      )
    } finally {
      await Promise.all([a.end(), b.end()])
    }
    // The statement stays on the session a prepared it on, where the check below sees it.
    expect((await preparedPerSession()).sort()).toEqual([0, 1])
    await onEachSession('DEALLOCATE ALL')
    expect(await preparedPerSession()).toEqual([0, 0])
  })

  it('migrates, enqueues, claims, retries, renews and acks across many transactions, and leaves no prepared statement, session setting or lock behind', async () => {
    const schema = uniqueName('narrow')
    const options = { listenUrl: db.directUrl, pollIntervalMs: 100, leaseTtlMs: 1_000, backoff: 1, schema }
    // Two replicas migrate the new schema at once: one applies, the other waits for its lock and finds it done.
    const [queue, replica] = await Promise.all([
      JobQueue.connect({ pg: narrowUrl, transactionPooler: true, ...options }),
      JobQueue.connect({ pg: narrowUrl, transactionPooler: true, ...options }),
    ])
    try {
      const warnings: string[] = []
      queue.events.on('warning', ({ message, error }) => warnings.push(`${message}: ${error.message}`))
      const attempts = new Map<number, number>()
      queue.register('work', async (n: number, job) => {
        attempts.set(n, job.attempt)
        if (n % 4 === 0) await job.progress(0.5)
        if (n % 4 === 1) await job.heartbeat()
        if (n % 5 === 0 && job.attempt === 1) throw new Error('once more')
      })
      await queue.start({ concurrency: 4, schedules: false })
      const completed = nextEvents(queue, 'completed', 200, () => true, 25_000)
      const retried = nextEvents(queue, 'retrying', 40, () => true, 25_000)
      const single = await Promise.all(Array.from({ length: 100 }, (_, n) => replica.enqueue('work', n)))
      const many = await replica.enqueueMany(Array.from({ length: 100 }, (_, i) => ({ name: 'work', args: 100 + i })))
      expect(new Set((await completed).map((e) => e.id))).toEqual(new Set([...single, ...many]))
      expect(await retried).toHaveLength(40)
      expect(await replica.countJobs({ status: 'completed' })).toBe(200)
      expect(warnings).toEqual([])
    } finally {
      await Promise.all([queue.close(), replica.close()])
    }
    expect(await preparedPerSession()).toEqual([0, 0])
    // The actors' settings went with their transactions (SET LOCAL): each session has its own still.
    const changed = await onEachSession<{ names: string[] }>(
      `SELECT coalesce(array_agg(name), '{}') AS names FROM pg_settings
        WHERE name IN ('enable_seqscan', 'enable_bitmapscan', 'plan_cache_mode', 'synchronous_commit') AND setting <> reset_val`,
    )
    expect(changed).toEqual([{ names: [] }, { names: [] }])
    // No advisory lock is held by any session of the database (migrations took a transaction's lock).
    const direct = new pg.Client({ connectionString: db.directUrl })
    await direct.connect()
    try {
      const { rows } = await direct.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'",
      )
      expect(rows).toEqual([{ n: 0 }])
    } finally {
      await direct.end()
    }
  })
})
