/**
 * A claimed job too large for one message of the jobs runtime's mailbox: it is dead-lettered with
 * JobTooLargeError (and a warning), and the jobs claimed with it still run — before, the whole batch
 * stayed leased and never ran.
 */
import type pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'

import { JobWorker } from '../../../actors/jobs/worker.js'
import { JobTooLargeError } from '../../../runtime/errors.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { enqueue, history, jobRow, nextEvents, testPool } from '../../fixtures/jobs/execution-support.js'

let db: TestDatabase
let pool: pg.Pool
let worker: JobWorker

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

beforeEach(() => {
  pool = testPool(db.url)
  worker = new JobWorker({ pool, pollIntervalMs: 100, backoff: 10 })
})

afterEach(async () => {
  await worker.close({ timeoutMs: 2_000 })
  await pool.end()
})

it('dead-letters a job too large for the mailbox with JobTooLargeError; the jobs claimed with it run', async () => {
  const seen: number[] = []
  worker.register('big', (args: { s: string }) => {
    seen.push(args.s.length)
  })
  await worker.start({ schedules: false })
  const warned = nextEvents(worker, 'warning', 1)
  const completed = nextEvents(worker, 'completed', 2)
  const [big, ...small] = (await enqueue(pool, [
    { name: 'big', args: { s: 'x'.repeat(2_000_000) } },
    { name: 'big', args: { s: 'a' } },
    { name: 'big', args: { s: 'bc' } },
  ])) as [string, string, string]
  expect((await completed).map((e) => e.id).sort()).toEqual([...small].sort())
  expect(seen.sort()).toEqual([1, 2])
  const [warning] = await warned
  expect(warning?.error).toBeInstanceOf(JobTooLargeError)
  expect(warning?.error.message).toContain(big)
  // Its failure is acked by the cycle after the claim: the row is dead with the error, kept for a requeue.
  for (let i = 0; i < 100 && (await jobRow(pool, big)).status !== 'dead'; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  const row = await jobRow(pool, big)
  expect(row.status).toBe('dead')
  expect(row.last_error).toMatchObject({ code: 'PULSE_ERR_JOB_TOO_LARGE' })
  expect((await history(pool, big)).map((e) => e.type)).toEqual(['enqueued', 'started', 'failed', 'dead'])
})
