/**
 * JobQueue: connect, enqueue (durability, options, idempotency, the caller's transaction, one statement
 * for many), the getJob shape, refused args, and the lifecycle (docs/jobs-scenarios.md, scenarios 1, 33, 36).
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { ClosedError, InvalidArgumentError, JobNotFoundError, JobQueue } from '../../../actors/jobs/index.js'
import { PULSE_MIGRATIONS } from '../../../transports/postgres/migrations/index.js'
import { createTestDatabase, poolerOptions, type TestDatabase, throughPgBouncer } from '../../helpers/postgres.js'
import { internals, uniqueName, withQueue } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

async function countRows(queue: JobQueue, where: string, values: unknown[]): Promise<number> {
  const { db: sql, q } = internals(queue)
  const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${q}.jobs WHERE ${where}`, values)
  return rows[0]?.n ?? -1
}

describe('enqueue', () => {
  it('makes a pending job visible with the getJob shape of the contract (scenario 1)', async () => {
    await withQueue(db.url, async (queue) => {
      const name = uniqueName('send')
      const before = Date.now()
      const id = await queue.enqueue(name, { to: 'a@b.com', n: [1, 2] })
      expect(id).toMatch(/^[1-9][0-9]*$/)

      // Durable before it resolved: another session sees it at once.
      const other = new pg.Client({ connectionString: db.url })
      await other.connect()
      try {
        const { rows } = await other.query('SELECT status FROM pulse.jobs WHERE id = $1', [id])
        expect(rows).toEqual([{ status: 'pending' }])
      } finally {
        await other.end()
      }

      const job = await queue.getJob(id)
      expect(job).toMatchObject({
        id,
        name,
        args: { to: 'a@b.com', n: [1, 2] },
        status: 'pending',
        priority: 0,
        attempt: 0,
        maxAttempts: 5,
        lastError: undefined,
        scheduleId: undefined,
      })
      expect(Object.keys(job ?? {})).toEqual(
        expect.arrayContaining([
          'id',
          'name',
          'args',
          'status',
          'priority',
          'attempt',
          'maxAttempts',
          'runAt',
          'lastError',
          'createdAt',
          'updatedAt',
          'history',
        ]),
      )
      for (const field of ['runAt', 'createdAt', 'updatedAt'] as const) {
        expect(job?.[field]).toBeInstanceOf(Date)
        expect(job?.[field].getTime()).toBeGreaterThanOrEqual(before - 1_000)
      }
      expect(job?.history).toEqual([
        { seq: 1, type: 'enqueued', attempt: 0, at: expect.any(Date) as Date, data: undefined },
      ])

      const listed = await queue.listJobs({ name, status: 'pending' })
      expect(listed.jobs.map((j) => j.id)).toEqual([id])
      expect(listed.cursor).toBeUndefined()
    })
  })

  it("records a job's creation in its row: job_events holds transitions only, job_history and getJob show 'enqueued' once", async () => {
    await withQueue(db.url, async (queue, ctx) => {
      const name = uniqueName('hist')
      const [fresh, legacy] = await queue.enqueueMany([
        { name, args: {} },
        { name, args: {} },
      ])
      const events = await ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${ctx.q}.job_events WHERE job_id = ANY($1::bigint[])`,
        [[fresh, legacy]],
      )
      expect(events.rows[0]?.n).toBe(0)
      // A job enqueued before migration 5 has its own 'enqueued' row: the view shows that one, once.
      await ctx.db.query(
        `INSERT INTO ${ctx.q}.job_events (job_id, seq, attempt, type, data) VALUES ($1, 1, 0, 'enqueued', '{"legacy": true}')`,
        [legacy],
      )
      const { rows } = await ctx.db.query<{ id: string; created_at: Date }>(
        `SELECT id::text, created_at FROM ${ctx.q}.jobs WHERE id = $1`,
        [fresh],
      )
      const history = await queue.getJob(fresh ?? '')
      expect(history?.history).toEqual([
        { seq: 1, type: 'enqueued', attempt: 0, at: rows[0]?.created_at, data: undefined },
      ])
      expect((await queue.getJob(legacy ?? ''))?.history).toEqual([
        { seq: 1, type: 'enqueued', attempt: 0, at: expect.any(Date) as Date, data: { legacy: true } },
      ])
    })
  })

  it('stores priority, runAt, delayMs and maxAttempts', async () => {
    await withQueue(db.url, async (queue) => {
      const name = uniqueName('opts')
      const runAt = new Date(Date.now() + 3_600_000)
      const a = await queue.enqueue(name, 1, { priority: -3, runAt, maxAttempts: 2 })
      const before = Date.now()
      const b = await queue.enqueue(name, 'two', { delayMs: 60_000 })
      expect(await queue.getJob(a)).toMatchObject({ args: 1, priority: -3, runAt, maxAttempts: 2 })
      const jobB = await queue.getJob(b)
      expect(jobB?.args).toBe('two')
      expect(jobB?.runAt.getTime()).toBeGreaterThanOrEqual(before + 60_000)
      expect(jobB?.runAt.getTime()).toBeLessThan(Date.now() + 61_000)
    })
  })

  it('stores a Uint8Array as bytes and gives it back as a Buffer', async () => {
    await withQueue(db.url, async (queue) => {
      const bytes = new Uint8Array([0, 1, 2, 255])
      const id = await queue.enqueue(uniqueName('bytes'), bytes)
      const job = await queue.getJob(id)
      expect(Buffer.isBuffer(job?.args)).toBe(true)
      expect([...(job?.args as Buffer)]).toEqual([0, 1, 2, 255])
      // A string stays a (JSON) string; jsonb takes it quoted (docs/jobs-scenarios.md, the note after the table).
      const text = await queue.enqueue(uniqueName('text'), 'hello')
      expect((await queue.getJob(text))?.args).toBe('hello')
    })
  })

  it('returns the first job id for a repeated idempotencyKey, and adds nothing', async () => {
    await withQueue(db.url, async (queue) => {
      const name = uniqueName('idem')
      const key = uniqueName('key')
      const first = await queue.enqueue(name, { v: 1 }, { idempotencyKey: key })
      const second = await queue.enqueue(name, { v: 2 }, { idempotencyKey: key })
      const concurrent = await Promise.all(
        Array.from({ length: 10 }, (_, i) => queue.enqueue(name, { v: i }, { idempotencyKey: key })),
      )
      expect(second).toBe(first)
      expect(new Set(concurrent)).toEqual(new Set([first]))
      expect(await countRows(queue, 'name = $1', [name])).toBe(1)
      expect((await queue.getJob(first))?.args).toEqual({ v: 1 })
      // Within one enqueueMany too.
      const many = await queue.enqueueMany([
        { name, args: 'x', idempotencyKey: `${key}-b` },
        { name, args: 'y', idempotencyKey: `${key}-b` },
        { name, args: 'z', idempotencyKey: key },
      ])
      expect(many[0]).toBe(many[1])
      expect(many[2]).toBe(first)
      expect(await countRows(queue, 'name = $1', [name])).toBe(2)
    })
  })

  it("enqueues inside the caller's transaction: rolled back, no job; committed, the job", async () => {
    await withQueue(db.url, async (queue) => {
      const name = uniqueName('tx')
      const client = new pg.Client({ connectionString: db.url })
      await client.connect()
      try {
        await client.query('BEGIN')
        const rolledBack = await queue.enqueue(name, { n: 1 }, { client })
        expect(await queue.getJob(rolledBack)).toBeUndefined() // not visible outside before commit
        await client.query('ROLLBACK')
        expect(await queue.getJob(rolledBack)).toBeUndefined()

        await client.query('BEGIN')
        const [committed] = await queue.enqueueMany([{ name, args: { n: 2 } }], { client })
        await client.query('COMMIT')
        expect((await queue.getJob(committed ?? ''))?.status).toBe('pending')
        expect(await countRows(queue, 'name = $1', [name])).toBe(1)
      } finally {
        await client.end()
      }
    })
  })

  it('enqueueMany writes every job in one statement and returns the ids in order', async () => {
    const raw = new pg.Pool({ connectionString: db.url, max: 2 })
    const statements: string[] = []
    raw.on('connect', (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      ;(client as { query: unknown }).query = (...args: unknown[]) => {
        const [first] = args
        statements.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text))
        return query(...args)
      }
    })
    try {
      const queue = await JobQueue.connect({ pg: raw, ...poolerOptions(db.url) })
      try {
        const name = uniqueName('many')
        statements.length = 0
        const ids = await queue.enqueueMany(
          Array.from({ length: 50 }, (_, i) => ({ name, args: { i }, priority: i % 3 })),
        )
        expect(statements).toHaveLength(1)
        expect(ids).toHaveLength(50)
        expect(new Set(ids).size).toBe(50)
        // Drawn in input order: claims (by priority, then id) keep the batch's order within a priority.
        expect(ids.map(BigInt)).toEqual(ids.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
        const jobs = await Promise.all(ids.map((id) => queue.getJob(id)))
        expect(jobs.map((j) => (j?.args as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i))
        // Without options (the two-column insert), the same order.
        const plain = await queue.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ name, args: { i } })))
        expect(plain.map(BigInt)).toEqual(plain.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
        const plainJobs = await Promise.all(plain.map((id) => queue.getJob(id)))
        expect(plainJobs.map((j) => (j?.args as { i: number }).i)).toEqual(Array.from({ length: 50 }, (_, i) => i))

        statements.length = 0
        expect(await queue.enqueueMany([])).toEqual([])
        expect(statements).toHaveLength(0)
      } finally {
        await queue.close()
      }
      // The caller's pool is left open.
      expect((await raw.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await raw.end()
    }
  })

  it('stores names and args that need quoting as given, in either insert form and by single enqueues', async () => {
    await withQueue(db.url, async (queue) => {
      const base = uniqueName('quote')
      const names = ['a"b', 'c\\d', 'e,f', '{g}', ' h ', 'NULL', 'ü€𝄞', "it's"].map((n) => `${base}${n}`)
      const args: unknown[] = [
        'a "quoted" \\ string, {with} braces',
        { 'k"ey': ['x\\y', '', null, -0.5, 1e300, true], nested: { deep: [[{}], []] }, 'ü€𝄞': '\n\t' },
        null,
        [],
        42,
        'NULL',
        { sql: "'); DROP TABLE jobs; --" },
        '{"looks": "like json"}',
      ]
      const items = names.map((name, i) => ({ name, args: args[i] }))
      const check = async (ids: string[]): Promise<void> => {
        const jobs = await Promise.all(ids.map((id) => queue.getJob(id)))
        expect(jobs.map((j) => [j?.name, j?.args])).toEqual(items.map((item) => [item.name, item.args]))
      }
      // All defaults: names as one text[] literal, args as one JSON array.
      await check(await queue.enqueueMany(items))
      // With an option on one row: every column as an array of its own.
      await check(await queue.enqueueMany(items.map((item, i) => (i === 0 ? { ...item, priority: 1 } : item))))
      // Single enqueues, sent together by the group commit.
      await check(await Promise.all(items.map((item) => queue.enqueue(item.name, item.args))))
    })
  })

  it('refuses args that are not JSON-serialisable with PULSE_ERR_INVALID_ARG naming where (scenario 36)', async () => {
    await withQueue(db.url, async (queue) => {
      const name = uniqueName('bad')
      const cycle: Record<string, unknown> = { a: 1 }
      cycle.self = cycle
      const cases: [unknown, string][] = [
        [undefined, 'args'],
        [() => 1, 'args'],
        [10n, 'args'],
        [Symbol('s'), 'args'],
        [Number.NaN, 'args'],
        [{ n: Infinity }, 'args.n'],
        [cycle, 'args.self'],
        [{ list: [1, undefined] }, 'args.list[1]'],
        [{ deep: { fn: () => 1 } }, 'args.deep.fn'],
        [{ m: new Map([[1, 2]]) }, 'args.m'],
        [{ bytes: new Uint8Array(2) }, 'args.bytes'],
        [{ text: 'a\u0000b' }, 'args.text'],
        [{ text: 'lone \ud800' }, 'args.text'],
        [{ 'odd key': 1n }, 'args["odd key"]'],
        [{ a: [{ b: [1, Infinity] }] }, 'args.a[0].b[1]'],
        [[{ ok: 'yes' }, { no: Symbol('s') }], 'args[1].no'],
        [{ 'k\u0000': 1 }, 'args["k\\u0000"] (the key)'],
      ]
      for (const [args, path] of cases) {
        const error = await queue.enqueue(name, args).catch((e: unknown) => e)
        expect(error, path).toBeInstanceOf(InvalidArgumentError)
        expect(error).toMatchObject({ code: 'PULSE_ERR_INVALID_ARG', data: { option: path } })
        expect((error as Error).message).toContain(path)
      }
      await expect(
        queue.enqueueMany([
          { name, args: { ok: true } },
          { name, args: { no: 1n } },
        ]),
      ).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option: 'jobs[1].args.no' },
      })
      expect(await countRows(queue, 'name = $1', [name])).toBe(0)
      // Accepted as JSON does: undefined properties are left out, a Date becomes its ISO string.
      const date = new Date('2024-01-02T03:04:05.000Z')
      const id = await queue.enqueue(name, { a: undefined, at: date, nested: [null, { b: true }] })
      expect((await queue.getJob(id))?.args).toEqual({ at: date.toISOString(), nested: [null, { b: true }] })
    })
  })

  it('refuses invalid names and options, naming them', async () => {
    await withQueue(db.url, async (queue) => {
      const cases: [() => Promise<unknown>, string][] = [
        [() => queue.enqueue('', {}), 'name'],
        [() => queue.enqueue(7 as unknown as string, {}), 'name'],
        [() => queue.enqueue('n', {}, { priority: 1.5 }), 'options.priority'],
        [() => queue.enqueue('n', {}, { priority: 2 ** 31 }), 'options.priority'],
        [() => queue.enqueue('n', {}, { maxAttempts: 0 }), 'options.maxAttempts'],
        [() => queue.enqueue('n', {}, { runAt: new Date(Number.NaN) }), 'options.runAt'],
        [() => queue.enqueue('n', {}, { runAt: new Date(), delayMs: 5 }), 'options.delayMs'],
        [() => queue.enqueue('n', {}, { delayMs: -1 }), 'options.delayMs'],
        [() => queue.enqueue('n', {}, { idempotencyKey: '' }), 'options.idempotencyKey'],
        [() => queue.enqueue('n', {}, { nope: 1 } as never), 'options.nope'],
        [() => queue.enqueue('n', {}, { client: {} as never }), 'options.client'],
        [() => queue.enqueueMany({} as never), 'jobs'],
        [() => queue.enqueueMany([{ name: 'n', args: 1, extra: 2 } as never]), 'jobs[0].extra'],
        [() => queue.getJob(42 as unknown as string), 'id'],
      ]
      for (const [call, option] of cases) {
        await expect(call(), option).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG', data: { option } })
      }
    })
  })
})

describe('connect', () => {
  it('refuses invalid options before connecting', async () => {
    await expect(JobQueue.connect({} as never)).rejects.toMatchObject({
      code: 'PULSE_ERR_INVALID_ARG',
      data: { option: 'options.pg' },
    })
    await expect(JobQueue.connect({ pg: db.url, schema: 'Bad-Name' })).rejects.toMatchObject({
      data: { option: 'options.schema' },
    })
    await expect(JobQueue.connect({ pg: db.url, leaseTtlMs: 0 })).rejects.toMatchObject({
      data: { option: 'options.leaseTtlMs' },
    })
    await expect(JobQueue.connect({ pg: db.url, backoff: 'x' as never })).rejects.toMatchObject({
      data: { option: 'options.backoff' },
    })
    await expect(JobQueue.connect({ pg: db.url, logger: {} as never })).rejects.toMatchObject({
      data: { option: 'options.logger' },
    })
    await expect(JobQueue.connect({ pg: db.url, other: 1 } as never)).rejects.toMatchObject({
      data: { option: 'options.other' },
    })
    await expect(JobQueue.connect({ pg: db.url, transactionPooler: 'yes' as never })).rejects.toMatchObject({
      data: { option: 'options.transactionPooler' },
    })
    await expect(JobQueue.connect({ pg: db.url, listenUrl: '' })).rejects.toMatchObject({
      data: { option: 'options.listenUrl' },
    })
    for (const claimBatchMax of [0, 10_001, 1.5, '10']) {
      await expect(JobQueue.connect({ pg: db.url, claimBatchMax: claimBatchMax as never })).rejects.toMatchObject({
        code: 'PULSE_ERR_INVALID_ARG',
        data: { option: 'options.claimBatchMax' },
      })
    }
  })

  it("refuses an unknown role and an unknown database at once, with the server's typed, non-retryable error", async () => {
    const url = (change: (u: URL) => void): string => {
      const u = new URL(db.url)
      change(u)
      return u.toString()
    }
    // Class 28 (invalid authorization): 28000 for a role that does not exist, 28P01 where the server checks passwords.
    // Through PgBouncer, PgBouncer refuses the login itself, with its own error (08P01, a connection error).
    const refused = (sqlstate: unknown) =>
      throughPgBouncer
        ? { code: 'PULSE_ERR_PG_CONNECTION', data: { sqlstate: '08P01' } }
        : { code: 'PULSE_ERR_PG_QUERY', data: { sqlstate, retryable: false } }
    await expect(JobQueue.connect({ pg: url((u) => (u.username = uniqueName('no_role'))) })).rejects.toMatchObject(
      refused(expect.stringMatching(/^28/)),
    )
    await expect(JobQueue.connect({ pg: url((u) => (u.pathname = `/${uniqueName('no_db')}`)) })).rejects.toMatchObject(
      refused('3D000'),
    )
  })

  it('migrates a new schema on connect', async () => {
    const schema = uniqueName('jq')
    await withQueue(
      db.url,
      async (queue, ctx) => {
        expect(ctx.q).toBe(`"${schema}"`)
        expect(await queue.dispatchStatus()).toEqual({ paused: false, reason: undefined, pausedAt: undefined })
        const { rows } = await ctx.db.query<{ id: number }>(`SELECT id FROM ${ctx.q}.migrations ORDER BY id`)
        expect(rows.map((r) => r.id)).toEqual(PULSE_MIGRATIONS.map((m) => m.id))
        // Migration 4: the unique keys are partial and the status-bearing name index is gone.
        const { rows: indexes } = await ctx.db.query<{ indexname: string; indexdef: string }>(
          `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'jobs' ORDER BY indexname`,
          [schema],
        )
        // Migration 9: the dead and canceled jobs' partial index.
        expect(indexes.map((i) => i.indexname)).toEqual([
          'jobs_dead_canceled',
          'jobs_idempotency_key',
          'jobs_leases',
          'jobs_pkey',
          'jobs_ready',
          'jobs_schedule_occurrence',
        ])
        expect(indexes.find((i) => i.indexname === 'jobs_idempotency_key')?.indexdef).toContain(
          'WHERE (idempotency_key IS NOT NULL)',
        )
      },
      { schema },
    )
  })
})

describe('unknown ids (scenario 33)', () => {
  it('getJob answers undefined; cancel and requeue throw JobNotFoundError', async () => {
    await withQueue(db.url, async (queue) => {
      for (const id of ['999999999', 'abc', '0', '99999999999999999999']) {
        expect(await queue.getJob(id)).toBeUndefined()
        await expect(queue.cancel(id)).rejects.toBeInstanceOf(JobNotFoundError)
        await expect(queue.requeue(id)).rejects.toMatchObject({ code: 'PULSE_ERR_JOB_NOT_FOUND', data: { id } })
      }
    })
  })
})

describe('lifecycle', () => {
  it('close is idempotent and memoised; later calls reject with ClosedError', async () => {
    const queue = await JobQueue.connect({ pg: db.url, ...poolerOptions(db.url) })
    const first = queue.close()
    expect(queue.close()).toBe(first)
    await first
    expect(await queue.closed).toBeUndefined()
    const calls: (() => Promise<unknown>)[] = [
      () => queue.enqueue('n', {}),
      () => queue.enqueueMany([]),
      () => queue.getJob('1'),
      () => queue.listJobs(),
      () => queue.stats(),
      () => queue.cancel('1'),
      () => queue.requeue('1'),
      () => queue.pauseDispatch('x'),
      () => queue.resumeDispatch(),
      () => queue.dispatchStatus(),
      () => queue.schedule('n', {}, { kind: 'every', everyMs: 1_000 }),
      () => queue.listSchedules(),
      () => queue.pauseSchedule('1'),
      () => queue.resumeSchedule('1'),
      () => queue.deleteSchedule('1'),
      () => queue.auditLog(),
    ]
    for (const call of calls) await expect(call()).rejects.toBeInstanceOf(ClosedError)
    await queue.close()
  })

  it('runs the close hooks first (last added first, all of them), then releases the pool', async () => {
    const queue = await JobQueue.connect({ pg: db.url, ...poolerOptions(db.url) })
    const ctx = internals(queue)
    const order: string[] = []
    ctx.addCloseHook(async () => {
      order.push('first')
      // The pool is still open while hooks run.
      const { rows } = await ctx.db.query<{ one: number }>('SELECT 1 AS one')
      order.push(`query ${rows[0]?.one}`)
    })
    ctx.addCloseHook(() => {
      order.push('second')
      throw new Error('second failed')
    })
    expect(ctx.signal.aborted).toBe(false)
    const error = await queue.close().catch((e: unknown) => e)
    expect(ctx.signal.aborted).toBe(true)
    expect(order).toEqual(['second', 'first', 'query 1'])
    expect((error as Error).message).toBe('second failed')
    expect(await queue.closed).toBe(error)
    expect(() => ctx.addCloseHook(() => undefined)).toThrow(ClosedError)
  })

  it('disposes with await using semantics (Symbol.asyncDispose) and leaves a given pool open', async () => {
    const raw = new pg.Pool({ connectionString: db.url, max: 2 })
    try {
      const queue = await JobQueue.connect({ pg: raw, ...poolerOptions(db.url) })
      await queue[Symbol.asyncDispose]()
      await expect(queue.getJob('1')).rejects.toBeInstanceOf(ClosedError)
      expect(raw.ending).toBe(false)
      expect((await raw.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }])
    } finally {
      await raw.end()
    }
  })
})

describe("errors of the caller's client", () => {
  it("leave typed (PULSE_ERR_PG_QUERY) when the caller's transaction is aborted", async () => {
    await withQueue(db.url, async (queue) => {
      const client = new pg.Client({ connectionString: db.url })
      await client.connect()
      try {
        await client.query('BEGIN')
        await client.query('SELECT 1/0').catch(() => undefined)
        await expect(queue.enqueue(uniqueName('aborted'), {}, { client })).rejects.toMatchObject({
          code: 'PULSE_ERR_PG_QUERY',
          data: { sqlstate: '25P02' },
        })
        await client.query('ROLLBACK')
      } finally {
        await client.end()
      }
    })
  })
})

describe('group commit of single enqueues', () => {
  it('sends concurrent enqueues together: each resolves with its own committed id, in fewer statements', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => queue.enqueue('burst', { i })))
        expect(new Set(ids).size).toBe(200)
        // Durable when resolved: every row is there, with its own args.
        const { rows } = await ctx.db.query<{ id: string; i: number }>(
          `SELECT id::text, (args->>'i')::int AS i FROM ${ctx.q}.jobs WHERE name = 'burst'`,
        )
        const byId = new Map(rows.map((r) => [r.id, r.i]))
        expect(ids.map((id) => byId.get(id))).toEqual(Array.from({ length: 200 }, (_, i) => i))
        // The first insert leaves at once, the other 199 wait for it to return and leave together.
        const { rows: tx } = await ctx.db.query<{ n: number }>(
          `SELECT count(DISTINCT created_at)::int AS n FROM ${ctx.q}.jobs WHERE name = 'burst'`,
        )
        expect(tx[0]?.n).toBeLessThanOrEqual(2)
      },
      { schema: uniqueName('gc') },
    )
  })

  it('fails only the row the database refuses; idempotency keys still return the first id', async () => {
    await withQueue(
      db.url,
      async (queue) => {
        // A valid Date that PostgreSQL cannot store (before 4713 BC): refused by the database, not by validation.
        const calls = Array.from({ length: 20 }, (_, i) =>
          i === 10 ? queue.enqueue('mixed', i, { runAt: new Date(-8.64e15) }) : queue.enqueue('mixed', i),
        )
        const keyed = [
          queue.enqueue('mixed', 'a', { idempotencyKey: 'k1' }),
          queue.enqueue('mixed', 'b', { idempotencyKey: 'k1' }),
        ]
        const settled = await Promise.allSettled(calls)
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(19)
        expect(settled[10]).toMatchObject({ status: 'rejected', reason: { code: 'PULSE_ERR_PG_QUERY' } })
        const [first, second] = await Promise.all(keyed)
        expect(second).toBe(first)
        expect((await queue.getJob(first ?? ''))?.args).toBe('a')
      },
      { schema: uniqueName('gc') },
    )
  })

  it('close() waits for the enqueues it accepted', async () => {
    const queue = await JobQueue.connect({ pg: db.url, schema: uniqueName('gc'), ...poolerOptions(db.url) })
    const pending = Array.from({ length: 50 }, (_, i) => queue.enqueue('late', i))
    await queue.close()
    expect(await Promise.all(pending)).toHaveLength(50)
  })
})
