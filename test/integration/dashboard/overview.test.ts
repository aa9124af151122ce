// The dashboard's overview over HTTP against the built `pulse server` on the run's PostgreSQL: counts per
// name × status, the last hour's throughput chart, the warnings, the live fragment over SSE; and the
// library's estimator of a large table (`JobQueue.estimatedStats`).
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

import { type JobEvent, JobQueue } from '../../../actors/jobs/index.js'
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js'
import { type RunningServer, startServer } from '../server/helpers.js'
import { chartSpec, countCell, getPage, liveEvents } from './helpers.js'

let db: TestDatabase
let server: RunningServer
let queue: JobQueue

beforeAll(async () => {
  db = await createTestDatabase()
  server = await startServer({ DATABASE_URL: db.url })
  queue = await JobQueue.connect({ pg: db.url })
  // The worker runs for the whole file (the leak check wants what a test opens closed by its end).
  queue.register('report', () => ({ ok: true }))
  queue.register('flaky', () => {
    throw new Error('boom')
  })
  await queue.start({ concurrency: 4, schedules: false })
})

afterAll(async () => {
  await queue?.close()
  expect(await server?.stop()).toBe(0)
  await db?.drop()
})

/** Resolves with the first `n` events of `type` the queue's worker fires. */
function nextEvents(type: 'completed' | 'dead', n: number): Promise<JobEvent[]> {
  const seen: JobEvent[] = []
  return new Promise((resolve) => {
    const on = (event: JobEvent) => {
      seen.push(event)
      if (seen.length < n) return
      queue.events.off(type, on)
      resolve(seen)
    }
    queue.events.on(type, on)
  })
}

const sum = (values: readonly number[] | undefined) => (values ?? []).reduce((a, b) => a + b, 0)

describe('overview', () => {
  it('shows jobs per name × status, the hour’s completions in the chart, workers and latency', async () => {
    const completed = nextEvents('completed', 3)
    const dead = nextEvents('dead', 1)
    await queue.enqueueMany([1, 2, 3].map((n) => ({ name: 'report', args: { n } })))
    await queue.enqueue('flaky', {}, { maxAttempts: 1 })
    await queue.enqueue('later', {}, { delayMs: 3_600_000 })
    await Promise.all([completed, dead])
    // The worker's wake-up connection is up once it answered a NOTIFY or its first poll.
    await expect.poll(async () => (await queue.workers()).connected).toBe(1)

    const { status, html } = await getPage(server.url, '/')
    expect(status).toBe(200)
    expect(html.match(/<h1>/g)).toHaveLength(1)
    expect(countCell(html, 'report', 'completed')).toBe('3')
    expect(countCell(html, 'report', 'pending')).toBe('0')
    expect(countCell(html, 'flaky', 'dead')).toBe('1')
    expect(countCell(html, 'later', 'pending')).toBe('1')
    const chart = chartSpec(html)
    expect(chart.series).toEqual(['completed', 'failed', 'dead'])
    expect(chart.data[0]).toHaveLength(60)
    expect(sum(chart.data[1])).toBe(3)
    expect(sum(chart.data[2])).toBe(1)
    expect(sum(chart.data[3])).toBe(1)
    expect(html).toMatch(/<span data-workers>1<\/span>/)
    expect(html).toContain('3 newest completed attempts of the last hour.')
    // One job dead-lettered now, none in the 15 minutes before: growing.
    expect(html).toContain('data-warning="dead-letter-growing"')
    expect(html).not.toContain('data-warning="no-worker"')
    expect(await queue.latency()).toMatchObject({ attempts: 3, runMs: { p50: expect.any(Number) as number } })
  })

  it('warns of a name with an old waiting job and no worker, and of paused dispatch', async () => {
    await queue.enqueue('orphan', {}, { runAt: new Date(Date.now() - 120_000) })
    const before = await getPage(server.url, '/')
    expect(before.html).toMatch(/data-warning="no-worker">\s*No worker for &quot;orphan&quot;/)
    expect(before.html).not.toContain('data-warning="dispatch-paused"')
    expect(before.html).toMatch(/Oldest waiting job<\/div>\s*<div class="value">2 min</)

    await queue.pauseDispatch('maintenance <window>')
    try {
      const paused = await getPage(server.url, '/')
      expect(paused.html).toContain('data-warning="dispatch-paused"')
      expect(paused.html).toContain('Dispatch is paused: maintenance &lt;window&gt;.')
    } finally {
      await queue.resumeDispatch()
    }
  })

  it('shows a part the database does not answer in time as unavailable, and the others', async () => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    // A queue of its own: the overview's parallel reads open pool connections, closed with it.
    const reader = await JobQueue.connect({ pg: db.url })
    try {
      // Every read of the transitions waits for this lock until its statement timeout cancels it.
      await client.query('BEGIN')
      await client.query('LOCK TABLE pulse.job_events IN ACCESS EXCLUSIVE MODE')
      const insights = await reader.insights({ timeoutMs: 100 })
      expect(insights.unavailable).toEqual(['deadLetters', 'latency', 'stalled', 'throughput'])
      expect(insights.counts?.byName.report).toBeDefined()
      expect(insights.dispatch).toEqual({ paused: false, reason: undefined, pausedAt: expect.anything() as Date })
      await expect(reader.throughput({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'PULSE_ERR_TIMEOUT' })
      const { html } = await getPage(server.url, '/')
      expect(html).toMatch(/<h2>Throughput<\/h2>\s*<span class="muted unavailable">not available/)
      expect(countCell(html, 'report', 'completed')).toBe('3')
    } finally {
      await client.query('ROLLBACK')
      await client.end()
      await reader.close()
    }
  })

  it('sends the live fragment over SSE', async () => {
    const [first] = await liveEvents(server.url, '/live/overview', () => true)
    expect(first).toContain('Jobs per name and status')
    expect(first).toContain('<tr data-name="report">')
    expect(first).not.toContain('<h1>')
  })

  it('says what to configure on the pages whose dependency is missing', async () => {
    const streams = await getPage(server.url, '/streams')
    expect(streams.status).toBe(200)
    expect(streams.html).toContain('No Redis')
    expect(streams.html).toContain('REDIS_URL')
    const runtime = await getPage(server.url, '/runtime')
    expect(runtime.html).toContain('This server process runs no actor runtime')
  })
})

describe('JobQueue.estimatedStats', () => {
  let big: TestDatabase
  let bigQueue: JobQueue

  beforeAll(async () => {
    big = await createTestDatabase()
    const client = new pg.Client({ connectionString: big.url })
    await client.connect()
    try {
      // 150,000 rows in one statement, then the statistics the planner (and the estimator) reads.
      await client.query(`INSERT INTO pulse.jobs (name, status)
        SELECT 'n' || (i % 3), CASE WHEN i % 10 < 7 THEN 'completed' WHEN i % 10 < 9 THEN 'pending' ELSE 'canceled' END
          FROM generate_series(1, 150000) AS i`)
      await client.query('ANALYZE pulse.jobs')
    } finally {
      await client.end()
    }
    bigQueue = await JobQueue.connect({ pg: big.url })
  })

  afterAll(async () => {
    await bigQueue?.close()
    await big?.drop()
  })

  it('estimates a table over 100,000 rows from a sample of its pages, close to the exact counts', async () => {
    const stats = await bigQueue.estimatedStats()
    expect(stats.estimated).toBe(true)
    expect(stats.samplePercent).toBeGreaterThan(0)
    expect(stats.samplePercent).toBeLessThan(100)
    expect(Math.abs(stats.total - 150_000) / 150_000).toBeLessThan(0.15)
    for (const name of ['n0', 'n1', 'n2']) {
      const completed = stats.byName[name]?.completed ?? 0
      expect(Math.abs(completed - 35_000) / 35_000, `${name} completed ≈ 35,000 (got ${completed})`).toBeLessThan(0.2)
      expect(stats.byName[name]?.running).toBe(0)
    }
  })

  it('counts exactly up to `exactUpTo`, and samples past it (all pages of a small table: exact)', async () => {
    const exact = await bigQueue.estimatedStats({ exactUpTo: 200_000 })
    expect(exact).toMatchObject({ estimated: false, samplePercent: undefined, total: 150_000 })
    expect(exact.byName.n0).toEqual({
      pending: 10_000,
      running: 0,
      retrying: 0,
      completed: 35_000,
      dead: 0,
      canceled: 5_000,
    })
    const small = await queue.estimatedStats({ exactUpTo: 0 })
    expect(small).toMatchObject({ estimated: true, samplePercent: 100 })
    expect(small.byName.report?.completed).toBe(3)
  })
})
