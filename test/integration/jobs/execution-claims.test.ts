/**
 * Claims in one process: which names a worker claims, its claim window (fixed and 'auto') and its
 * batches, leases of jobs waiting for a slot, and per-name concurrency — against a real PostgreSQL.
 * Scenario numbers refer to docs/jobs-scenarios.md.
 */
import { describe, expect, it } from 'vitest'

import type { JobWorker } from '../../../actors/jobs/worker.js'
import {
  enqueue,
  history,
  jobRow,
  nextEvents,
  q,
  uniq,
  useWorkerBench,
  waitUntil,
} from '../../fixtures/jobs/execution-support.js'

const bench = useWorkerBench()

describe('claims', () => {
  it('claims only the names it registered; with none it claims nothing (scenario 34)', async () => {
    const mine = uniq('mine')
    const other = uniq('other')
    const idle = await bench.startWorker()
    const [otherId] = (await enqueue(bench.pool, [{ name: other, priority: 10 }])) as [string]
    const ran: string[] = []
    const worker = await bench.startWorker({}, (w) => w.register(mine, (_args, job) => void ran.push(job.id)), {
      concurrency: 1,
    })
    const completed = nextEvents(worker, 'completed', 1)
    const [mineId] = (await enqueue(bench.pool, [{ name: mine }])) as [string]
    await completed
    expect(ran).toEqual([mineId])
    // Several poll rounds of both workers later, the other name is untouched (a negative check: bounded time).
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await jobRow(bench.pool, otherId)).toMatchObject({ status: 'pending', attempt: 0 })
    expect((await history(bench.pool, otherId)).map((e) => e.type)).toEqual(['enqueued'])
    // A name registered after start is claimed from then on.
    const late = nextEvents(idle, 'completed', 1)
    idle.register(other, () => undefined)
    expect(await late).toEqual([{ id: otherId, name: other, attempt: 1 }])
  })

  it.each([0, 3])(
    'never holds more than concurrency + prefetch (%i) unfinished jobs, nor twice that running in the database; unstarted jobs are never reaped (scenario 17)',
    async (prefetch) => {
      const name = uniq('bp')
      let running = 0
      let maxRunning = 0
      let maxHeld = 0
      let maxClaimed = 0
      const worker: JobWorker = await bench.startWorker(
        { leaseTtlMs: 600, sweepIntervalMs: 100 },
        (w) =>
          w.register(name, async () => {
            running++
            maxRunning = Math.max(maxRunning, running)
            maxHeld = Math.max(maxHeld, worker.load.held)
            const { rows } = await bench.pool.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM ${q}.jobs WHERE name = $1 AND status = 'running'`,
              [name],
            )
            maxClaimed = Math.max(maxClaimed, rows[0]?.n ?? 0)
            await new Promise((resolve) => setTimeout(resolve, 15)) // a job's run time: jobs overlap
            running--
          }),
        { concurrency: 2, prefetch },
      )
      const completed = nextEvents(worker, 'completed', 100, (e) => e.name === name)
      await enqueue(
        bench.pool,
        Array.from({ length: 100 }, (_, i) => ({ name, args: i })),
      )
      await completed
      expect(maxRunning).toBe(2)
      // Held here (running + waiting for a slot): never past the credits granted. A credit comes back
      // when the handler settles, before its ack: the database also shows the finished jobs whose ack
      // is on its way, at most as many again (dispatcher-link.ts, "Backpressure").
      expect(maxHeld).toBeLessThanOrEqual(2 + prefetch)
      expect(maxClaimed).toBeLessThanOrEqual(2 * (2 + prefetch))
      if (prefetch > 0) expect(maxHeld).toBeGreaterThan(2)
      // 100 × 15 ms / 2 = 750 ms > the lease TTL: a job reaped while it waited would show here.
      const { rows } = await bench.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${q}.job_events e JOIN ${q}.jobs j ON j.id = e.job_id WHERE j.name = $1 AND e.type IN ('failed', 'retrying')`,
        [name],
      )
      expect(rows[0]?.n).toBe(0)
      const { rows: attempts } = await bench.pool.query<{ max: number }>(
        `SELECT max(attempt)::int AS max FROM ${q}.jobs WHERE name = $1`,
        [name],
      )
      expect(attempts[0]?.max).toBe(1)
    },
  )

  it("the default prefetch ('auto') widens the claim window for short jobs: fewer, bigger claims", async () => {
    const name = uniq('auto')
    await enqueue(
      bench.pool,
      Array.from({ length: 2_000 }, (_, i) => ({ name, args: i })),
    )
    let maxHeld = 0
    const worker: JobWorker = await bench.startWorker(
      {},
      (w) =>
        w.register(name, () => {
          maxHeld = Math.max(maxHeld, worker.load.held)
        }),
      { concurrency: 4 },
    )
    await nextEvents(worker, 'completed', 2_000, (e) => e.name === name)
    // A fixed window of 4 would take 2 jobs per claim (half the window): 1,000 claims.
    expect(maxHeld).toBeGreaterThan(4)
    expect((await bench.claimSizes(name)).length).toBeLessThan(200)
  })

  it("the default prefetch ('auto') holds no jobs beyond the slots for long jobs: two workers share them", async () => {
    const name = uniq('fair')
    const ran = new Map<JobWorker, number>()
    const handler = (w: JobWorker) =>
      w.register(name, async () => {
        ran.set(w, (ran.get(w) ?? 0) + 1)
        await new Promise((resolve) => setTimeout(resolve, 200)) // a long job: the subject is how slots are shared
      })
    const a = await bench.startWorker({}, handler, { concurrency: 2 })
    const b = await bench.startWorker({}, handler, { concurrency: 2 })
    const completed = new Promise<void>((resolve) => {
      let n = 0
      for (const w of [a, b]) w.events.on('completed', (e) => e.name === name && ++n === 40 && resolve())
    })
    await enqueue(
      bench.pool,
      Array.from({ length: 40 }, (_, i) => ({ name, args: i })),
    )
    await completed
    // Each worker ran its share: 2 slots each, 200 ms jobs; neither hoarded the queue.
    expect(ran.get(a)).toBeGreaterThanOrEqual(10)
    expect(ran.get(b)).toBeGreaterThanOrEqual(10)
  })

  it('acks go out in batches of their own: jobs claimed together and finishing together take one claim and one ack', async () => {
    const name = uniq('acks')
    const n = 5
    await enqueue(
      bench.pool,
      Array.from({ length: n }, (_, i) => ({ name, args: i })),
    )
    // A claim takes up to half the window (two may be in flight): a window of 2n claims the n at once.
    const worker = await bench.startWorker({ pollIntervalMs: 60_000 }, (w) => w.register(name, () => undefined), {
      concurrency: 2 * n,
    })
    await nextEvents(worker, 'completed', n, (e) => e.name === name)
    // One transaction, one now(): the claim of the n jobs, then the ack of the n results.
    const { rows } = await bench.pool.query<{ type: string; transactions: number; events: number }>(
      `SELECT e.type, count(DISTINCT e.at)::int AS transactions, count(*)::int AS events
         FROM ${q}.job_history e JOIN ${q}.jobs j ON j.id = e.job_id
        WHERE j.name = $1 AND e.type <> 'enqueued' GROUP BY e.type ORDER BY e.type`,
      [name],
    )
    expect(rows).toEqual([
      { type: 'completed', transactions: 1, events: n },
      { type: 'started', transactions: 1, events: n },
    ])
  })

  it('claims at most half the window per statement, so the next claim can go out while its jobs run', async () => {
    const name = uniq('half')
    await enqueue(
      bench.pool,
      Array.from({ length: 12 }, (_, i) => ({ name, args: i })),
    )
    const worker = await bench.startWorker({}, (w) => w.register(name, () => undefined), { concurrency: 4 })
    await nextEvents(worker, 'completed', 12, (e) => e.name === name)
    const sizes = await bench.claimSizes(name)
    expect(sizes.reduce((sum, n) => sum + n, 0)).toBe(12)
    expect(Math.max(...sizes)).toBe(2)
  })

  it('claims at most claimBatchMax jobs per statement', async () => {
    const name = uniq('batch')
    await enqueue(
      bench.pool,
      Array.from({ length: 12 }, (_, i) => ({ name, args: i })),
    )
    const worker = await bench.startWorker({ claimBatchMax: 2 }, (w) => w.register(name, () => undefined), {
      concurrency: 10,
    })
    expect(worker.options.claimBatchMax).toBe(2)
    await nextEvents(worker, 'completed', 12, (e) => e.name === name)
    const sizes = await bench.claimSizes(name)
    expect(sizes.reduce((sum, n) => sum + n, 0)).toBe(12)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2)
  })

  it('renews the lease of a prefetched job while it waits longer than the lease TTL for a slot (scenario 17)', async () => {
    const name = uniq('wait')
    const leaseTtlMs = 400
    const starts: number[] = []
    const worker = await bench.startWorker(
      { leaseTtlMs, sweepIntervalMs: 50 },
      (w) =>
        w.register(name, async (_args, job) => {
          starts.push(job.attempt)
          await new Promise((resolve) => setTimeout(resolve, 2 * leaseTtlMs)) // a job longer than the lease TTL
        }),
      { concurrency: 1, prefetch: 2 },
    )
    const completed = nextEvents(worker, 'completed', 3)
    const ids = await enqueue(bench.pool, [{ name }, { name }, { name }])
    await waitUntil(() => worker.load.held === 3, 5_000, 10, 'three jobs claimed')
    expect(worker.load.running).toBe(1)
    await completed
    // The third job waited about 4 × the TTL unstarted, and still ran as attempt 1.
    expect(starts).toEqual([1, 1, 1])
    for (const id of ids)
      expect((await history(bench.pool, id)).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed'])
  })

  it('respects a per-name concurrency within the worker', async () => {
    const a = uniq('a1')
    const b = uniq('bn')
    let runningA = 0
    let maxA = 0
    const worker = await bench.startWorker({}, (w) => {
      w.register(
        a,
        async () => {
          runningA++
          maxA = Math.max(maxA, runningA)
          await new Promise((resolve) => setTimeout(resolve, 10)) // a job's run time: two would overlap
          runningA--
        },
        { concurrency: 1 },
      )
      w.register(b, () => new Promise((resolve) => setTimeout(resolve, 5))) // a job's run time
    })
    const completed = nextEvents(worker, 'completed', 40)
    await enqueue(bench.pool, [
      ...Array.from({ length: 20 }, () => ({ name: a })),
      ...Array.from({ length: 20 }, () => ({ name: b })),
    ])
    await completed
    expect(maxA).toBe(1)
  })
})
