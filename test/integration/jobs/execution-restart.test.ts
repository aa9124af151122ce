/**
 * The database restarts under load: a private server (restarting the run's shared one would disturb
 * the other files) is stopped and started while a worker works through 500 jobs. Nothing is lost:
 * every job completes, and the worker recovers by itself (claims, acks, renewals and LISTEN retry).
 * In the PgBouncer pass the worker reaches that server through a PgBouncer of its own (transaction
 * mode), which stays up while the server restarts behind it; LISTEN goes to the server directly.
 */
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'

import { JobWorker } from '../../../actors/jobs/worker.js'
import { LocalPgBouncer } from '../../../cli/local-servers/pgbouncer-server.js'
import { LocalPostgres } from '../../../cli/local-servers/postgres-server.js'
import { migrate } from '../../../transports/postgres/migrate.js'
import { countByStatus, enqueue, nextEvents, q, testPool, waitUntil } from '../../fixtures/jobs/execution-support.js'
import { throughPgBouncer } from '../../helpers/postgres.js'

let server: LocalPostgres
let bouncer: LocalPgBouncer | undefined

beforeAll(async () => {
  server = await LocalPostgres.start({ fast: true })
  const admin = new pg.Pool({ connectionString: server.url, max: 1 })
  try {
    await migrate(admin)
  } finally {
    await admin.end()
  }
  if (throughPgBouncer) bouncer = await LocalPgBouncer.start({ target: server.url })
})

afterAll(async () => {
  await bouncer?.close()
  await server.close()
})

it('completes every job across a PostgreSQL restart mid-run', async () => {
  const pool = testPool(bouncer?.url ?? server.url)
  const worker = new JobWorker({
    pool,
    leaseTtlMs: 5_000,
    sweepIntervalMs: 500,
    pollIntervalMs: 100,
    backoff: 10,
    ...(bouncer === undefined ? {} : { transactionPooler: true, listenConnection: server.url }),
  })
  const warnings: string[] = []
  worker.events.on('warning', ({ message }) => warnings.push(message))
  const ran = new Map<string, number>()
  worker.register('load', async (_args, job) => {
    ran.set(job.id, (ran.get(job.id) ?? 0) + 1)
    await new Promise((resolve) => setTimeout(resolve, 20)) // a job's run time: jobs are running when the server restarts
  })
  try {
    await worker.start({ schedules: false, concurrency: 8 })
    const someDone = nextEvents(worker, 'completed', 100)
    const ids = await enqueue(
      pool,
      Array.from({ length: 500 }, (_, i) => ({ name: 'load', args: i })),
    )
    let completedEvents = 0
    worker.events.on('completed', () => completedEvents++)
    await someDone

    await server.stop()
    // Mid-run: most of the backlog was still to do when the server went away.
    expect(completedEvents).toBeLessThan(300)
    await server.start()

    // Everything completes: the backlog, and what was in flight when the server went away.
    await waitUntil(
      async () => (await countByStatus(pool).catch((): Record<string, number> => ({}))).completed === 500,
      25_000,
      100,
      'all 500 jobs completed',
    )
    expect(await countByStatus(pool)).toEqual({ completed: 500 })
    expect(ids.every((id) => ran.has(id))).toBe(true)
    // The outage was noticed (and survived). Through PgBouncer it may not be: PgBouncer keeps the
    // worker's connections open and queues their statements until the server is back.
    if (bouncer === undefined) expect(warnings.length).toBeGreaterThan(0)
    // A job run twice had its first attempt end in the history before its second started.
    const { rows } = await pool.query<{ job_id: string; types: string[] }>(
      `SELECT job_id::text, array_agg(type ORDER BY seq) AS types FROM ${q}.job_history GROUP BY job_id HAVING count(*) FILTER (WHERE type = 'started') > 1`,
    )
    for (const row of rows) expect(row.types.slice(0, 4)).toEqual(['enqueued', 'started', 'failed', 'retrying'])

    // And the worker still works: new jobs wake it (LISTEN reconnected) and complete.
    const more = nextEvents(worker, 'completed', 10)
    await enqueue(
      pool,
      Array.from({ length: 10 }, () => ({ name: 'load' })),
    )
    expect(await more).toHaveLength(10)
  } finally {
    await worker.close({ timeoutMs: 2_000 })
    await pool.end()
  }
})
