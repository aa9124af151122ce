/**
 * The hot path against the storage contract: claim order, illegal transitions, the claim race, result
 * fencing, and gap-free histories under concurrent writers (docs/jobs-scenarios.md, scenarios 2, 3, 8, 10, 14, 35).
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import {
  claimJobs,
  completeJobs,
  failJobs,
  parseArgs,
  reapExpiredLeases,
  renewLeases,
} from '../../../transports/postgres/jobs/hot-path.js'
import { type Queryable, quoteSchema } from '../../../transports/postgres/jobs/queryable.js'
import { migrate } from '../../../transports/postgres/migrate.js'
import { PULSE_MIGRATIONS } from '../../../transports/postgres/migrations/index.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { historyTypes, uniqueName, withClients, withQueue } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

const kLease = 30_000

function claim(sql: Queryable, q: string, names: string[], limit = 1, owner = 'test') {
  return claimJobs(sql, q, { owner, names, limit, leaseTtlMs: kLease })
}

describe('claim order (scenarios 2, 3)', () => {
  it('claims by priority, FIFO within a priority, after a resume', async () => {
    await withQueue(
      db.url,
      async (queue, { db: sql, q }) => {
        const name = uniqueName('order')
        await queue.pauseDispatch('ordering test')
        const b = await queue.enqueue(name, 'B', { priority: 0 })
        const a = await queue.enqueue(name, 'A', { priority: 5 })
        const c = await queue.enqueue(name, 'C', { priority: 5 })
        expect(await claim(sql, q, [name], 10)).toEqual([])
        await queue.resumeDispatch()
        const order: string[] = []
        for (;;) {
          const [job] = await claim(sql, q, [name])
          if (job === undefined) break
          order.push(job.id)
        }
        expect(order).toEqual([a, c, b])
      },
      { schema: uniqueName('jq') },
    )
  })

  it('sorts a negative priority after the default 0 and round-trips priority to the claim', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('neg')
      const low = await queue.enqueue(name, 'low', { priority: -1 })
      const normal = await queue.enqueue(name, 'normal')
      const high = await queue.enqueue(name, 'high', { priority: 2_000_000_000 })
      const claimed = await claim(sql, q, [name], 10)
      expect(claimed.map((j) => [j.id, j.priority, parseArgs(j)])).toEqual([
        [high, 2_000_000_000, 'high'],
        [normal, 0, 'normal'],
        [low, -1, 'low'],
      ])
    })
  })

  it('does not claim jobs before their runAt', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('later')
      await queue.enqueue(name, 1, { delayMs: 60_000 })
      const now = await queue.enqueue(name, 2)
      expect((await claim(sql, q, [name], 10)).map((j) => j.id)).toEqual([now])
    })
  })
})

describe('claimed jobs', () => {
  it('come back with their args as stored, whatever their shape, their bytes, attempt and lease, in priority order', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('shapes')
      const shapes: unknown[] = [
        { nested: { list: [1, 'two', null, true], quote: 'say "hi"\\ \u00e9 \u{1f600}' } },
        'a string',
        12.5,
        null,
        [],
        { '': 0 },
      ]
      const ids = await queue.enqueueMany(
        shapes.map((args, i) => ({ name, args, priority: 10 - i, maxAttempts: 3 + i })),
      )
      const bytesId = await queue.enqueue(name, new Uint8Array([0, 1, 254, 255]), { priority: -1 })
      const claimed = await claim(sql, q, [name], 10)
      expect(claimed.map((j) => j.id)).toEqual([...ids, bytesId])
      expect(claimed.slice(0, shapes.length).map((j) => parseArgs(j))).toEqual(shapes)
      // The args come as the server's JSON text, parsed where the handler runs; bytes as bytes.
      expect(claimed.slice(0, shapes.length).every((j) => typeof j.argsJson === 'string')).toBe(true)
      expect(claimed.at(-1)?.argsJson).toBeNull()
      expect(claimed.map((j) => [j.name, j.attempt, j.maxAttempts, j.priority])).toEqual([
        ...shapes.map((_, i) => [name, 1, 3 + i, 10 - i]),
        [name, 1, 5, -1],
      ])
      expect(claimed.slice(0, shapes.length).every((j) => j.argsBytes === null)).toBe(true)
      const bytes = claimed.at(-1)?.argsBytes
      expect(Buffer.isBuffer(bytes) && [...bytes]).toEqual([0, 1, 254, 255])
      expect(await completeJobs(sql, q, claimed)).toHaveLength(claimed.length)
      expect(await claim(sql, q, [name], 10)).toEqual([])
    })
  })
})

describe('illegal transitions (scenario 8)', () => {
  it('complete on a pending job, complete twice, fail a completed job: nothing changes', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('illegal')
      const id = await queue.enqueue(name, {})
      const fakeToken = '9223372036854775807'
      expect(await completeJobs(sql, q, [{ id, leaseToken: fakeToken }])).toEqual([])
      expect(
        await failJobs(sql, q, [{ id, leaseToken: fakeToken, error: { message: 'x' }, retryAt: new Date() }]),
      ).toEqual([])
      expect(await queue.getJob(id)).toMatchObject({ status: 'pending', attempt: 0 })
      expect(await historyTypes(queue, id)).toEqual(['enqueued'])

      const [job] = await claim(sql, q, [name])
      const lease = { id, leaseToken: job?.leaseToken ?? '' }
      expect(await completeJobs(sql, q, [lease])).toEqual([id])
      expect(await completeJobs(sql, q, [lease])).toEqual([])
      expect(await failJobs(sql, q, [{ ...lease, error: { message: 'late' }, retryAt: undefined }])).toEqual([])
      expect(await renewLeases(sql, q, [lease], kLease)).toEqual([id])
      const after = await queue.getJob(id)
      expect(after).toMatchObject({ status: 'completed', attempt: 1, lastError: undefined })
      expect(after?.history.map((e) => [e.seq, e.type, e.attempt])).toEqual([
        [1, 'enqueued', 0],
        [2, 'started', 1],
        [3, 'completed', 1],
      ])
    })
  })
})

describe('claim race (scenario 10)', () => {
  it('20 claimers on their own connections over 1,000 jobs: each (job, attempt) claimed exactly once', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('race')
      const ids = await queue.enqueueMany(Array.from({ length: 1_000 }, (_, i) => ({ name, args: i, priority: i % 4 })))
      const claimedBy = await withClients(db.url, 20, (clients) =>
        Promise.all(
          clients.map(async (client, w) => {
            const mine: string[] = []
            for (;;) {
              const batch = await claimJobs(client, q, { owner: `w${w}`, names: [name], limit: 7, leaseTtlMs: kLease })
              if (batch.length === 0) return mine
              mine.push(...batch.map((j) => j.id))
            }
          }),
        ),
      )
      const all = claimedBy.flat()
      expect(all).toHaveLength(1_000)
      expect(new Set(all)).toEqual(new Set(ids))
      // More than one claimer took part (the race was real).
      expect(claimedBy.filter((mine) => mine.length > 0).length).toBeGreaterThan(1)
      const { rows } = await sql.query<{ job_id: string; attempt: number; n: number }>(
        `SELECT e.job_id::text, e.attempt, count(*)::int AS n FROM ${q}.job_history e JOIN ${q}.jobs j ON j.id = e.job_id
          WHERE j.name = $1 AND e.type = 'started' GROUP BY e.job_id, e.attempt`,
        [name],
      )
      expect(rows).toHaveLength(1_000)
      expect(rows.every((r) => r.n === 1 && r.attempt === 1)).toBe(true)
    })
  })
})

describe('result fencing (scenario 14)', () => {
  it("a stale lease token's complete, fail and renew change nothing after the job was re-claimed", async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('fence')
      const id = await queue.enqueue(name, {}, { maxAttempts: 3 })
      const [first] = await claim(sql, q, [name], 1, 'worker-a')
      const stale = { id, leaseToken: first?.leaseToken ?? '' }
      // Worker A stops renewing: its lease lapses and the watchdog reaps it (retry now).
      await sql.query(`UPDATE ${q}.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [id])
      expect(await reapExpiredLeases(sql, q, 10, () => new Date(Date.now() - 1_000))).toEqual([
        { id, status: 'retrying', attempt: 1 },
      ])
      const [second] = await claim(sql, q, [name], 1, 'worker-b')
      expect(second).toMatchObject({ id, attempt: 2 })
      // Fencing tokens come from a sequence: the later lease's token is the greater.
      expect(BigInt(second?.leaseToken ?? '0')).toBeGreaterThan(BigInt(stale.leaseToken))
      const historyBefore = await historyTypes(queue, id)

      expect(await completeJobs(sql, q, [stale])).toEqual([])
      expect(await failJobs(sql, q, [{ ...stale, error: { message: 'late failure' }, retryAt: undefined }])).toEqual([])
      expect(await renewLeases(sql, q, [stale], kLease)).toEqual([id])
      expect(await queue.getJob(id)).toMatchObject({ status: 'running', attempt: 2 })
      expect(await historyTypes(queue, id)).toEqual(historyBefore)
      expect(historyBefore).toEqual(['enqueued', 'started', 'failed', 'retrying', 'started'])

      expect(await completeJobs(sql, q, [{ id, leaseToken: second?.leaseToken ?? '' }])).toEqual([id])
      expect(await queue.getJob(id)).toMatchObject({ status: 'completed', attempt: 2 })
    })
  })

  it('a lease token is set exactly while its job runs: the database refuses a running job without one, or a token on any other', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('token-rule')
      const [running, pending] = await queue.enqueueMany([
        { name, args: 1, priority: 1 },
        { name, args: 2 },
      ])
      await claim(sql, q, [name])
      const refused = (statement: string, id: string | undefined) =>
        sql.query(statement, [id]).then(
          () => 'accepted',
          (error: unknown) => (error as { data?: { constraint?: string } }).data?.constraint,
        )
      expect(await refused(`UPDATE ${q}.jobs SET lease_token = NULL WHERE id = $1`, running)).toBe(
        'jobs_lease_token_iff_running',
      )
      expect(await refused(`UPDATE ${q}.jobs SET lease_token = 1 WHERE id = $1`, pending)).toBe(
        'jobs_lease_token_iff_running',
      )
      expect(await refused(`UPDATE ${q}.jobs SET status = 'running' WHERE id = $1`, pending)).toBe(
        'jobs_lease_token_iff_running',
      )
      // Leaving 'running' clears the token on every path; cancel is the one not exercised above.
      await queue.cancel(running ?? '')
      expect(await queue.getJob(running ?? '')).toMatchObject({ status: 'canceled' })
    })
  })
})

describe('fencing tokens from a sequence (migration 7)', () => {
  it('the jobs running at the upgrade get new tokens without a rewrite of the table (their old holders are fenced off), and later claims take greater ones', async () => {
    const schema = uniqueName('upgrade')
    const q = quoteSchema(schema)
    const pool = new pg.Pool({ connectionString: db.url, max: 2 })
    try {
      await migrate(pool, { schema, migrations: PULSE_MIGRATIONS.slice(0, 6) })
      const { rows: before } = await pool.query<{ id: string; lease_token: string | null }>(
        `INSERT INTO ${q}.jobs (name, status, attempt, lease_owner, lease_token, lease_expires_at)
         VALUES ('old', 'running', 1, 'old-worker', gen_random_uuid(), now() + interval '1 minute'), ('old', 'pending', 0, NULL, NULL, NULL)
         RETURNING id::text, lease_token::text`,
      )
      expect(before[0]?.lease_token).toMatch(/^[0-9a-f-]{36}$/)
      const storage = `SELECT relfilenode::text AS file FROM pg_class WHERE oid = '${q}.jobs'::regclass`
      const { rows: fileBefore } = await pool.query<{ file: string }>(storage)
      await migrate(pool, { schema })
      // The column is replaced, not converted: the table keeps its storage (no rewrite).
      expect((await pool.query<{ file: string }>(storage)).rows).toEqual(fileBefore)
      const { rows: after } = await pool.query<{ id: string; status: string; lease_token: string | null }>(
        `SELECT id::text, status, lease_token::text FROM ${q}.jobs ORDER BY id`,
      )
      const [running, pending] = before.map((r) => r.id)
      expect(after.map((r) => [r.id, r.status])).toEqual([
        [running, 'running'],
        [pending, 'pending'],
      ])
      const renumbered = after[0]?.lease_token ?? ''
      expect(renumbered).toMatch(/^[0-9]+$/)
      expect(after[1]?.lease_token).toBeNull()
      const [next] = await claim(pool, q, ['old'])
      expect(next?.id).toBe(pending)
      expect(BigInt(next?.leaseToken ?? '0')).toBeGreaterThan(BigInt(renumbered))
      expect(await completeJobs(pool, q, [{ id: running ?? '', leaseToken: renumbered }])).toEqual([running])
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${q} CASCADE`)
      await pool.end()
    }
  })

  it('a token that is not a number is refused with the database error, and changes nothing', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('bad-token')
      const id = await queue.enqueue(name, {})
      await claim(sql, q, [name])
      await expect(completeJobs(sql, q, [{ id, leaseToken: 'not-a-token' }])).rejects.toMatchObject({
        code: 'PULSE_ERR_PG_QUERY',
        data: { sqlstate: '22P02' },
      })
      expect(await queue.getJob(id)).toMatchObject({ status: 'running', attempt: 1 })
    })
  })
})

describe("an attempt's start on the row that ends it (migration 8)", () => {
  /** The job's history as (seq, type, attempt, owner) and its event rows, counted. */
  async function trail(queue: Parameters<Parameters<typeof withQueue>[1]>[0], sql: Queryable, q: string, id: string) {
    const job = await queue.getJob(id)
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${q}.job_events WHERE job_id = $1`,
      [id],
    )
    return {
      history: job?.history.map((e) => [e.seq, e.type, e.attempt, (e.data as { owner?: string } | undefined)?.owner]),
      at: Object.fromEntries(job?.history.map((e) => [`${e.type}${e.attempt}`, e.at.getTime()]) ?? []),
      rows: rows[0]?.n,
    }
  }

  it('a claim writes no event row; the history shows the start (time, owner) while it runs and after it ends, on every path', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('start')
      const [done, retried, canceled, reaped, pending] = await queue.enqueueMany(
        Array.from({ length: 5 }, (_, i) => ({ name: `${name}_${i}`, args: i })),
      )
      const claimOne = async (i: number, owner: string) => {
        const [job] = await claimJobs(sql, q, { owner, names: [`${name}_${i}`], limit: 1, leaseTtlMs: kLease })
        if (job === undefined) throw new Error(`${name}_${i} was not claimable`)
        return job
      }

      const a = await claimOne(0, 'w1')
      const running = await trail(queue, sql, q, done ?? '')
      expect(running.history).toEqual([
        [1, 'enqueued', 0, undefined],
        [2, 'started', 1, 'w1'],
      ])
      expect(running.rows).toBe(0)
      await completeJobs(sql, q, [a])
      const completed = await trail(queue, sql, q, done ?? '')
      expect(completed.history).toEqual([...(running.history ?? []), [3, 'completed', 1, undefined]])
      expect(completed.at.started1).toBe(running.at.started1)
      expect(completed.at.completed1).toBeGreaterThanOrEqual(completed.at.started1 ?? Infinity)
      expect(completed.rows).toBe(1)

      const b1 = await claimOne(1, 'w1')
      await failJobs(sql, q, [{ ...b1, error: { message: 'once' }, retryAt: new Date(Date.now() - 1) }])
      const b2 = await claimOne(1, 'w2')
      await completeJobs(sql, q, [b2])
      const twice = await trail(queue, sql, q, retried ?? '')
      expect(twice.history).toEqual([
        [1, 'enqueued', 0, undefined],
        [2, 'started', 1, 'w1'],
        [3, 'failed', 1, undefined],
        [4, 'retrying', 1, undefined],
        [5, 'started', 2, 'w2'],
        [6, 'completed', 2, undefined],
      ])
      expect(twice.rows).toBe(3)
      expect(twice.at.started2).toBeGreaterThan(twice.at.started1 ?? Infinity)

      await claimOne(2, 'w3')
      await queue.cancel(canceled ?? '')
      expect((await trail(queue, sql, q, canceled ?? '')).history).toEqual([
        [1, 'enqueued', 0, undefined],
        [2, 'started', 1, 'w3'],
        [3, 'canceled', 1, undefined],
      ])

      await claimOne(3, 'w4')
      await sql.query(`UPDATE ${q}.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [reaped])
      expect(await reapExpiredLeases(sql, q, 10, () => new Date(Date.now() + 60_000))).toEqual([
        { id: reaped, status: 'retrying', attempt: 1 },
      ])
      expect((await trail(queue, sql, q, reaped ?? '')).history).toEqual([
        [1, 'enqueued', 0, undefined],
        [2, 'started', 1, 'w4'],
        [3, 'failed', 1, undefined],
        [4, 'retrying', 1, undefined],
      ])

      // A job canceled before any attempt shows no start.
      await queue.cancel(pending ?? '')
      expect((await trail(queue, sql, q, pending ?? '')).history).toEqual([
        [1, 'enqueued', 0, undefined],
        [2, 'canceled', 0, undefined],
      ])
    })
  })

  it("attempts started before the upgrade, or by an older worker, keep their own 'started' row and show it once", async () => {
    const schema = uniqueName('upgrade8')
    const q = quoteSchema(schema)
    const pool = new pg.Pool({ connectionString: db.url, max: 2 })
    /** A claim as migration 7's workers make it: a 'started' row, no started_at. */
    const olderClaim = (id: string, owner: string) =>
      pool.query(
        `WITH claimed AS (
           UPDATE ${q}.jobs SET status = 'running', attempt = attempt + 1, lease_owner = $2, lease_token = nextval('${schema}.jobs_lease_token_seq'),
                  lease_expires_at = now() + interval '1 minute', event_seq = event_seq + 1
            WHERE id = $1 RETURNING id, event_seq, attempt)
         INSERT INTO ${q}.job_events (job_id, seq, attempt, type, data) SELECT id, event_seq, attempt, 'started', jsonb_build_object('owner', $2::text) FROM claimed`,
        [id, owner],
      )
    const lease = async (id: string) => {
      const { rows } = await pool.query<{ lease_token: string }>(
        `SELECT lease_token::text FROM ${q}.jobs WHERE id = $1`,
        [id],
      )
      return { id, leaseToken: rows[0]?.lease_token ?? '' }
    }
    const history = async (id: string) => {
      const { rows } = await pool.query<{ seq: number; type: string; attempt: number }>(
        `SELECT seq, type, attempt FROM ${q}.job_history WHERE job_id = $1 ORDER BY seq`,
        [id],
      )
      return rows.map((r) => [r.seq, r.type, r.attempt])
    }
    try {
      await migrate(pool, { schema, migrations: PULSE_MIGRATIONS.slice(0, 7) })
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO ${q}.jobs (name) VALUES ('old'), ('old') RETURNING id::text`,
      )
      const [before, mixed] = rows.map((r) => r.id) as [string, string]
      await olderClaim(before, 'old-worker')
      await migrate(pool, { schema })
      const once: unknown[] = [
        [1, 'enqueued', 0],
        [2, 'started', 1],
      ]
      expect(await history(before)).toEqual(once)
      expect(await completeJobs(pool, q, [await lease(before)])).toEqual([before])
      expect(await history(before)).toEqual([...once, [3, 'completed', 1]])

      // Attempt 1 by this version (started_at stamped), attempt 2 by an older worker: its completion
      // carries attempt 1's stale started_at, and the view shows attempt 2's own row only.
      const [first] = await claim(pool, q, ['old'])
      expect(first?.id).toBe(mixed)
      await failJobs(pool, q, [
        { id: mixed, leaseToken: first?.leaseToken ?? '', error: null, retryAt: new Date(Date.now() - 1) },
      ])
      await olderClaim(mixed, 'old-worker')
      const twice: unknown[] = [...once, [3, 'failed', 1], [4, 'retrying', 1], [5, 'started', 2]]
      expect(await history(mixed)).toEqual(twice)
      await completeJobs(pool, q, [await lease(mixed)])
      expect(await history(mixed)).toEqual([...twice, [6, 'completed', 2]])
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${q} CASCADE`)
      await pool.end()
    }
  })
})

describe('history sequences (scenario 35)', () => {
  it('stay unique and gap-free under 50 concurrent writers', async () => {
    await withQueue(db.url, async (queue, { db: sql, q }) => {
      const name = uniqueName('seq')
      // 50 concurrent cycles (a job each): enqueue, claim, fail (retry now), claim, complete, each on its own connection.
      await withClients(db.url, 50, (clients) =>
        Promise.all(
          clients.map(async (client, i) => {
            const own = `${name}_${i}`
            const id = await queue.enqueue(own, { i }, { client })
            const claimOwn = async () => {
              const [job] = await claimJobs(client, q, { owner: `w${i}`, names: [own], limit: 1, leaseTtlMs: kLease })
              if (job === undefined) throw new Error(`job ${id} was not claimable`)
              return job
            }
            const first = await claimOwn()
            await failJobs(client, q, [
              {
                id: first.id,
                leaseToken: first.leaseToken,
                error: { message: 'once' },
                retryAt: new Date(Date.now() - 1),
              },
            ])
            const second = await claimOwn()
            await completeJobs(client, q, [{ id: second.id, leaseToken: second.leaseToken }])
            return id
          }),
        ),
      )
      // And 50 concurrent writers on ONE job: claims, cancels and stale completions racing.
      const contended = await queue.enqueue(`${name}_one`, {}, { maxAttempts: 50 })
      await withClients(db.url, 50, (clients) =>
        Promise.all(
          clients.map(async (client, i) => {
            if (i % 10 === 0) await queue.cancel(contended).catch(() => undefined)
            const [job] = await claimJobs(client, q, {
              owner: `c${i}`,
              names: [`${name}_one`],
              limit: 1,
              leaseTtlMs: kLease,
            })
            if (job !== undefined)
              await failJobs(client, q, [
                { id: job.id, leaseToken: job.leaseToken, error: { message: 'x' }, retryAt: new Date(Date.now() - 1) },
              ])
          }),
        ),
      )

      const { rows } = await sql.query<{ job_id: string; seqs: number[]; event_seq: number }>(
        `SELECT j.id::text AS job_id, array_agg(e.seq ORDER BY e.seq) AS seqs, j.event_seq
           FROM ${q}.jobs j JOIN ${q}.job_history e ON e.job_id = j.id
          WHERE j.name LIKE $1 GROUP BY j.id`,
        [`${name}_%`],
      )
      expect(rows).toHaveLength(51)
      for (const row of rows) {
        expect(row.seqs, `job ${row.job_id}`).toEqual(Array.from({ length: row.seqs.length }, (_, k) => k + 1))
        expect(row.event_seq).toBe(row.seqs.length)
      }
      const cycles = rows.filter((r) => r.job_id !== contended)
      expect(cycles.map((r) => r.seqs.length)).toEqual(Array.from({ length: 50 }, () => 6))
      const one = await queue.getJob(contended)
      expect(one?.history.at(-1)?.type).toBe(one?.status === 'canceled' ? 'canceled' : 'retrying')
    })
  })
})

describe('an ack, then the next claim', () => {
  it('completes the leases still held, fences a stale one, and claims the next batch in numeric id order', async () => {
    await withQueue(
      db.url,
      async (queue, { db: sql, q }) => {
        const name = uniqueName('cycle')
        // Ids past 9 inside one batch: the batch must come back in numeric order, not text order.
        const ids = await queue.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ name, args: i })))
        const first = await claim(sql, q, [name], 3)
        expect(first.map((j) => j.id)).toEqual(ids.slice(0, 3))
        const stale = { id: first[2]?.id ?? '', leaseToken: '9223372036854775807' }
        const completed = await completeJobs(
          sql,
          q,
          [first[0], first[1], stale].map((j) => ({ id: j?.id ?? '', leaseToken: j?.leaseToken ?? '' })),
        )
        expect(completed.sort()).toEqual([first[0]?.id, first[1]?.id].sort())
        const next = await claimJobs(sql, q, { owner: 'test', names: [name], limit: 9, leaseTtlMs: kLease })
        expect(next.map((j) => j.id)).toEqual(ids.slice(3, 12))
        expect(next.every((j) => j.attempt === 1 && /^[0-9]+$/.test(j.leaseToken))).toBe(true)
        expect(new Set(next.map((j) => j.leaseToken)).size).toBe(next.length)
        // The stale token changed nothing: the third job still runs under its real lease.
        expect((await queue.getJob(first[2]?.id ?? ''))?.status).toBe('running')
        expect(await historyTypes(queue, first[0]?.id ?? '')).toEqual(['enqueued', 'started', 'completed'])
      },
      { schema: uniqueName('jq') },
    )
  })
})
