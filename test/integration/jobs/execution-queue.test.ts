/**
 * The execution side through the public `JobQueue`: `register`, `start`, `events`, and `close()`
 * draining the worker before it releases the database — the shapes of actors/jobs/types.ts.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'

import { ClosedError, every, JobQueue } from '../../../actors/jobs/index.js'
import { kJobQueueInternals } from '../../../actors/jobs/internal.js'
import { createTestDatabase, poolerOptions, type TestDatabase } from '../../helpers/postgres.js'
import { gate, nextEvents } from '../../fixtures/jobs/execution-support.js'

let db: TestDatabase

beforeAll(async () => {
  db = await createTestDatabase()
})

afterAll(async () => {
  await db.drop()
})

it('registers, starts, fires events and runs schedules; close() drains the worker first', async () => {
  const q = await JobQueue.connect({ pg: db.url, pollIntervalMs: 100, backoff: 20, ...poolerOptions(db.url) })
  try {
    const seen: { args: unknown; attempt: number }[] = []
    q.register('send-email', (args, job) => {
      seen.push({ args, attempt: job.attempt })
      if (job.attempt === 1) throw new Error('smtp down')
    })
    const entered = gate()
    const release = gate()
    q.register('long', async () => {
      entered.open()
      await release.promise
    })
    q.register('rollup', () => undefined)
    await q.start({ concurrency: 4 })

    const retrying = nextEvents(q, 'retrying', 1, (e) => e.name === 'send-email')
    const completed = nextEvents(q, 'completed', 1, (e) => e.name === 'send-email')
    const id = await q.enqueue('send-email', { to: 'a@b.com' })
    expect((await retrying)[0]).toMatchObject({ id, name: 'send-email', attempt: 1, error: { message: 'smtp down' } })
    expect(await completed).toEqual([{ id, name: 'send-email', attempt: 2 }])
    expect(seen).toEqual([
      { args: { to: 'a@b.com' }, attempt: 1 },
      { args: { to: 'a@b.com' }, attempt: 2 },
    ])
    expect((await q.getJob(id))?.status).toBe('completed')

    // The queue's scheduler actor fires a schedule; its job runs here.
    const rolled = nextEvents(q, 'completed', 1, (e) => e.name === 'rollup')
    await q.schedule('rollup', { day: 1 }, every(200))
    await rolled

    // A job in flight when close() starts finishes before the queue lets go of its database.
    const longId = await q.enqueue('long', null)
    await entered.promise
    const longDone = nextEvents(q, 'completed', 1, (e) => e.id === longId)
    const closing = q.close()
    release.open()
    await closing
    await longDone
    expect(() => q.register('late', () => undefined)).toThrow(ClosedError)
    await expect(q.start()).rejects.toBeInstanceOf(ClosedError)
  } finally {
    await q.close()
  }
  const check = await JobQueue.connect({ pg: db.url, ...poolerOptions(db.url) })
  try {
    const jobs = await check.listJobs({ name: 'long' })
    expect(jobs.jobs.map((j) => j.status)).toEqual(['completed'])
  } finally {
    await check.close()
  }
})

it('passes claimBatchMax to its worker: no claim takes more jobs than that', async () => {
  const q = await JobQueue.connect({ pg: db.url, schema: 'pulse_batch', claimBatchMax: 3, ...poolerOptions(db.url) })
  try {
    q.register('tiny', () => undefined)
    await q.enqueueMany(Array.from({ length: 10 }, (_, i) => ({ name: 'tiny', args: i })))
    const completed = nextEvents(q, 'completed', 10, (e) => e.name === 'tiny')
    await q.start({ concurrency: 8, prefetch: 8 })
    await completed
    // A claim is one statement, so its 'started' events share one transaction timestamp.
    const { rows } = await q[kJobQueueInternals].db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pulse_batch.job_history WHERE type = 'started' GROUP BY at`,
    )
    expect(rows.reduce((sum, r) => sum + r.n, 0)).toBe(10)
    expect(Math.max(...rows.map((r) => r.n))).toBeLessThanOrEqual(3)
  } finally {
    await q.close()
  }
})
