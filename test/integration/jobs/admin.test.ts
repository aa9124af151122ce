/**
 * Operator actions and reads: cancel per state, the dead-letter requeue, stats, the audit log, and
 * paging (docs/jobs-scenarios.md, scenarios 9, 39, 40).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { JobStateError, type JobQueue } from '../../../actors/jobs/index.js'
import type { JobQueueInternals } from '../../../actors/jobs/internal.js'
import { claimJobs, completeJobs, failJobs } from '../../../transports/postgres/jobs/hot-path.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { uniqueName, withQueue } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

async function claimOne(ctx: JobQueueInternals, name: string) {
  const [job] = await claimJobs(ctx.db, ctx.q, { owner: 'test', names: [name], limit: 1, leaseTtlMs: 30_000 })
  if (job === undefined) throw new Error(`nothing to claim for ${name}`)
  return job
}

/** One job of `name` in each status; returns their ids by status. */
async function jobInEachStatus(queue: JobQueue, ctx: JobQueueInternals, name: string) {
  const pending = await queue.enqueue(name, 'pending')
  const running = await queue.enqueue(`${name}_r`, 'running')
  await claimOne(ctx, `${name}_r`)
  const retrying = await queue.enqueue(`${name}_t`, 'retrying')
  const t = await claimOne(ctx, `${name}_t`)
  await failJobs(ctx.db, ctx.q, [
    { id: t.id, leaseToken: t.leaseToken, error: { message: 'boom' }, retryAt: new Date(Date.now() + 60_000) },
  ])
  const completed = await queue.enqueue(`${name}_c`, 'completed')
  const c = await claimOne(ctx, `${name}_c`)
  await completeJobs(ctx.db, ctx.q, [c])
  const dead = await queue.enqueue(`${name}_d`, 'dead', { maxAttempts: 1 })
  const d = await claimOne(ctx, `${name}_d`)
  await failJobs(ctx.db, ctx.q, [
    { id: d.id, leaseToken: d.leaseToken, error: { name: 'Error', message: 'fatal' }, retryAt: undefined },
  ])
  const canceled = await queue.enqueue(`${name}_x`, 'canceled')
  await queue.cancel(canceled)
  return { pending, running, retrying, completed, dead, canceled }
}

describe('cancel (scenario 9)', () => {
  it('is allowed from pending, running and retrying, and rejected from completed, canceled and dead', async () => {
    await withQueue(db.url, async (queue, ctx) => {
      const name = uniqueName('cancel')
      const ids = await jobInEachStatus(queue, ctx, name)
      for (const status of ['completed', 'canceled', 'dead'] as const) {
        const before = await queue.getJob(ids[status])
        const error = await queue.cancel(ids[status]).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(JobStateError)
        expect(error).toMatchObject({
          code: 'PULSE_ERR_JOB_STATE',
          data: { id: ids[status], status, action: 'cancel' },
        })
        expect(await queue.getJob(ids[status])).toEqual(before)
      }
      for (const status of ['pending', 'running', 'retrying'] as const) {
        await queue.cancel(ids[status], { reason: `stop ${status}`, actor: 'ops' })
        const job = await queue.getJob(ids[status])
        expect(job?.status).toBe('canceled')
        expect(job?.history.at(-1)).toMatchObject({
          type: 'canceled',
          data: { actor: 'ops', reason: `stop ${status}` },
        })
      }
    })
  })

  it('a canceled job is never claimed again, and its running worker is fenced off', async () => {
    await withQueue(db.url, async (queue, ctx) => {
      const name = uniqueName('fenced')
      const id = await queue.enqueue(name, {})
      const running = await claimOne(ctx, name)
      await queue.cancel(id)
      expect(await completeJobs(ctx.db, ctx.q, [running])).toEqual([])
      expect(await failJobs(ctx.db, ctx.q, [{ ...running, error: {}, retryAt: new Date() }])).toEqual([])
      expect(await claimJobs(ctx.db, ctx.q, { owner: 'x', names: [name], limit: 10, leaseTtlMs: 30_000 })).toEqual([])
      const pending = await queue.enqueue(name, {}, { runAt: new Date(Date.now() - 1_000) })
      await queue.cancel(pending)
      expect(await claimJobs(ctx.db, ctx.q, { owner: 'x', names: [name], limit: 10, leaseTtlMs: 30_000 })).toEqual([])
      expect(await queue.getJob(id)).toMatchObject({ status: 'canceled', attempt: 1 })
    })
  })
})

describe('dead-letter requeue and stats (scenario 40)', () => {
  it('requeue moves a dead job back to pending with a fresh attempt budget and a visible record', async () => {
    await withQueue(db.url, async (queue, ctx) => {
      const name = uniqueName('dlq')
      const id = await queue.enqueue(name, { x: 1 }, { maxAttempts: 2 })
      for (let i = 0; i < 2; i++) {
        const job = await claimOne(ctx, name)
        await failJobs(ctx.db, ctx.q, [
          {
            ...job,
            error: { name: 'Error', message: `fail ${i + 1}` },
            retryAt: i === 0 ? new Date(Date.now() - 1) : undefined,
          },
        ])
      }
      expect(await queue.getJob(id)).toMatchObject({ status: 'dead', attempt: 2, lastError: { message: 'fail 2' } })
      expect((await queue.listJobs({ status: 'dead', name })).jobs.map((j) => j.id)).toEqual([id])

      await queue.requeue(id, { actor: 'alice', reason: 'fixed the mail server' })
      const requeued = await queue.getJob(id)
      expect(requeued).toMatchObject({ status: 'pending', attempt: 0, maxAttempts: 2 })
      expect(requeued?.history.at(-1)).toMatchObject({
        type: 'requeued',
        attempt: 0,
        data: { actor: 'alice', reason: 'fixed the mail server', previousAttempt: 2 },
      })
      expect(requeued?.history.map((e) => e.seq)).toEqual(
        Array.from({ length: requeued?.history.length ?? 0 }, (_, i) => i + 1),
      )
      // The budget is fresh: two more attempts before it is dead again.
      const again = await claimOne(ctx, name)
      expect(again.attempt).toBe(1)
      await failJobs(ctx.db, ctx.q, [{ ...again, error: { message: 'again' }, retryAt: new Date(Date.now() - 1) }])
      expect((await queue.getJob(id))?.status).toBe('retrying')

      const error = await queue.requeue(id).catch((e: unknown) => e)
      expect(error).toMatchObject({
        code: 'PULSE_ERR_JOB_STATE',
        data: { status: 'retrying', action: 'requeue', allowed: ['dead'] },
      })
    })
  })

  it('stats count per name and status, with the age of the oldest waiting job', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        expect(await queue.stats()).toEqual({ byName: {}, oldestPendingAgeMs: undefined })
        const name = 'mail'
        await jobInEachStatus(queue, ctx, name)
        await queue.enqueue(name, 'second pending')
        await queue.enqueue(name, 'later', { delayMs: 3_600_000 })
        const old = await queue.enqueue('report', 'old')
        await ctx.db.query(`UPDATE ${ctx.q}.jobs SET run_at = now() - interval '5 seconds' WHERE id = $1`, [old])
        await queue.enqueue('__proto__', 'odd name')

        const stats = await queue.stats()
        const zero = { pending: 0, running: 0, retrying: 0, completed: 0, dead: 0, canceled: 0 }
        expect(stats.byName).toEqual({
          mail: { ...zero, pending: 3 },
          mail_r: { ...zero, running: 1 },
          mail_t: { ...zero, retrying: 1 },
          mail_c: { ...zero, completed: 1 },
          mail_d: { ...zero, dead: 1 },
          mail_x: { ...zero, canceled: 1 },
          report: { ...zero, pending: 1 },
          ['__proto__']: { ...zero, pending: 1 },
        })
        expect(Object.getPrototypeOf(stats.byName)).toBe(Object.prototype)
        expect(stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(5_000)
        expect(stats.oldestPendingAgeMs).toBeLessThan(15_000)
      },
      { schema: uniqueName('stats') },
    )
  })
})

describe('listJobs', () => {
  it('pages by id with a cursor, newest first, with filters', async () => {
    await withQueue(db.url, async (queue) => {
      const name = uniqueName('page')
      const ids = await queue.enqueueMany(Array.from({ length: 25 }, (_, i) => ({ name, args: i })))
      await queue.cancel(ids[3] ?? '')
      const seen: string[] = []
      let cursor: string | undefined
      const sizes: number[] = []
      do {
        const page = await queue.listJobs({ name, limit: 10, ...(cursor === undefined ? {} : { cursor }) })
        sizes.push(page.jobs.length)
        seen.push(...page.jobs.map((j) => j.id))
        cursor = page.cursor
      } while (cursor !== undefined)
      expect(sizes).toEqual([10, 10, 5])
      expect(seen).toEqual([...ids].reverse())

      expect((await queue.listJobs({ name, status: 'canceled' })).jobs.map((j) => j.id)).toEqual([ids[3]])
      expect((await queue.listJobs({ name, status: ['canceled', 'pending'], limit: 100 })).jobs).toHaveLength(25)
      // An exact last page has no cursor.
      const exact = await queue.listJobs({ name, limit: 25 })
      expect(exact.jobs).toHaveLength(25)
      expect(exact.cursor).toBeUndefined()

      await expect(queue.listJobs({ status: 'done' as never })).rejects.toMatchObject({
        data: { option: 'options.status' },
      })
      await expect(queue.listJobs({ limit: 0 })).rejects.toMatchObject({ data: { option: 'options.limit' } })
      await expect(queue.listJobs({ cursor: 'nope' })).rejects.toMatchObject({ data: { option: 'options.cursor' } })
    })
  })
})

describe('audit log (scenario 39)', () => {
  it('records pause, resume, cancel, requeue and schedule changes with actor and reason', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        const name = uniqueName('audited')
        await queue.pauseDispatch('db maintenance', { actor: 'dba' })
        await queue.resumeDispatch({ actor: 'dba', reason: 'done' })
        const job = await queue.enqueue(name, {})
        await queue.cancel(job, { actor: 'alice', reason: 'duplicate' })
        const dead = await queue.enqueue(`${name}_d`, {}, { maxAttempts: 1 })
        const claimed = await claimOne(ctx, `${name}_d`)
        await failJobs(ctx.db, ctx.q, [{ ...claimed, error: { message: 'x' }, retryAt: undefined }])
        await queue.requeue(dead, { reason: 'retry after fix' })
        const schedule = await queue.schedule(
          'rollup',
          { a: 1 },
          { kind: 'every', everyMs: 60_000 },
          { actor: 'deploy' },
        )
        await queue.schedule('rollup', { a: 2 }, { kind: 'every', everyMs: 60_000 })
        await queue.pauseSchedule(schedule, { actor: 'bob', reason: 'noisy' })
        await queue.resumeSchedule(schedule)
        await queue.deleteSchedule(schedule, { actor: 'bob' })
        // Refused actions write nothing.
        await expect(queue.cancel(job)).rejects.toBeInstanceOf(JobStateError)
        await expect(queue.pauseSchedule(schedule)).rejects.toMatchObject({ code: 'PULSE_ERR_JOB_SCHEDULE_NOT_FOUND' })
        expect(await queue.deleteSchedule(schedule)).toBe(false)

        const log = await queue.auditLog()
        expect(log.map((e) => [e.action, e.actor, e.target, e.reason])).toEqual(
          [
            ['dispatch.pause', 'dba', 'dispatch', 'db maintenance'],
            ['dispatch.resume', 'dba', 'dispatch', 'done'],
            ['job.cancel', 'alice', `job:${job}`, 'duplicate'],
            ['job.requeue', 'api', `job:${dead}`, 'retry after fix'],
            ['schedule.create', 'deploy', `schedule:${schedule}`, undefined],
            ['schedule.update', 'api', `schedule:${schedule}`, undefined],
            ['schedule.pause', 'bob', `schedule:${schedule}`, 'noisy'],
            ['schedule.resume', 'api', `schedule:${schedule}`, undefined],
            ['schedule.delete', 'bob', `schedule:${schedule}`, undefined],
          ].reverse(),
        )
        expect(log.every((e) => e.at instanceof Date)).toBe(true)
        expect(log.find((e) => e.action === 'schedule.create')?.data).toEqual({
          name: 'rollup',
          jobName: 'rollup',
          spec: { kind: 'every', everyMs: 60_000 },
        })
        const firstTwo = await queue.auditLog({ limit: 2 })
        expect(firstTwo.map((e) => e.action)).toEqual(['schedule.delete', 'schedule.resume'])
        const next = await queue.auditLog({ limit: 2, before: firstTwo[1]?.id ?? '' })
        expect(next.map((e) => e.action)).toEqual(['schedule.pause', 'schedule.update'])
      },
      { schema: uniqueName('audit'), actor: 'api' },
    )
  })

  it('pages the audit log newest first by numeric id past id 9 (ids are not compared as text)', async () => {
    await withQueue(
      db.url,
      async (queue) => {
        for (let i = 0; i < 6; i++) {
          await queue.pauseDispatch(`p${i}`)
          await queue.resumeDispatch({ reason: `r${i}` })
        }
        const all = await queue.auditLog({ limit: 20 })
        const ids = all.map((e) => Number(e.id))
        expect(ids).toEqual([12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
        const paged: string[] = []
        let before: string | undefined
        for (;;) {
          const page = await queue.auditLog(before === undefined ? { limit: 5 } : { limit: 5, before })
          if (page.length === 0) break
          paged.push(...page.map((e) => e.id))
          before = page.at(-1)?.id
        }
        expect(paged.map(Number)).toEqual(ids)
      },
      { schema: uniqueName('audit12') },
    )
  })

  it('commits the audit row with the action: a failed action leaves neither', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        // Break the audit insert: the pause must roll back with it.
        await ctx.db.query(`ALTER TABLE ${ctx.q}.audit_log ADD CONSTRAINT no_pause CHECK (action <> 'dispatch.pause')`)
        await expect(queue.pauseDispatch('x')).rejects.toMatchObject({ code: 'PULSE_ERR_PG_QUERY' })
        expect((await queue.dispatchStatus()).paused).toBe(false)
        expect(await queue.auditLog()).toEqual([])
      },
      { schema: uniqueName('audit') },
    )
  })
})

describe('pruneJobs', () => {
  /** A schema of its own: a prune deletes across the schema, other tests' finished jobs included. */
  const own = () => ({ schema: uniqueName('prune') })

  /** Backdates the jobs' last change by `ms` (their status's time: what a prune compares). */
  async function age(ctx: JobQueueInternals, ids: readonly string[], ms: number): Promise<void> {
    await ctx.db.query(
      `UPDATE ${ctx.q}.jobs SET updated_at = updated_at - $2 * interval '1 millisecond' WHERE id = ANY($1::bigint[])`,
      [ids, ms],
    )
  }

  async function eventRows(ctx: JobQueueInternals, ids: readonly string[]): Promise<number> {
    const { rows } = await ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${ctx.q}.job_events WHERE job_id = ANY($1::bigint[])`,
      [ids],
    )
    return rows[0]?.n ?? 0
  }

  it('deletes finished jobs older than the cutoff with their history, never one that may still run, and records it', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        const day = 86_400_000
        const old = await jobInEachStatus(queue, ctx, uniqueName('old'))
        const fresh = await jobInEachStatus(queue, ctx, uniqueName('fresh'))
        const all = [...Object.values(old), ...Object.values(fresh)]
        await age(ctx, Object.values(old), 2 * day)
        const finished = [old.completed, old.dead, old.canceled]
        expect(await eventRows(ctx, finished)).toBeGreaterThan(0)

        expect(await queue.pruneJobs({ olderThanMs: day, actor: 'ops', reason: 'keep a day' })).toEqual({ deleted: 3 })
        const left = await Promise.all(all.map(async (id) => [id, (await queue.getJob(id))?.status]))
        expect(
          left
            .filter(([, status]) => status === undefined)
            .map(([id]) => id)
            .sort(),
        ).toEqual([...finished].sort())
        expect(await eventRows(ctx, finished)).toBe(0)
        const [entry] = await queue.auditLog({ limit: 1 })
        expect(entry).toMatchObject({
          actor: 'ops',
          action: 'job.prune',
          target: 'jobs',
          reason: 'keep a day',
          data: { deleted: 3, statuses: ['completed', 'dead', 'canceled'] },
        })
        // Nothing older is left: a second call deletes nothing.
        expect(await queue.pruneJobs({ olderThanMs: day })).toEqual({ deleted: 0 })
      },
      own(),
    )
  })

  it('takes only the statuses asked for, at most `limit` per call, the oldest first; a pruned key is free again', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        const name = uniqueName('limit')
        const ids = await queue.enqueueMany(
          Array.from({ length: 5 }, (_, i) => ({ name, args: i, idempotencyKey: `${name}-${i}` })),
        )
        const dead = await queue.enqueue(`${name}_d`, 'dead', { maxAttempts: 1 })
        const d = await claimOne(ctx, `${name}_d`)
        await failJobs(ctx.db, ctx.q, [
          { id: d.id, leaseToken: d.leaseToken, error: { message: 'x' }, retryAt: undefined },
        ])
        for (const _ of ids) await completeJobs(ctx.db, ctx.q, [await claimOne(ctx, name)])
        await age(ctx, [...ids, dead], 60_000)

        expect(await queue.pruneJobs({ olderThanMs: 1_000, statuses: ['dead'] })).toEqual({ deleted: 1 })
        expect(await queue.getJob(dead)).toBeUndefined()
        expect(await queue.pruneJobs({ olderThanMs: 1_000, statuses: ['completed'], limit: 2 })).toEqual({ deleted: 2 })
        expect(await Promise.all(ids.map(async (id) => (await queue.getJob(id)) === undefined))).toEqual([
          true,
          true,
          false,
          false,
          false,
        ])
        expect(await queue.pruneJobs({ olderThanMs: 1_000, limit: 2 })).toEqual({ deleted: 2 })
        expect(await queue.pruneJobs({ olderThanMs: 1_000, limit: 2 })).toEqual({ deleted: 1 })
        // The key of a pruned job makes a new job.
        const again = await queue.enqueue(name, 'again', { idempotencyKey: `${name}-0` })
        expect(ids).not.toContain(again)
      },
      own(),
    )
  })

  it('refuses bad options with PULSE_ERR_INVALID_ARG and deletes nothing', async () => {
    await withQueue(
      db.url,
      async (queue, ctx) => {
        const name = uniqueName('bad')
        const id = await queue.enqueue(name, {})
        await completeJobs(ctx.db, ctx.q, [await claimOne(ctx, name)])
        await age(ctx, [id], 60_000)
        const cases: [unknown, string][] = [
          [undefined, 'options'],
          [{}, 'options.olderThanMs'],
          [{ olderThanMs: -1 }, 'options.olderThanMs'],
          [{ olderThanMs: 1.5 }, 'options.olderThanMs'],
          [{ olderThanMs: 0, statuses: ['pending'] }, 'options.statuses'],
          [{ olderThanMs: 0, statuses: [] }, 'options.statuses'],
          [{ olderThanMs: 0, limit: 0 }, 'options.limit'],
          [{ olderThanMs: 0, limit: 100_001 }, 'options.limit'],
          [{ olderThanMs: 0, other: 1 }, 'options.other'],
        ]
        for (const [options, option] of cases) {
          await expect(queue.pruneJobs(options as never), option).rejects.toMatchObject({
            code: 'PULSE_ERR_INVALID_ARG',
            data: { option },
          })
        }
        expect((await queue.getJob(id))?.status).toBe('completed')
      },
      own(),
    )
  })
})
