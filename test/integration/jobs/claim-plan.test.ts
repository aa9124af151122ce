/**
 * The claim's plan: on a freshly VACUUM ANALYZEd table of 100 k ready jobs, the claim statement finds
 * its rows through the partial index `jobs_ready` (a test the
 * queue keeps: a slower plan would not fail any other test), not through the primary key plus a filter. The actors' statements are planned as each form
 * runs them: with session settings and named statements on a direct connection (so those tests use
 * the database's direct URL, even in the PgBouncer pass), and with `SET LOCAL` in a transaction of
 * their own, unnamed, through a transaction pooler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { DISPATCHER_SESSION_SQL, DISPATCHER_TRANSACTION_SQL } from '../../../actors/jobs/dispatcher.actor.js'
import { WATCHDOG_SESSION_SQL, WATCHDOG_TRANSACTION_SQL } from '../../../actors/jobs/watchdog.actor.js'
import { claimJobs, completeJobs, failJobs, renewLeases } from '../../../transports/postgres/jobs/hot-path.js'
import type { Queryable } from '../../../transports/postgres/jobs/queryable.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { uniqueName, withClients, withQueue } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Index Cond'?: string
  'Relation Name'?: string
  'Actual Rows'?: number
  'Actual Loops'?: number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

/** The statement `send` would run, as it would send it (not run). */
async function capture(send: (db: Queryable) => Promise<unknown>): Promise<{ text: string; values: unknown[] }> {
  let captured: { text: string; values: unknown[] } | undefined
  const recorder: Queryable = {
    query: (text, values) => {
      captured = { text, values: values ?? [] }
      return Promise.resolve({ rows: [], rowCount: 0 })
    },
  }
  await send(recorder)
  if (captured === undefined) throw new Error('nothing was sent')
  return captured
}

/**
 * 20,000 ready jobs, freshly analysed, 500 of them claimed; then the dispatcher's statements as
 * [its session or transaction settings, the statement's name, a function that sends it].
 */
async function dispatcherStatements(
  sql: Queryable,
  q: string,
): Promise<Array<[keyof typeof DISPATCHER_SESSION_SQL, string, (db: Queryable) => Promise<unknown>]>> {
  await sql.query(`INSERT INTO ${q}.jobs (name, args) SELECT 'work', '{}' FROM generate_series(1, 20000)`)
  await sql.query(`VACUUM ANALYZE ${q}.jobs`)
  const claim = { owner: 'plan', names: ['work'], limit: 500, leaseTtlMs: 30_000 }
  const running = await claimJobs(sql, q, claim)
  const failed = running.map((job) => ({ ...job, error: { message: 'no' }, retryAt: new Date() }))
  return [
    ['claim', 'claim', (recorder) => claimJobs(recorder, q, claim)],
    ['ack', 'complete', (recorder) => completeJobs(recorder, q, running)],
    ['smallAck', 'complete_small', (recorder) => completeJobs(recorder, q, running.slice(0, 64))],
    ['ack', 'fail', (recorder) => failJobs(recorder, q, failed)],
  ]
}

describe('claim plan', () => {
  it('uses jobs_ready on 100 k ready jobs right after VACUUM ANALYZE', async () => {
    await withQueue(
      db.url,
      async (_queue, { db: sql, q }) => {
        await sql.query(
          `INSERT INTO ${q}.jobs (name, args, priority, run_at)
           SELECT CASE WHEN g % 10 = 0 THEN 'other' ELSE 'work' END, jsonb_build_object('n', g), g % 5, now() - interval '1 minute'
             FROM generate_series(1, 100000) AS g`,
        )
        await sql.query(`VACUUM ANALYZE ${q}.jobs`)

        // The claim statement itself, captured as claimJobs sends it, then explained (not run).
        const captured = await capture((recorder) =>
          claimJobs(recorder, q, { owner: 'plan', names: ['work'], limit: 50, leaseTtlMs: 30_000 }),
        )
        expect(captured.text).toContain('FOR UPDATE SKIP LOCKED')
        const { rows } = await sql.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `EXPLAIN (FORMAT JSON) ${captured.text}`,
          captured.values,
        )
        const plan = rows[0]?.['QUERY PLAN'][0].Plan
        expect(plan).toBeDefined()
        const all = nodes(plan as PlanNode)
        const onJobs = all.filter((n) => n['Relation Name'] === 'jobs')
        const ready = onJobs.filter((n) => n['Index Name'] === 'jobs_ready')
        expect(ready.length, JSON.stringify(onJobs.map((n) => [n['Node Type'], n['Index Name']]))).toBeGreaterThan(0)
        expect(onJobs.some((n) => n['Node Type'] === 'Seq Scan')).toBe(false)
        // And the claim itself works on that table, in priority order.
        const claimed = await claimJobs(sql, q, { owner: 'plan', names: ['work'], limit: 50, leaseTtlMs: 30_000 })
        expect(claimed).toHaveLength(50)
        expect(claimed.every((j) => j.priority === 4)).toBe(true)
      },
      { schema: uniqueName('plan') },
    )
  })

  it("the dispatcher's statements, as its sessions plan them, claim through jobs_ready and ack 500 (or 64, on the generic plan) jobs without a nested loop", async () => {
    await withQueue(
      db.url,
      async (_queue, { db: sql, q }) => {
        const statements = await dispatcherStatements(sql, q)
        for (const [session, statement, send] of statements) {
          const captured = await capture(send)
          const used = await withClients(db.directUrl, 1, async ([client]) => {
            if (client === undefined) throw new Error('no client')
            await client.query(DISPATCHER_SESSION_SQL[session])
            // Prepared as the dispatcher prepares it, run past the five executions after which PostgreSQL's
            // default may switch to a generic plan, then explained as the next execution would run.
            const prepared = { name: statement, text: captured.text, values: captured.values }
            for (let i = 0; i < 6; i++) {
              await client.query('BEGIN')
              await client.query(prepared)
              await client.query('ROLLBACK')
            }
            // The captured values are strings, numbers, Dates, nulls and arrays of those.
            const text = (x: unknown): string =>
              x instanceof Date ? x.toISOString() : typeof x === 'number' ? x.toString() : (x as string)
            const element = (x: unknown): string => (x === null ? 'NULL' : `"${text(x).replace(/["\\]/g, '\\$&')}"`)
            const literal = (v: unknown): string =>
              v === null ? 'NULL' : client.escapeLiteral(Array.isArray(v) ? `{${v.map(element).join(',')}}` : text(v))
            const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
              `EXPLAIN (FORMAT JSON) EXECUTE ${statement}(${captured.values.map(literal).join(', ')})`,
            )
            return nodes(rows[0]?.['QUERY PLAN'][0].Plan as PlanNode)
          })
          const shape = JSON.stringify(used.map((n) => [n['Node Type'], n['Index Name'] ?? n['Relation Name']]))
          if (statement === 'claim')
            expect(
              used.some((n) => n['Index Name'] === 'jobs_ready'),
              shape,
            ).toBe(true)
          // The small acks' session runs the plan made once for any values: the ids stay a parameter.
          if (session === 'smallAck')
            expect(
              used.some((n) => n['Index Cond']?.includes('$1') === true),
              shape,
            ).toBe(true)
          expect(
            used.some((n) => n['Node Type'] === 'Seq Scan' || n['Node Type'] === 'Nested Loop'),
            `${statement}: ${shape}`,
          ).toBe(false)
        }
      },
      { schema: uniqueName('plan') },
    )
  })

  it("the dispatcher's statements, as a transaction pooler's transactions plan them (SET LOCAL, unnamed), claim through jobs_ready and ack 500 jobs without a nested loop", async () => {
    await withQueue(
      db.url,
      async (_queue, { db: sql, q }) => {
        const statements = await dispatcherStatements(sql, q)
        for (const [transaction, statement, send] of statements) {
          const captured = await capture(send)
          const used = await withClients(db.url, 1, async ([client]) => {
            if (client === undefined) throw new Error('no client')
            await client.query(`BEGIN; ${DISPATCHER_TRANSACTION_SQL[transaction]}`)
            try {
              const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
                `EXPLAIN (FORMAT JSON) ${captured.text}`,
                captured.values,
              )
              return nodes(rows[0]?.['QUERY PLAN'][0].Plan as PlanNode)
            } finally {
              await client.query('ROLLBACK')
            }
          })
          const shape = JSON.stringify(used.map((n) => [n['Node Type'], n['Index Name'] ?? n['Relation Name']]))
          if (statement === 'claim')
            expect(
              used.some((n) => n['Index Name'] === 'jobs_ready'),
              shape,
            ).toBe(true)
          expect(
            used.some((n) => n['Node Type'] === 'Seq Scan' || n['Node Type'] === 'Nested Loop'),
            `${statement}: ${shape}`,
          ).toBe(false)
        }
      },
      { schema: uniqueName('plan') },
    )
  })

  it('acks and renewals read only the leases they name, however many jobs other workers run', async () => {
    await withQueue(
      db.url,
      async (_queue, { db: sql, q }) => {
        await sql.query(`INSERT INTO ${q}.jobs (name, args) SELECT 'work', '{}' FROM generate_series(1, 12000)`)
        await claimJobs(sql, q, { owner: 'others', names: ['work'], limit: 10_000, leaseTtlMs: 60_000 })
        const mine = await claimJobs(sql, q, { owner: 'mine', names: ['work'], limit: 500, leaseTtlMs: 60_000 })
        await sql.query(`VACUUM ANALYZE ${q}.jobs`)
        const failed = mine.map((job) => ({ ...job, error: { message: 'no' }, retryAt: new Date() }))
        const statements: Array<[string, string, string, (db: Queryable) => Promise<unknown>]> = [
          ['complete', DISPATCHER_SESSION_SQL.ack, DISPATCHER_TRANSACTION_SQL.ack, (r) => completeJobs(r, q, mine)],
          ['fail', DISPATCHER_SESSION_SQL.ack, DISPATCHER_TRANSACTION_SQL.ack, (r) => failJobs(r, q, failed)],
          ['renew', WATCHDOG_SESSION_SQL, WATCHDOG_TRANSACTION_SQL, (r) => renewLeases(r, q, mine, 60_000)],
        ]
        // Each statement as a direct connection's session runs it, and as a transaction pooler's transaction.
        const forms = statements.flatMap(([statement, session, transaction, send]) => [
          { statement, url: db.directUrl, before: session, begin: 'BEGIN', send },
          {
            statement: `${statement} (SET LOCAL)`,
            url: db.url,
            before: undefined,
            begin: `BEGIN; ${transaction}`,
            send,
          },
        ])
        for (const { statement, url, before, begin, send } of forms) {
          const captured = await capture(send)
          const used = await withClients(url, 1, async ([client]) => {
            if (client === undefined) throw new Error('no client')
            if (before !== undefined) await client.query(before)
            await client.query(begin)
            try {
              const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
                `EXPLAIN (ANALYZE, FORMAT JSON) ${captured.text}`,
                captured.values,
              )
              return nodes(rows[0]?.['QUERY PLAN'][0].Plan as PlanNode)
            } finally {
              await client.query('ROLLBACK')
            }
          })
          // Rows of jobs the statement looked at: the 500 it names, not the 10,000 other leases.
          const scans = used.filter((n) => n['Relation Name'] === 'jobs' && n['Node Type'] !== 'ModifyTable')
          const read = scans.reduce(
            (sum, n) => sum + ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1),
            0,
          )
          const shape = JSON.stringify(
            scans.map((n) => [n['Node Type'], n['Index Name'], n['Actual Rows'], n['Rows Removed by Filter']]),
          )
          expect(read, `${statement}: ${shape}`).toBeLessThanOrEqual(2 * mine.length)
          expect(read, `${statement}: ${shape}`).toBeGreaterThanOrEqual(mine.length)
        }
      },
      { schema: uniqueName('plan') },
    )
  })
})
