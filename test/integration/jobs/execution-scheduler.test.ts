/**
 * The scheduler actor, replicated: three workers (each with its own runtime and scheduler actor) fire
 * one `every` schedule. Each occurrence yields exactly one job, run once (scenario 24).
 */
import type pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'

import { every, firstOccurrence } from '../../../actors/jobs/schedule-spec.js'
import { JobWorker } from '../../../actors/jobs/worker.js'
import { upsertSchedule } from '../../../transports/postgres/jobs/schedules.js'
import { createTestDatabase, poolerOptions, type TestDatabase } from '../../helpers/postgres.js'
import { q, testPool, waitUntil } from '../../fixtures/jobs/execution-support.js'

let db: TestDatabase
let pool: pg.Pool
let workers: JobWorker[] = []

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

beforeEach(() => {
  pool = testPool(db.url)
})

afterEach(async () => {
  await Promise.allSettled(workers.map((w) => w.close({ timeoutMs: 1_000 })))
  workers = []
  await pool.end()
})

it('three scheduler replicas fire each occurrence of an every() schedule exactly once', async () => {
  const periodMs = 250
  const runs: { id: string; attempt: number; replica: number }[] = []
  workers = [0, 1, 2].map((replica) => {
    const worker = new JobWorker({ pool, pollIntervalMs: 50, scheduleTickMs: 50, ...poolerOptions(db.url, 'worker') })
    worker.register('tick', (_args, job) => void runs.push({ id: job.id, attempt: job.attempt, replica }))
    return worker
  })
  await Promise.all(workers.map((w) => w.start({ concurrency: 5 })))
  const spec = every(periodMs)
  const { schedule } = await upsertSchedule(pool, q, {
    name: 'tick-every',
    jobName: 'tick',
    args: { from: 'schedule' },
    spec,
    nextRunAt: firstOccurrence(spec, new Date()),
  })

  const occurrences = async () =>
    (
      await pool.query<{ id: string; occurrence: Date; status: string }>(
        `SELECT id::text, occurrence, status FROM ${q}.jobs WHERE schedule_id = $1 ORDER BY occurrence`,
        [schedule.id],
      )
    ).rows
  await waitUntil(
    async () => (await occurrences()).filter((r) => r.status === 'completed').length >= 10,
    20_000,
    50,
    '10 occurrences completed',
  )
  // Stop firing before counting, so the last occurrence is not half-seen.
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 1_000 })))

  const rows = await occurrences()
  const times = rows.map((r) => r.occurrence.getTime())
  // One job per occurrence, on the schedule's grid, strictly increasing.
  expect(new Set(times).size).toBe(rows.length)
  expect(times.every((t) => t % periodMs === 0)).toBe(true)
  // Missed occurrences collapse (a late tick fires once), so gaps are allowed; duplicates are not.
  for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(periodMs)
  // Each job ran once, first attempt, somewhere among the replicas.
  const completed = rows.filter((r) => r.status === 'completed')
  for (const row of completed)
    expect(runs.filter((r) => r.id === row.id)).toEqual([expect.objectContaining({ attempt: 1 })])
  expect(runs).toHaveLength(completed.length)
  const { rows: started } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${q}.job_history e JOIN ${q}.jobs j ON j.id = e.job_id WHERE j.schedule_id = $1 AND e.type = 'started'`,
    [schedule.id],
  )
  expect(started[0]?.n).toBe(runs.length)
})
