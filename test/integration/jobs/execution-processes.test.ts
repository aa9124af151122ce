/**
 * Job execution across processes: kill -9 of a worker mid-job (scenario 11), SIGTERM drain (18), and
 * the claim race of 20 dispatchers over 4 processes (10). Workers run in child processes
 * (test/fixtures/jobs/worker-process.ts) against the same database.
 */
import { fileURLToPath } from 'node:url'

import type pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'

import { JobWorker } from '../../../actors/jobs/worker.js'
import { type Child, spawnTs } from '../../helpers/child.js'
import { createTestDatabase, poolerOptions, type TestDatabase } from '../../helpers/postgres.js'
import { enqueue, history, jobRow, nextEvents, q, testPool, waitUntil } from '../../fixtures/jobs/execution-support.js'

const entry = fileURLToPath(new URL('../../fixtures/jobs/worker-process.ts', import.meta.url))

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

function spawnWorker(config: Record<string, unknown>): Child {
  return spawnTs(entry, [JSON.stringify({ url: db.url, pooler: poolerOptions(db.url, 'worker'), ...config })])
}

async function stop(child: Child): Promise<number | string> {
  child.process.kill('SIGTERM')
  return child.exited
}

it('kill -9 of a worker process mid-job: after the lease lapses another worker runs it again and completes it (scenario 11)', async () => {
  const name = 'crash-me'
  const child = spawnWorker({ mode: 'hang', name, leaseTtlMs: 1_000 })
  await child.waitForLine(/^ready$/)
  const [id] = (await enqueue(pool, [{ name, maxAttempts: 5 }])) as [string]
  await child.waitForLine(new RegExp(`^started ${id} 1$`))
  const { lease_owner: crashedOwner } = await jobRow(pool, id)
  child.process.kill('SIGKILL')
  expect(await child.exited).toBe('SIGKILL')

  const rescuer = new JobWorker({
    pool,
    leaseTtlMs: 1_000,
    sweepIntervalMs: 200,
    pollIntervalMs: 100,
    backoff: 10,
    ...poolerOptions(db.url, 'worker'),
  })
  workers.push(rescuer)
  const ran: number[] = []
  rescuer.register(name, (_args, job) => void ran.push(job.attempt))
  const retrying = nextEvents(rescuer, 'retrying', 1, (e) => e.name === name)
  const completed = nextEvents(rescuer, 'completed', 1)
  await rescuer.start({ schedules: false })
  expect((await retrying)[0]).toMatchObject({ id, attempt: 1, error: { code: 'PULSE_ERR_JOB_LEASE_LOST' } })
  expect(await completed).toEqual([{ id, name, attempt: 2 }])
  expect(ran).toEqual([2])
  const h = await history(pool, id)
  expect(h.map((e) => [e.type, e.attempt])).toEqual([
    ['enqueued', 0],
    ['started', 1],
    ['failed', 1],
    ['retrying', 1],
    ['started', 2],
    ['completed', 2],
  ])
  expect(h[1]?.data).toEqual({ owner: crashedOwner })
  expect(h[4]?.data).toEqual({ owner: rescuer.options.owner })
})

it('SIGTERM drains a worker process: in-flight jobs finish, the process exits within the bound, a job still running is released and completed elsewhere (scenario 18)', async () => {
  const closeMs = 1_500
  const child = spawnWorker({ mode: 'drain', quickMs: 600, closeMs })
  await child.waitForLine(/^ready$/)
  const [quick, stuck] = (await enqueue(pool, [{ name: 'quick' }, { name: 'stuck' }])) as [string, string]
  await child.waitForLine(new RegExp(`^started ${quick} 1$`))
  await child.waitForLine(new RegExp(`^started ${stuck} 1$`))
  const sent = Date.now()
  const code = await stop(child)
  const took = Date.now() - sent
  expect(code, child.lines.join('\n')).toBe(0)
  expect(child.lines).toContain(`finished ${quick} 1`)
  expect(child.lines).toContain('closed')
  expect(took).toBeGreaterThanOrEqual(closeMs - 100)
  expect(took).toBeLessThan(closeMs + 4_000)

  expect(await jobRow(pool, quick)).toMatchObject({ status: 'completed', attempt: 1 })
  expect(await jobRow(pool, stuck)).toMatchObject({
    status: 'retrying',
    attempt: 1,
    last_error: { code: 'PULSE_ERR_CLOSED', message: 'released at shutdown' },
  })

  const other = new JobWorker({ pool, pollIntervalMs: 100, ...poolerOptions(db.url, 'worker') })
  workers.push(other)
  other.register('stuck', () => undefined)
  const completed = nextEvents(other, 'completed', 1)
  await other.start({ schedules: false })
  expect(await completed).toEqual([{ id: stuck, name: 'stuck', attempt: 2 }])
  expect((await history(pool, stuck)).map((e) => [e.type, e.attempt])).toEqual([
    ['enqueued', 0],
    ['started', 1],
    ['failed', 1],
    ['retrying', 1],
    ['started', 2],
    ['completed', 2],
  ])
})

it('20 dispatchers over 4 processes race for 1,000 jobs: each (job, attempt) is delivered once (scenario 10)', async () => {
  const name = 'race'
  const children = Array.from({ length: 4 }, () =>
    spawnWorker({ mode: 'race', name, workers: 5, concurrency: 10, pollIntervalMs: 50 }),
  )
  try {
    await Promise.all(children.map((c) => c.waitForLine(/^ready$/, 25_000)))
    const ids = await enqueue(
      pool,
      Array.from({ length: 1_000 }, (_, i) => ({ name, args: i })),
    )
    const ranLines = () =>
      children.flatMap((c, p) => c.lines.filter((l) => l.startsWith('ran ')).map((l) => `${p} ${l}`))
    await waitUntil(() => ranLines().length >= 1_000, 25_000, 50, '1,000 handler runs')
    await waitUntil(async () => {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${q}.jobs WHERE name = $1 AND status = 'completed'`,
        [name],
      )
      return rows[0]?.n === 1_000
    }, 10_000)

    // Handler invocations: one per job, all first attempts, spread over the processes and workers.
    const runs = ranLines().map((l) => {
      const [proc, , worker, id, attempt] = l.split(' ')
      return { proc: Number(proc), worker: `${proc}:${worker}`, id: id as string, attempt: Number(attempt) }
    })
    expect(runs).toHaveLength(1_000)
    expect(new Set(runs.map((r) => `${r.id}:${r.attempt}`)).size).toBe(1_000)
    expect(new Set(runs.map((r) => r.id))).toEqual(new Set(ids))
    expect(runs.every((r) => r.attempt === 1)).toBe(true)
    expect(new Set(runs.map((r) => r.proc)).size).toBeGreaterThan(1)
    expect(new Set(runs.map((r) => r.worker)).size).toBeGreaterThan(4)

    // The database's history: exactly one started record per (job, attempt), and one attempt per job.
    const { rows } = await pool.query<{ job_id: string; attempt: number; n: number }>(
      `SELECT e.job_id::text, e.attempt, count(*)::int AS n FROM ${q}.job_history e JOIN ${q}.jobs j ON j.id = e.job_id
        WHERE j.name = $1 AND e.type = 'started' GROUP BY e.job_id, e.attempt`,
      [name],
    )
    expect(rows).toHaveLength(1_000)
    expect(rows.every((r) => r.n === 1 && r.attempt === 1)).toBe(true)
  } finally {
    const codes = await Promise.all(children.map((c) => stop(c)))
    expect(codes).toEqual([0, 0, 0, 0])
  }
}, 60_000)
