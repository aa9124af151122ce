/**
 * Statements per job, for pulse, in a bulk run (20,000 jobs, concurrency 50: claims of up to 50).
 *
 * pulse sends statements from two places: the caller's thread (enqueueMany, through the queue's pool)
 * and the jobs thread (dispatcher claims and acks, watchdog, scheduler), which loads its own `pg` and
 * pool, out of reach of a wrapper in this thread. So: every autocommit statement is one transaction,
 * and `pg_stat_database.xact_commit + xact_rollback` of the queue's own database, read before `connect`
 * and after `close` (every connection closed, so every backend flushed its counters), counts both
 * sides. `pg.Client.prototype.query` is wrapped here to count the caller's side exactly; the jobs
 * thread's share is the difference. A run with 0 jobs (connect, start, close) is subtracted to remove
 * the fixed cost (migration check, LISTEN, start/stop). Caveat: a statement inside an explicit
 * transaction would count once with its BEGIN/COMMIT; pulse's hot path uses none (hot-path.ts).
 */
import pg from 'pg'

import { JobQueue } from '../../actors/jobs/queue.js'
import { cleanPulse, kPulseSchema, withTimeout } from './pulse.js'

export interface StatementCount {
  readonly jobs: number
  /** Transactions in the database during the run (fixed cost of a 0-job run subtracted). */
  readonly xacts: number
  /** Statements counted on the caller's thread (fixed cost subtracted). */
  readonly main: number
  readonly perJob: number
  readonly mainPerJob: number
  readonly threadPerJob: number
}

async function xacts(client: pg.Client, db: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = $1',
    [db],
  )
  return Number(rows[0]?.n)
}

async function once(url: string, db: string, n: number, concurrency: number): Promise<{ xacts: number; main: number }> {
  await cleanPulse(url)
  const reader = new pg.Client({ connectionString: url })
  await reader.connect()
  await new Promise((r) => setTimeout(r, 1_100))
  const x0 = await xacts(reader, db)
  let main = 0
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = proto.query
  proto.query = function (this: unknown, ...args: unknown[]) {
    main++
    return original.apply(this, args)
  }
  try {
    const q = await JobQueue.connect({ pg: url, schema: kPulseSchema })
    try {
      let completed = 0
      let resolveDone!: () => void
      const done = new Promise<void>((r) => (resolveDone = r))
      q.register('noop', () => undefined)
      q.events.on('completed', () => {
        if (++completed === n) resolveDone()
      })
      await q.start({ concurrency })
      const items = Array.from({ length: 1000 }, () => ({ name: 'noop', args: {} }))
      for (let sent = 0; sent < n; sent += 1000)
        await q.enqueueMany(sent + 1000 <= n ? items : items.slice(0, n - sent))
      if (n > 0) await withTimeout(done, 120_000, () => `statements: ${completed}/${n} completed`)
    } finally {
      await q.close()
    }
  } finally {
    proto.query = original
  }
  // Backends flush their counters when they exit (and at most once a second while busy).
  await new Promise((r) => setTimeout(r, 1_500))
  const x1 = await xacts(reader, db)
  await reader.end()
  return { xacts: x1 - x0, main }
}

export async function statementsPerJob(
  url: string,
  db: string,
  n: number,
  concurrency: number,
): Promise<StatementCount> {
  const base = await once(url, db, 0, concurrency)
  const run = await once(url, db, n, concurrency)
  const x = run.xacts - base.xacts
  const main = run.main - base.main
  return { jobs: n, xacts: x, main, perJob: x / n, mainPerJob: main / n, threadPerJob: (x - main) / n }
}
