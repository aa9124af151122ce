/**
 * Handlers registered with `thread`: they run on a HandlerPool thread, not on the caller's event loop,
 * with the same `(args, job)` signature; `timeoutMs` stops one that ignores its signal.
 */
import { threadId } from 'node:worker_threads'

import type pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'

import { JobWorker } from '../../../actors/jobs/worker.js'
import { createTestDatabase, poolerOptions, type TestDatabase } from '../../helpers/postgres.js'
import { enqueue, history, jobRow, nextEvents, testPool } from '../../fixtures/jobs/execution-support.js'

const cpuJob = new URL('../../fixtures/jobs/cpu-job.ts', import.meta.url)

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
  worker = new JobWorker({ pool, pollIntervalMs: 100, backoff: 10, ...poolerOptions(db.url, 'worker') })
})

afterEach(async () => {
  await worker.close({ timeoutMs: 2_000 })
  await pool.end()
})

it('runs a CPU-bound handler on another thread while the event loop stays free', async () => {
  worker.register('fib', undefined, { thread: { module: cpuJob, export: 'fibJob' } })
  await worker.start({ schedules: false, handlerPool: { minThreads: 1, maxThreads: 1 } })
  const failed = nextEvents(worker, 'failed', 1, (e) => e.name === 'fib')
  const completed = nextEvents(worker, 'completed', 1)
  let ticks = 0
  const ticker = setInterval(() => ticks++, 10)
  const [id] = (await enqueue(pool, [{ name: 'fib', args: { n: 30 } }])) as [string]
  try {
    const [first] = await failed
    // The first attempt says where it ran: a thread that is not this one.
    const ranOn = Number(/on thread (\d+)/.exec(first?.error.message ?? '')?.[1])
    expect(ranOn).toBeGreaterThan(0)
    expect(ranOn).not.toBe(threadId)
    expect(first?.error.message).toContain('fib(30) = 832040')
    expect(await completed).toEqual([{ id, name: 'fib', attempt: 2 }])
  } finally {
    clearInterval(ticker)
  }
  expect(ticks).toBeGreaterThan(0)
  expect((await history(pool, id)).map((e) => e.type)).toEqual([
    'enqueued',
    'started',
    'failed',
    'retrying',
    'started',
    'completed',
  ])
})

it('times out a thread handler that ignores its signal: the attempt fails with JobTimeoutError', async () => {
  worker.register('spin', undefined, { thread: { module: cpuJob, export: 'spin' }, timeoutMs: 200 })
  await worker.start({ schedules: false, handlerPool: { minThreads: 0, maxThreads: 1, abortGraceMs: 100 } })
  const dead = nextEvents(worker, 'dead', 1, (e) => e.name === 'spin')
  const [id] = (await enqueue(pool, [{ name: 'spin', args: { ms: 10_000 }, maxAttempts: 1 }])) as [string]
  const [event] = await dead
  expect(event).toMatchObject({ id, attempt: 1, error: { code: 'PULSE_ERR_JOB_TIMEOUT' } })
  expect((await jobRow(pool, id)).status).toBe('dead')
})
