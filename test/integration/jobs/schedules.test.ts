/**
 * Schedules: at / after / every / cron, pause and resume, exactly once per occurrence across
 * concurrent firers, the compare-and-set advance, deletion and lineage (docs/jobs-scenarios.md, scenarios 19–27, 33).
 *
 * Firing takes `now` as an argument, so the tests move time by passing it instead of waiting.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import {
  after,
  at,
  cron,
  every,
  InvalidArgumentError,
  type JobQueue,
  nextOccurrence,
  ScheduleNotFoundError,
} from '../../../actors/jobs/index.js'
import type { JobQueueInternals } from '../../../actors/jobs/internal.js'
import { firstOccurrence } from '../../../actors/jobs/schedule-spec.js'
import {
  advanceSchedule,
  fireDueSchedules,
  type TransactionTarget,
  upsertSchedule,
} from '../../../transports/postgres/jobs/schedules.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { uniqueName, withClients, withQueue } from './helpers.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

/** A queue on a schema of its own: firing sees only the test's schedules. */
function withScheduleQueue<T>(fn: (queue: JobQueue, ctx: JobQueueInternals) => Promise<T>): Promise<T> {
  return withQueue(db.url, fn, { schema: uniqueName('sched') })
}

function fire(ctx: JobQueueInternals, now: Date, target: TransactionTarget = ctx.pool) {
  return fireDueSchedules(target, ctx.q, now, nextOccurrence)
}

async function scheduleOf(queue: JobQueue, id: string) {
  return (await queue.listSchedules()).find((s) => s.id === id)
}

async function jobsOf(ctx: JobQueueInternals, scheduleId: string): Promise<{ id: string; occurrence: Date }[]> {
  const { rows } = await ctx.db.query<{ id: string; occurrence: Date }>(
    `SELECT id::text, occurrence FROM ${ctx.q}.jobs WHERE schedule_id = $1 ORDER BY occurrence`,
    [scheduleId],
  )
  return rows
}

const ms = (d: Date | undefined) => d?.getTime() ?? Number.NaN

describe('at and after (scenarios 19, 20)', () => {
  it('at(t) fires once at or after t with schedule lineage, then is deleted', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const past = new Date(Date.now() - 1_000)
      const id = await queue.schedule('report', { p: 1 }, at(past))
      expect(await queue.listSchedules()).toEqual([
        expect.objectContaining({
          id,
          name: 'report',
          jobName: 'report',
          spec: { kind: 'at', at: past.toISOString() },
          nextRunAt: past,
          paused: false,
          args: { p: 1 },
        }),
      ])

      const report = await fire(ctx, new Date())
      expect(report.failed).toEqual([])
      expect(report.fired).toEqual([
        { scheduleId: id, name: 'report', occurrence: past, jobId: expect.any(String) as string, nextRunAt: undefined },
      ])
      const jobId = report.fired[0]?.jobId ?? ''
      expect(await queue.getJob(jobId)).toMatchObject({
        name: 'report',
        args: { p: 1 },
        status: 'pending',
        scheduleId: id,
        occurrence: past,
      })
      expect(await queue.listSchedules()).toEqual([])
      expect((await fire(ctx, new Date(Date.now() + 86_400_000))).fired).toEqual([])

      // A future time: not before it, then once.
      const t = new Date(Date.now() + 3_600_000)
      const later = await queue.schedule('report', { p: 2 }, at(t), { name: 'later' })
      expect((await fire(ctx, new Date(t.getTime() - 1))).fired).toEqual([])
      expect((await fire(ctx, t)).fired.map((f) => f.scheduleId)).toEqual([later])
      expect(await jobsOf(ctx, later)).toEqual([{ id: expect.any(String) as string, occurrence: t }])
    })
  })

  it('after(d) is at(now + d)', () => {
    const before = Date.now()
    const spec = after(5_000)
    const afterCall = Date.now()
    expect(spec.kind).toBe('at')
    expect(Date.parse(spec.at)).toBeGreaterThanOrEqual(before + 5_000)
    expect(Date.parse(spec.at)).toBeLessThanOrEqual(afterCall + 5_000)
    expect(at(new Date(spec.at))).toEqual(spec)
    expect(() => after(-1)).toThrow(InvalidArgumentError)
  })
})

describe('every (scenario 21)', () => {
  it('fires each occurrence once with lineage, and missed occurrences collapse into one fire', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const created = Date.now()
      const id = await queue.schedule('tick', { n: 1 }, every(60_000))
      const first = (await scheduleOf(queue, id))?.nextRunAt ?? new Date(Number.NaN)
      // The grid is aligned to the epoch: the first multiple of the period after creation.
      expect(ms(first) % 60_000).toBe(0)
      expect(ms(first)).toBeGreaterThan(created)
      expect(ms(first)).toBeLessThanOrEqual(created + 60_000 + 1_000)

      expect((await fire(ctx, new Date(ms(first) - 1))).fired).toEqual([])
      const one = await fire(ctx, first)
      expect(one.fired).toEqual([
        {
          scheduleId: id,
          name: 'tick',
          occurrence: first,
          jobId: expect.any(String) as string,
          nextRunAt: new Date(ms(first) + 60_000),
        },
      ])
      expect((await fire(ctx, first)).fired).toEqual([])
      const two = await fire(ctx, new Date(ms(first) + 60_500))
      expect(two.fired[0]?.occurrence).toEqual(new Date(ms(first) + 60_000))

      // Ten minutes missed: one fire for the slot that was due, then the next slot after now.
      const late = new Date(ms(first) + 60_000 * 11 + 500)
      const three = await fire(ctx, late)
      expect(three.fired.map((f) => [ms(f.occurrence), ms(f.nextRunAt)])).toEqual([
        [ms(first) + 120_000, ms(first) + 60_000 * 12],
      ])

      const jobs = await jobsOf(ctx, id)
      expect(jobs.map((j) => ms(j.occurrence))).toEqual([ms(first), ms(first) + 60_000, ms(first) + 120_000])
      const statuses = await Promise.all(jobs.map(async (j) => (await queue.getJob(j.id))?.scheduleId))
      expect(statuses).toEqual([id, id, id])
    })
  })

  it('fires the due schedules a batch at a time, and a payload given as bytes comes back as a Buffer', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const past = new Date(Date.now() - 60_000)
      for (let i = 0; i < 5; i++) await queue.schedule('bytes', new Uint8Array([i, 255]), at(past), { name: `b${i}` })
      const firstBatch = await fireDueSchedules(ctx.pool, ctx.q, new Date(), nextOccurrence, { limit: 2 })
      expect(firstBatch.fired).toHaveLength(2)
      const rest = await fire(ctx, new Date())
      expect(rest.fired).toHaveLength(3)
      const job = await queue.getJob(rest.fired[0]?.jobId ?? '')
      expect(Buffer.isBuffer(job?.args)).toBe(true)
      expect((job?.args as Buffer)[1]).toBe(255)
    })
  })
})

describe('cron (scenario 22)', () => {
  it('created at 10:30, "0 * * * *" first fires at 11:00, then at 12:00', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const spec = cron('0 * * * *')
      const createdAt = new Date('2030-05-06T10:30:00.000Z')
      const first = firstOccurrence(spec, createdAt)
      expect(first).toEqual(new Date('2030-05-06T11:00:00.000Z'))
      const { schedule } = await upsertSchedule(ctx.db, ctx.q, {
        name: 'hourly',
        jobName: 'rollup',
        args: {},
        spec,
        nextRunAt: first,
      })

      expect((await fire(ctx, new Date('2030-05-06T10:59:59.999Z'))).fired).toEqual([])
      const fired = await fire(ctx, new Date('2030-05-06T11:00:00.000Z'))
      expect(fired.fired).toEqual([
        {
          scheduleId: schedule.id,
          name: 'hourly',
          occurrence: new Date('2030-05-06T11:00:00.000Z'),
          jobId: expect.any(String) as string,
          nextRunAt: new Date('2030-05-06T12:00:00.000Z'),
        },
      ])

      // Through the queue, the first occurrence is the next top of the hour after now.
      const now = Date.now()
      const id = await queue.schedule('rollup', {}, cron('0 * * * *'), { name: 'live' })
      const next = ms((await scheduleOf(queue, id))?.nextRunAt)
      expect(next % 3_600_000).toBe(0)
      expect(next).toBeGreaterThan(now)
      expect(next).toBeLessThanOrEqual(now + 3_600_000 + 1_000)
      // A time zone is honoured.
      expect(nextOccurrence(cron('0 9 * * *', { tz: 'Europe/Paris' }), new Date('2030-01-01T00:00:00Z'))).toEqual(
        new Date('2030-01-01T08:00:00Z'),
      )
    })
  })

  it('refuses an invalid cron expression, every(0) and other bad specs at create with PULSE_ERR_INVALID_ARG (scenario 33)', async () => {
    await withScheduleQueue(async (queue) => {
      for (const expr of ['bogus', '61 * * * *', '* * *', '', '0 0 30 2 *', '* * * * * * *']) {
        expect(() => cron(expr), expr).toThrow(InvalidArgumentError)
        await expect(queue.schedule('x', {}, { kind: 'cron', expr, tz: 'UTC' }), expr).rejects.toMatchObject({
          code: 'PULSE_ERR_INVALID_ARG',
          data: { option: 'spec.expr' },
        })
      }
      expect(() => cron('0 * * * *', { tz: 'Mars/Olympus' })).toThrow(InvalidArgumentError)
      for (const period of [0, -1, 1.5, Number.NaN]) {
        expect(() => every(period), String(period)).toThrow(
          expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG', data: { option: 'ms' } }) as Error,
        )
        await expect(queue.schedule('x', {}, { kind: 'every', everyMs: period })).rejects.toMatchObject({
          data: { option: 'spec.everyMs' },
        })
      }
      expect(() => at('not a date')).toThrow(InvalidArgumentError)
      await expect(queue.schedule('x', {}, { kind: 'sometimes' } as never)).rejects.toMatchObject({
        data: { option: 'spec.kind' },
      })
      await expect(queue.schedule('x', {}, null as never)).rejects.toMatchObject({ data: { option: 'spec' } })
      await expect(queue.schedule('x', 10n, every(1_000))).rejects.toMatchObject({ data: { option: 'payload' } })
      await expect(queue.schedule('', {}, every(1_000))).rejects.toMatchObject({ data: { option: 'jobName' } })
      expect(await queue.listSchedules()).toEqual([])
      expect(await queue.auditLog()).toEqual([])
    })
  })
})

describe('pause and resume (scenario 23)', () => {
  it('a paused schedule does not fire; resumed past due, it fires once and resyncs forward', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const id = await queue.schedule('beat', {}, every(1_000))
      const due = (await scheduleOf(queue, id))?.nextRunAt ?? new Date(Number.NaN)
      await queue.pauseSchedule(id, { reason: 'quiet hours' })
      expect((await scheduleOf(queue, id))?.paused).toBe(true)
      expect((await fire(ctx, new Date(ms(due) + 10_000))).fired).toEqual([])

      await queue.resumeSchedule(id)
      expect((await scheduleOf(queue, id))?.paused).toBe(false)
      const now = new Date(ms(due) + 10_500)
      const fired = await fire(ctx, now)
      expect(fired.fired.map((f) => [ms(f.occurrence), ms(f.nextRunAt)])).toEqual([[ms(due), ms(due) + 11_000]])
      expect((await fire(ctx, now)).fired).toEqual([])
      expect(await jobsOf(ctx, id)).toHaveLength(1)
    })
  })

  it('unknown schedule ids: pause and resume throw ScheduleNotFoundError, delete answers false', async () => {
    await withScheduleQueue(async (queue) => {
      for (const id of ['424242', 'abc']) {
        await expect(queue.pauseSchedule(id)).rejects.toBeInstanceOf(ScheduleNotFoundError)
        await expect(queue.resumeSchedule(id)).rejects.toMatchObject({
          code: 'PULSE_ERR_JOB_SCHEDULE_NOT_FOUND',
          data: { id },
        })
        expect(await queue.deleteSchedule(id)).toBe(false)
      }
    })
  })
})

describe('exactly once per occurrence (scenarios 24, 25)', () => {
  it('3 concurrent firers over the same due schedules at the same now: each occurrence yields one job', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const ids: string[] = []
      for (let i = 0; i < 20; i++)
        ids.push(await queue.schedule('every-second', { i }, every(1_000), { name: `s${i}` }))
      const base = Math.max(...(await queue.listSchedules()).map((s) => ms(s.nextRunAt)))
      const rounds = 5
      let reported = 0
      await withClients(db.url, 3, async (clients) => {
        for (let r = 0; r < rounds; r++) {
          const now = new Date(base + r * 1_000)
          const reports = await Promise.all(clients.map((client) => fire(ctx, now, client)))
          reported += reports.reduce((n, report) => n + report.fired.length, 0)
          expect(reports.flatMap((report) => report.failed)).toEqual([])
        }
      })
      const { rows } = await ctx.db.query<{ schedule_id: string; occurrence: Date; n: number }>(
        `SELECT schedule_id::text, occurrence, count(*)::int AS n FROM ${ctx.q}.jobs GROUP BY schedule_id, occurrence`,
      )
      expect(rows.every((r) => r.n === 1)).toBe(true)
      expect(reported).toBe(rows.length)
      // Each schedule fired once per round (its first slot may be a second before `base`).
      expect(rows).toHaveLength(20 * rounds)
      for (const id of ids) expect(rows.filter((r) => r.schedule_id === id)).toHaveLength(rounds)
    })
  })

  it('a re-fire of an occurrence whose job exists (a crash before the advance) adds nothing', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const id = await queue.schedule('crashy', {}, every(1_000))
      const due = (await scheduleOf(queue, id))?.nextRunAt ?? new Date(Number.NaN)
      // The first firer inserted the job and died before advancing next_run_at; the job even ran.
      const { rows } = await ctx.db.query<{ id: string }>(
        `INSERT INTO ${ctx.q}.jobs (name, args, schedule_id, occurrence, status) VALUES ('crashy', '{}', $1, $2, 'completed') RETURNING id::text`,
        [id, due],
      )
      const existing = rows[0]?.id
      const raw = new pg.Pool({ connectionString: db.url, max: 1 })
      try {
        const report = await fire(ctx, due, raw)
        expect(report.fired).toEqual([
          { scheduleId: id, name: 'crashy', occurrence: due, jobId: existing, nextRunAt: new Date(ms(due) + 1_000) },
        ])
      } finally {
        await raw.end()
      }
      expect(await jobsOf(ctx, id)).toEqual([{ id: existing, occurrence: due }])
      expect((await queue.getJob(existing ?? ''))?.status).toBe('completed')
    })
  })
})

describe('compare-and-set advance (scenario 26)', () => {
  it('a stale firer cannot move next_run_at backwards', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const id = await queue.schedule('cas', {}, every(1_000))
      const t1 = (await scheduleOf(queue, id))?.nextRunAt ?? new Date(Number.NaN)
      await fire(ctx, t1)
      const t2 = new Date(ms(t1) + 1_000)
      expect((await scheduleOf(queue, id))?.nextRunAt).toEqual(t2)
      // A replica that read t1 before the fire (and whose clock lags) tries its advance.
      expect(await advanceSchedule(ctx.db, ctx.q, id, t1, new Date(ms(t1) - 5_000))).toBe(false)
      expect(await advanceSchedule(ctx.db, ctx.q, id, t1, t2)).toBe(false)
      expect((await scheduleOf(queue, id))?.nextRunAt).toEqual(t2)
      // With the current value it moves.
      expect(await advanceSchedule(ctx.db, ctx.q, id, t2, new Date(ms(t2) + 1_000))).toBe(true)
      expect(ms((await scheduleOf(queue, id))?.nextRunAt)).toBe(ms(t2) + 1_000)
    })
  })
})

describe('delete (scenario 27)', () => {
  it('a deleted schedule stops firing; its past jobs keep their schedule_id', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const id = await queue.schedule('gone', {}, every(1_000))
      const due = (await scheduleOf(queue, id))?.nextRunAt ?? new Date(Number.NaN)
      const [fired] = (await fire(ctx, due)).fired
      expect(await queue.deleteSchedule(id)).toBe(true)
      expect((await fire(ctx, new Date(ms(due) + 60_000))).fired).toEqual([])
      expect((await queue.getJob(fired?.jobId ?? ''))?.scheduleId).toBe(id)
      expect(await jobsOf(ctx, id)).toHaveLength(1)
      expect(await queue.deleteSchedule(id)).toBe(false)
    })
  })
})

describe('named schedules', () => {
  it('scheduling again under a name updates that schedule, keeping its next occurrence when the spec is the same', async () => {
    await withScheduleQueue(async (queue) => {
      const id = await queue.schedule('rollup', { v: 1 }, every(60_000), { name: 'nightly' })
      const before = await scheduleOf(queue, id)
      await queue.pauseSchedule(id)
      expect(await queue.schedule('rollup', { v: 2 }, every(60_000), { name: 'nightly' })).toBe(id)
      const same = await scheduleOf(queue, id)
      expect(same).toMatchObject({ args: { v: 2 }, nextRunAt: before?.nextRunAt, paused: true })
      const t = new Date(Date.now() + 86_400_000)
      expect(await queue.schedule('rollup2', { v: 3 }, at(t), { name: 'nightly' })).toBe(id)
      expect(await scheduleOf(queue, id)).toMatchObject({
        jobName: 'rollup2',
        spec: { kind: 'at', at: t.toISOString() },
        nextRunAt: t,
      })
      expect(await queue.listSchedules()).toHaveLength(1)
      // The default name is the job name.
      const other = await queue.schedule('rollup', {}, every(1_000))
      expect((await scheduleOf(queue, other))?.name).toBe('rollup')
    })
  })

  it('a schedule whose stored spec cannot be read is reported and left alone; the others fire', async () => {
    await withScheduleQueue(async (queue, ctx) => {
      const past = new Date(Date.now() - 1_000)
      const good = await queue.schedule('good', {}, at(past))
      const bad = await queue.schedule('bad', {}, at(past))
      await ctx.db.query(`UPDATE ${ctx.q}.schedules SET spec = '{"kind": "sometimes"}' WHERE id = $1`, [bad])
      const report = await fire(ctx, new Date())
      expect(report.fired.map((f) => f.scheduleId)).toEqual([good])
      expect(report.failed).toEqual([
        { scheduleId: bad, name: 'bad', error: expect.objectContaining({ code: 'PULSE_ERR_INVALID_ARG' }) as Error },
      ])
      expect(await jobsOf(ctx, bad)).toEqual([])
      expect((await queue.listSchedules()).map((s) => s.id)).toEqual([bad])
    })
  })
})
