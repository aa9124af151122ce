/**
 * Chaos, jobs: at-least-once execution with fenced completion.
 *
 * Three worker processes (fixtures/job-worker.ts, `JobQueue.connect`) drain `effect` jobs through a
 * fault proxy in front of PostgreSQL, each attempt recording its side effect in `chaos_effects`. While
 * they drain, a worker is killed with SIGKILL every couple of seconds and started again (a kill waits
 * until two workers are ready, so one always is), and the proxy cuts every connection, adds
 * latency, black-holes the traffic and refuses or drops new connections.
 *
 * Afterwards, from the database: every job is completed; every side effect is the completing attempt's
 * or one of an attempt the history shows failed and retried (jobs-audit.ts); no job stayed running past
 * its lease for longer than three sweep periods and the longest outage (sampled throughout).
 */
import { fileURLToPath } from 'node:url'

import pg from 'pg'
import { expect, it } from 'vitest'

import { JobQueue } from '../../actors/jobs/index.js'
import { createTestDatabase } from '../helpers/postgres.js'
import { databaseUrl } from '../helpers/servers.js'
import { FaultLoop, mergeCounts, timelineOf } from './fault-loop.js'
import { FaultProxy } from './fault-proxy.js'
import { Fleet } from './fleet.js'
import { auditJobs, EFFECTS_TABLE_SQL, type JobsAudit } from './jobs-audit.js'
import { type ScenarioResult, writeResult } from './results.js'
import { every, waitFor } from './wait.js'

const short = {
  jobs: 3_000,
  workers: 3,
  concurrency: 4,
  workMs: 40,
  leaseTtlMs: 2_000,
  pollIntervalMs: 200,
  killEveryMs: 2_000,
  /** The longest window in which no worker reaches the database (black hole, refused or dropped connections). */
  outageMs: 1_000,
  drainTimeoutMs: 150_000,
}

const entry = fileURLToPath(new URL('./fixtures/job-worker.ts', import.meta.url))

/**
 * The proxy's schedule: cuts, a latency window, a black hole, and outages (every connection cut, the
 * new ones refused, or dropped unanswered, for a while).
 */
function proxyFaults(proxy: FaultProxy): FaultLoop {
  const outage = short.outageMs
  const cutThenRefuse = (admission: 'refuse' | 'drop') => {
    proxy.cut()
    return proxy.refuseFor(outage, admission)
  }
  return new FaultLoop([
    { kind: 'cut', gapMs: 1_500, run: () => proxy.cut() },
    { kind: 'latency', gapMs: 1_000, run: () => proxy.latencyFor(2_000, 60) },
    { kind: 'cut', gapMs: 1_500, run: () => proxy.cut() },
    { kind: 'blackhole', gapMs: 1_500, run: () => proxy.blackholeFor(outage) },
    { kind: 'outage (refused)', gapMs: 1_500, run: () => cutThenRefuse('refuse') },
    { kind: 'outage (dropped)', gapMs: 1_500, run: () => cutThenRefuse('drop') },
  ])
}

interface Overdue {
  /** The longest a running job was seen past its lease, in ms. */
  readonly ms: number
  /** When it was seen (epoch ms). */
  readonly at: number
  /** That job's lease owner (`<host>/<pid>/<random>`). */
  readonly owner: string
}

/** Samples how long the most overdue running job has been past its lease, and whose lease it is. */
function leaseWatch(pool: pg.Pool): { stop: () => Promise<void>; worst: () => Overdue } {
  let worst: Overdue = { ms: 0, at: 0, owner: '' }
  const loop = every(200, async () => {
    const { rows } = await pool.query<{ ms: number; owner: string }>(
      `SELECT extract(epoch FROM now() - lease_expires_at)::float8 * 1000 AS ms, lease_owner AS owner
         FROM pulse.jobs WHERE status = 'running' AND lease_expires_at < now()
        ORDER BY lease_expires_at LIMIT 1`,
    )
    const row = rows[0]
    if (row !== undefined && row.ms > worst.ms) worst = { ...row, at: Date.now() }
  })
  return { stop: loop.stop, worst: () => worst }
}

/** Whether a lease owner's process was one the scenario killed. */
function ownerState(owner: string, killed: ReadonlySet<number>): string {
  if (owner === '') return 'none overdue'
  return killed.has(Number(owner.split('/')[1])) ? 'killed' : 'alive'
}

async function completedCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pulse.jobs WHERE status = 'completed'`,
  )
  return rows[0]?.n ?? 0
}

/** Enqueues the jobs through a queue on the caller's pool (left open). */
async function enqueueJobs(pool: pg.Pool): Promise<void> {
  const queue = await JobQueue.connect({ pg: pool })
  try {
    const items = Array.from({ length: short.jobs }, (_, i) => ({ name: 'effect', args: { i }, maxAttempts: 25 }))
    for (let i = 0; i < items.length; i += 1_000) await queue.enqueueMany(items.slice(i, i + 1_000))
  } finally {
    await queue.close()
  }
}

interface Run {
  readonly drained: boolean
  readonly started: number
  readonly durationMs: number
  readonly faults: Record<string, number>
  readonly timeline: string[]
  readonly overdue: Overdue
}

/** Kills workers and degrades the network until every job completed (or the bound passed). */
async function drainUnderFaults(pool: pg.Pool, fleet: Fleet, proxy: FaultProxy): Promise<Run> {
  const started = Date.now()
  await enqueueJobs(pool)
  const watch = leaseWatch(pool)
  const kill = async () => {
    await fleet.ready(2)
    await fleet.killOne()
  }
  const kills = new FaultLoop([{ kind: 'kill', gapMs: short.killEveryMs, run: kill }]).start()
  const network = proxyFaults(proxy).start()
  const drained = await waitFor(async () => (await completedCount(pool)) === short.jobs, {
    timeoutMs: short.drainTimeoutMs,
    intervalMs: 200,
    what: `${short.jobs} jobs completed`,
  }).then(
    () => true,
    () => false,
  )
  await Promise.all([kills.stop(), network.stop(), watch.stop()])
  const overdue = watch.worst()
  return {
    drained,
    started,
    durationMs: Date.now() - started,
    faults: mergeCounts(kills.counts, network.counts),
    timeline: timelineOf(started, kills.timeline, network.timeline, [
      { at: overdue.at, what: `lease overdue ${Math.round(overdue.ms)} ms (${overdue.owner})` },
    ]),
    overdue,
  }
}

function jobsResult(run: Run, audit: JobsAudit, proxy: FaultProxy, fleet: Fleet): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  return {
    scenario: 'jobs',
    guarantee: 'at-least-once execution, fenced completion',
    faults: run.faults,
    work: `${n(audit.jobs)} jobs, ${n(audit.attempts)} attempts, ${n(audit.effects)} side effects`,
    lost: audit.lost,
    duplicates: audit.recorded,
    unrecordedDuplicates: audit.unrecorded,
    recoveryMs: run.overdue.ms,
    durationMs: run.durationMs,
    details: {
      ...Object.fromEntries(Object.entries(audit.causes).map(([cause, count]) => [`retried: ${cause}`, count])),
      'connections cut': proxy.stats.cut,
      'connections refused or dropped': proxy.stats.refused,
      'worker starts that failed': fleet.failedStarts,
      'worker crashes': fleet.crashes.length,
      'max ms a lapsed lease stayed unreaped': Math.round(run.overdue.ms),
      "that lease's worker": ownerState(run.overdue.owner, fleet.killedPids),
    },
    timeline: run.timeline,
  }
}

it('jobs: every job completes and every duplicate side effect belongs to an attempt the history shows retried, under SIGKILLs and a faulty network', async () => {
  const db = await createTestDatabase()
  const pool = new pg.Pool({ connectionString: db.directUrl, max: 4 })
  pool.on('error', () => undefined)
  const proxy = await FaultProxy.start(databaseUrl())
  const fleet = new Fleet({
    entry,
    ready: /^ready$/,
    args: (slot) => [
      JSON.stringify({
        slot,
        queueUrl: proxy.urlFor(db.directUrl),
        effectsUrl: db.directUrl,
        leaseTtlMs: short.leaseTtlMs,
        pollIntervalMs: short.pollIntervalMs,
        concurrency: short.concurrency,
        workMs: short.workMs,
      }),
    ],
  })
  try {
    await pool.query(EFFECTS_TABLE_SQL)
    await fleet.start(short.workers)
    const run = await drainUnderFaults(pool, fleet, proxy)
    const audit = await auditJobs(pool, fleet.killedPids)
    writeResult(jobsResult(run, audit, proxy, fleet))

    expect(run.drained, `${short.jobs} jobs completed within ${short.drainTimeoutMs} ms`).toBe(true)
    expect(audit.samples, 'unexplained side effects').toEqual([])
    expect({ completed: audit.completed, lost: audit.lost, unrecorded: audit.unrecorded }).toEqual({
      completed: short.jobs,
      lost: 0,
      unrecorded: 0,
    })
    expect(fleet.crashes, 'workers that exited by themselves').toEqual([])
    // A lapsed lease waits for the next sweep of a live worker (every leaseTtlMs). Kills take workers
    // whose sweeps were due, a replacement sweeps a period after it starts, and an outage costs a
    // sweep: the bound is three periods, the outage and slack.
    expect(run.overdue.ms).toBeLessThan(3 * short.leaseTtlMs + short.outageMs + 3_000)
    expect(run.faults.kill).toBeGreaterThanOrEqual(2)
  } finally {
    await fleet.stop()
    await proxy.close()
    await pool.end()
    await db.drop()
  }
})
