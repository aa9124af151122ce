/**
 * Operators' searches: `listJobs` by id, args containment and creation time; `countJobs` and the bulk
 * actions with the same filters; `auditLog` by action; `timeoutMs`, past which a read rejects with
 * `TimeoutError` instead of waiting; and the partial index the dead-letter inbox reads (migration 9).
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobQueue } from '../../../actors/jobs/index.js'
import { createTestDatabase, poolerOptions, type TestDatabase } from '../../helpers/postgres.js'
import { uniqueName } from './helpers.js'

let db: TestDatabase
let queue: JobQueue

beforeAll(async () => {
  db = await createTestDatabase()
  queue = await JobQueue.connect({ pg: db.url, ...poolerOptions(db.url) })
})

afterAll(async () => {
  await queue?.close()
  await db?.drop()
})

async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

async function ids(options: Parameters<JobQueue['listJobs']>[0]): Promise<string[]> {
  return (await queue.listJobs(options)).jobs.map((job) => job.id)
}

describe('listJobs filters', () => {
  it('takes an id, args containment and a creation time range, with the status and name', async () => {
    const name = uniqueName('search')
    const [a, b, c] = await queue.enqueueMany([
      { name, args: { to: 'a@example.com', tags: ['x', 'y'] } },
      { name, args: { to: 'b@example.com' } },
      { name, args: Buffer.from('bytes') },
    ])
    await withClient((client) =>
      client.query(`UPDATE pulse.jobs SET created_at = '2001-01-01T00:00:00Z' WHERE id = $1`, [a]),
    )
    expect(await ids({ id: b as string })).toEqual([b])
    expect(await ids({ id: b as string, name: 'other' })).toEqual([])
    expect(await ids({ id: '99999999999999999999' })).toEqual([])
    expect(await ids({ name, argsContain: { to: 'a@example.com' } })).toEqual([a])
    expect(await ids({ name, argsContain: { tags: ['y'] } })).toEqual([a])
    expect(await ids({ name, argsContain: {} })).toEqual([b, a])
    expect(await ids({ name, createdBefore: new Date('2002-01-01T00:00:00Z') })).toEqual([a])
    expect(await ids({ name, createdAfter: new Date('2002-01-01T00:00:00Z'), timeoutMs: 1_000 })).toEqual([c, b])
    expect(await ids({ name, status: 'pending', createdAfter: new Date('2001-01-01T00:00:00Z') })).toEqual([c, b, a])
  })

  it('refuses a containment that is not a JSON object or array, a bad date and a bad timeoutMs', async () => {
    for (const options of [
      { argsContain: 'x' as never },
      { argsContain: Buffer.from('x') as never },
      { createdAfter: new Date('nope') },
      { createdBefore: '2001-01-01' as never },
      { timeoutMs: 0 },
      { id: 7 as never },
    ]) {
      await expect(queue.listJobs(options)).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
    }
  })
})

describe('count and bulk actions with the filters', () => {
  it('count, cancel and requeue only the jobs the args and time filters match, and say so in the audit row', async () => {
    const name = uniqueName('bulk')
    const [hit, miss] = await queue.enqueueMany([
      { name, args: { tenant: 'acme' } },
      { name, args: { tenant: 'other' } },
    ])
    const filter = { name, argsContain: { tenant: 'acme' }, createdAfter: new Date(Date.now() - 3_600_000) }
    expect(await queue.countJobs(filter, { timeoutMs: 1_000 })).toBe(1)
    expect(await queue.countJobs({ ...filter, createdBefore: new Date('2001-01-01') })).toBe(0)
    expect(await queue.cancelJobs({ ...filter, actor: 'ops' })).toEqual({ count: 1 })
    expect((await queue.getJob(hit as string))?.status).toBe('canceled')
    expect((await queue.getJob(miss as string))?.status).toBe('pending')
    const [entry] = await queue.auditLog({ action: 'job.cancel_many', limit: 1 })
    expect(entry).toMatchObject({ actor: 'ops', data: { name, argsContain: { tenant: 'acme' }, count: 1 } })
  })
})

describe('auditLog by action', () => {
  it('returns only the entries of the given actions, newest first', async () => {
    await queue.pauseDispatch('one', { actor: 'a' })
    await queue.resumeDispatch({ actor: 'b' })
    await queue.cancel(await queue.enqueue(uniqueName('x'), {}), { actor: 'c' })
    const entries = await queue.auditLog({ action: ['dispatch.pause', 'dispatch.resume'], limit: 2 })
    expect(entries.map((e) => [e.action, e.actor])).toEqual([
      ['dispatch.resume', 'b'],
      ['dispatch.pause', 'a'],
    ])
    await expect(queue.auditLog({ action: [] })).rejects.toMatchObject({ code: 'PULSE_ERR_INVALID_ARG' })
  })
})

describe('timeoutMs', () => {
  it('rejects with PULSE_ERR_TIMEOUT when the read cannot finish in time, and the pool stays usable', async () => {
    await withClient(async (client) => {
      // A lock the reads must wait for: the wait counts against their statement timeout.
      await client.query('BEGIN')
      await client.query('LOCK TABLE pulse.jobs, pulse.audit_log IN ACCESS EXCLUSIVE MODE')
      const bound = { timeoutMs: 50 }
      await expect(queue.listJobs({ name: 'x', ...bound })).rejects.toMatchObject({
        code: 'PULSE_ERR_TIMEOUT',
        data: { timeoutMs: 50, what: 'listJobs' },
      })
      await expect(queue.countJobs({}, bound)).rejects.toMatchObject({ code: 'PULSE_ERR_TIMEOUT' })
      await expect(queue.getJob('1', bound)).rejects.toMatchObject({ code: 'PULSE_ERR_TIMEOUT' })
      await expect(queue.auditLog(bound)).rejects.toMatchObject({ code: 'PULSE_ERR_TIMEOUT' })
      await client.query('ROLLBACK')
    })
    expect((await queue.listJobs({ limit: 1, timeoutMs: 1_000 })).jobs).toHaveLength(1)
  })
})

describe('the dead-letter index (migration 9)', () => {
  it('serves the dead jobs newest first', async () => {
    const plan = await withClient(async (client) => {
      await client.query('SET enable_seqscan = off')
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT id FROM pulse.jobs WHERE status = 'dead' ORDER BY id DESC LIMIT 10`,
      )
      return rows.map((r) => r['QUERY PLAN']).join('\n')
    })
    expect(plan).toContain('jobs_dead_canceled')
  })
})
