/**
 * Chaos, jobs: at-least-once execution with fenced completion, and schedules that fire each occurrence once.
 *
 * The queue lives on a PostgreSQL server of the scenario's own (servers.ts). Three worker processes
 * (fixtures/job-worker.ts, `JobQueue.connect`) drain `effect` jobs through a fault proxy in front of it,
 * and their schedulers fire an `every` schedule's `tick` jobs; each attempt records its side effect in
 * `chaos_effects`, on the shared server, which no fault touches. While they drain, a worker is killed
 * with SIGKILL every couple of seconds and started again (a kill waits until two workers are ready, so
 * one always is); the proxy cuts every connection, adds latency, black-holes the traffic and refuses or
 * drops new connections; and the server restarts, in turn after a fast shutdown and after an immediate
 * one (a crash: the next start runs crash recovery).
 *
 * Afterwards, from the databases: every job is completed; every side effect is the completing
 * attempt's, one of an attempt the history shows failed and retried, or one of a claim a crash undid
 * (jobs-audit.ts); no job stayed running past its lease for longer than three sweep periods and the
 * longest time the server was unreachable (sampled throughout); each schedule occurrence fired once,
 * and those that collapsed into a late fire did so in a fault window (schedule-audit.ts). Recovery:
 * from each restart's end to the first job completed after it.
 */
import { fileURLToPath } from 'node:url'

import pg from 'pg'
import { expect, it } from 'vitest'

import { every as everyMs, JobQueue } from '../../actors/jobs/index.js'
import type { LocalPostgres, PostgresStopMode } from '../../cli/local-servers/postgres-server.js'
import { createTestDatabase } from '../helpers/postgres.js'
import { FaultLoop, mergeCounts, type TimelineEntry, timelineOf } from './fault-loop.js'
import { FaultProxy } from './fault-proxy.js'
import { Fleet } from './fleet.js'
import { auditJobs, EFFECTS_TABLE_SQL, type JobsAudit } from './jobs-audit.js'
import { chaosSize } from './long.js'
import { type ScenarioResult, writeResult } from './results.js'
import { auditSchedule, type FaultWindow, type ScheduleAudit } from './schedule-audit.js'
import { privatePostgres, recoveriesOf, recoveryFigures, Restarts, type Recovery } from './servers.js'
import { every, waitFor } from './wait.js'

const size = {
  jobs: chaosSize(1_500, 20_000),
  workers: 3,
  concurrency: 4,
  workMs: 40,
  leaseTtlMs: 2_000,
  pollIntervalMs: 200,
  killEveryMs: chaosSize(2_000, 3_000),
  /** The longest proxy window in which no worker reaches the database (black hole, refused or dropped connections). */
  outageMs: 1_000,
  /** Between two restarts of the server (fast and immediate in turn). */
  restartGapMs: chaosSize(5_000, 20_000),
  schedulePeriodMs: 2_000,
  /** The workers' scheduler tick (`JobQueue`'s default). */
  scheduleTickMs: 1_000,
  drainTimeoutMs: chaosSize(150_000, 1_500_000),
}

const entry = fileURLToPath(new URL('./fixtures/job-worker.ts', import.meta.url))

/**
 * The proxy's schedule: cuts, a latency window, a black hole, and outages (every connection cut, the
 * new ones refused, or dropped unanswered, for a while).
 */
function proxyFaults(proxy: FaultProxy): FaultLoop {
  const outage = size.outageMs
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
    const { rows } = await pool
      .query<{ ms: number; owner: string }>(
        `SELECT extract(epoch FROM now() - lease_expires_at)::float8 * 1000 AS ms, lease_owner AS owner
           FROM pulse.jobs WHERE status = 'running' AND lease_expires_at < now()
          ORDER BY lease_expires_at LIMIT 1`,
      )
      // While the server restarts there is nothing to sample.
      .catch(() => ({ rows: [] }))
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

/** Jobs not completed (of those named `name`, or all); -1 while the server does not answer. */
async function unfinished(pool: pg.Pool, name?: string): Promise<number> {
  const { rows } = await pool
    .query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pulse.jobs WHERE status <> 'completed' AND ($1::text IS NULL OR name = $1)`,
      [name ?? null],
    )
    .catch(() => ({ rows: [{ n: -1 }] }))
  return rows[0]?.n ?? -1
}

/** Defines the schedule and enqueues the jobs through a queue on the caller's pool; resolves the schedule's id. */
async function enqueueJobs(pool: pg.Pool): Promise<string> {
  const queue = await JobQueue.connect({ pg: pool })
  try {
    const scheduleId = await queue.schedule('tick', {}, everyMs(size.schedulePeriodMs), { name: 'chaos-tick' })
    const items = Array.from({ length: size.jobs }, (_, i) => ({ name: 'effect', args: { i }, maxAttempts: 25 }))
    for (let i = 0; i < items.length; i += 1_000) await queue.enqueueMany(items.slice(i, i + 1_000))
    return scheduleId
  } finally {
    await queue.close()
  }
}

/** Deletes the schedule (no occurrence fires after it) and waits until every job, ticks too, completed. */
async function stopSchedule(pool: pg.Pool, scheduleId: string): Promise<boolean> {
  const queue = await JobQueue.connect({ pg: pool })
  try {
    await queue.deleteSchedule(scheduleId)
  } finally {
    await queue.close()
  }
  return waitFor(async () => (await unfinished(pool)) === 0, {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'every job completed',
  }).then(
    () => true,
    () => false,
  )
}

interface Run {
  readonly drained: boolean
  /** When every `effect` job was seen completed (epoch ms). */
  readonly drainedAt: number
  readonly scheduleId: string
  readonly started: number
  readonly durationMs: number
  readonly faults: Record<string, number>
  readonly timeline: readonly TimelineEntry[]
  readonly overdue: Overdue
}

/** Kills workers, degrades the network and restarts the server until every job completed (or the bound passed). */
async function drainUnderFaults(
  pool: pg.Pool,
  fleet: Fleet,
  proxy: FaultProxy,
  restarts: Restarts<PostgresStopMode>,
): Promise<Run> {
  const started = Date.now()
  const scheduleId = await enqueueJobs(pool)
  const watch = leaseWatch(pool)
  const kill = async () => {
    await fleet.ready(2)
    await fleet.killOne()
  }
  const kills = new FaultLoop([{ kind: 'kill', gapMs: size.killEveryMs, run: kill }]).start()
  const network = proxyFaults(proxy).start()
  const server = new FaultLoop([
    restarts.step('fast', size.restartGapMs),
    restarts.step('immediate', size.restartGapMs),
  ]).start()
  const drained = await waitFor(async () => (await unfinished(pool, 'effect')) === 0, {
    timeoutMs: size.drainTimeoutMs,
    intervalMs: 200,
    what: `${size.jobs} jobs completed`,
  }).then(
    () => true,
    () => false,
  )
  const drainedAt = Date.now()
  await Promise.all([kills.stop(), network.stop(), server.stop(), watch.stop()])
  const overdue = watch.worst()
  return {
    drainedAt,
    drained: drained && (await stopSchedule(pool, scheduleId)),
    scheduleId,
    started,
    durationMs: Date.now() - started,
    faults: mergeCounts(kills.counts, network.counts, server.counts),
    timeline: [
      ...kills.timeline,
      ...network.timeline,
      ...server.timeline,
      ...(overdue.at === 0
        ? []
        : [{ at: overdue.at, what: `lease overdue ${Math.round(overdue.ms)} ms (${overdue.owner})` }]),
    ],
    overdue,
  }
}

/** Windows in which no scheduler reached the database: restarts, black holes and outages. */
function faultWindows(run: Run): FaultWindow[] {
  return run.timeline
    .filter((e) => /^(restart|blackhole|outage)/.test(e.what) && e.until !== undefined)
    .map((e) => ({ from: e.at, to: e.until ?? e.at }))
}

/** From the end of each restart that ended before the drain to the first job completed after it. */
function recoveries(pool: pg.Pool, restarts: Restarts<string>, drainedAt: number): Promise<Recovery[]> {
  const windows = restarts.windows.filter((w) => w.readyAt < drainedAt)
  return recoveriesOf(windows, async (since) => {
    const { rows } = await pool.query<{ at: number | null }>(
      `SELECT extract(epoch FROM min(at))::float8 * 1000 AS at FROM pulse.job_events
        WHERE type = 'completed' AND at >= to_timestamp($1::float8 / 1000)`,
      [since],
    )
    return rows[0]?.at ?? undefined
  })
}

interface Outcome {
  readonly audit: JobsAudit
  readonly schedule: ScheduleAudit
  readonly recoveries: readonly Recovery[]
}

function jobsResult(run: Run, outcome: Outcome, proxy: FaultProxy, fleet: Fleet): ScenarioResult {
  const n = (x: number) => x.toLocaleString('en-US')
  const { audit, schedule } = outcome
  const recovery = recoveryFigures(outcome.recoveries, 'first completed job')
  return {
    scenario: 'jobs',
    guarantee: 'at-least-once execution, fenced completion; each schedule occurrence once',
    faults: run.faults,
    work: `${n(audit.jobs)} jobs (${schedule.fired} scheduled), ${n(audit.attempts)} attempts, ${n(audit.effects)} side effects`,
    lost: audit.lost,
    duplicates: audit.recorded,
    unrecordedDuplicates: audit.unrecorded + schedule.firedTwice,
    recoveryMs: recovery.longestMs,
    durationMs: run.durationMs,
    details: {
      ...Object.fromEntries(Object.entries(audit.causes).map(([cause, count]) => [`retried: ${cause}`, count])),
      ...recovery.details,
      'connections cut': proxy.stats.cut,
      'connections refused or dropped': proxy.stats.refused,
      'worker starts that failed': fleet.failedStarts,
      'worker crashes': fleet.crashes.length,
      'max ms a lapsed lease stayed unreaped': Math.round(run.overdue.ms),
      "that lease's worker": ownerState(run.overdue.owner, fleet.killedPids),
      'schedule occurrences fired': schedule.fired,
      'schedule occurrences fired twice': schedule.firedTwice,
      'schedule occurrences collapsed into a late fire': schedule.collapsed,
      'schedule occurrences collapsed outside a fault window': schedule.unexplained,
      'latest schedule fire, ms after its occurrence': Math.round(schedule.latestFireMs),
      ...(audit.samples.length === 0 ? {} : { 'unexplained side effects (first 10)': audit.samples.join('; ') }),
      ...(schedule.samples.length === 0 ? {} : { 'schedule faults (first 10)': schedule.samples.join('; ') }),
      ...(fleet.crashes.length === 0
        ? {}
        : { 'first worker crash': fleet.crashes[0]?.split('\n').slice(-6).join(' | ') ?? '' }),
    },
    timeline: timelineOf(run.started, run.timeline),
  }
}

/** A database of the shared server (no fault touches it) holding `chaos_effects`: its pool and URL. */
async function withEffectsDatabase<T>(fn: (effects: pg.Pool, url: string) => Promise<T>): Promise<T> {
  const db = await createTestDatabase()
  const pool = new pg.Pool({ connectionString: db.directUrl, max: 4 })
  pool.on('error', () => undefined)
  try {
    await pool.query(EFFECTS_TABLE_SQL)
    return await fn(pool, db.directUrl)
  } finally {
    await pool.end()
    await db.drop()
  }
}

function workerFleet(proxy: FaultProxy, server: LocalPostgres, effectsUrl: string): Fleet {
  return new Fleet({
    entry,
    ready: /^ready$/,
    startAttempts: 10,
    startBackoffMs: 500,
    args: (slot) => [
      JSON.stringify({
        slot,
        queueUrl: proxy.urlFor(server.url),
        effectsUrl,
        leaseTtlMs: size.leaseTtlMs,
        pollIntervalMs: size.pollIntervalMs,
        concurrency: size.concurrency,
        workMs: size.workMs,
      }),
    ],
  })
}

async function scenario(server: LocalPostgres, effects: pg.Pool, effectsUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: server.url, max: 4 })
  pool.on('error', () => undefined)
  const proxy = await FaultProxy.start(server.url)
  const fleet = workerFleet(proxy, server, effectsUrl)
  const restarts = new Restarts<PostgresStopMode>(server)
  try {
    await fleet.start(size.workers)
    const run = await drainUnderFaults(pool, fleet, proxy, restarts)
    const crashes = restarts.windows
      .filter((w) => w.kind === 'restart (immediate)')
      .map((w) => ({ from: w.stoppedAt, to: w.readyAt }))
    const outcome: Outcome = {
      audit: await auditJobs(pool, effects, { names: ['effect', 'tick'], killedPids: fleet.killedPids, crashes }),
      schedule: await auditSchedule(pool, {
        scheduleId: run.scheduleId,
        periodMs: size.schedulePeriodMs,
        tickMs: size.scheduleTickMs,
        windows: faultWindows(run),
      }),
      recoveries: await recoveries(pool, restarts, run.drainedAt),
    }
    writeResult(jobsResult(run, outcome, proxy, fleet))
    check(run, outcome, fleet, restarts)
  } finally {
    await fleet.stop()
    await proxy.close()
    await pool.end()
  }
}

function check(run: Run, outcome: Outcome, fleet: Fleet, restarts: Restarts<string>): void {
  const { audit, schedule } = outcome
  expect(run.drained, `${size.jobs} jobs and the ticks completed within ${size.drainTimeoutMs} ms`).toBe(true)
  expect(audit.samples, 'unexplained side effects').toEqual([])
  expect({ completed: audit.completed, lost: audit.lost, unrecorded: audit.unrecorded }).toEqual({
    completed: audit.jobs,
    lost: 0,
    unrecorded: 0,
  })
  expect(audit.jobs).toBe(size.jobs + schedule.fired)
  expect(schedule.samples, 'schedule occurrences fired twice, or skipped outside a fault window').toEqual([])
  expect(schedule.fired).toBeGreaterThan(0)
  expect(fleet.crashes, 'workers that exited by themselves').toEqual([])
  // A lapsed lease waits for the next sweep of a live worker (every leaseTtlMs). Kills take workers
  // whose sweeps were due, a replacement sweeps a period after it starts, and while the server is
  // unreachable (a proxy outage, a restart) nothing sweeps: the bound is three periods, the longest
  // such window and slack.
  const unreachableMs = Math.max(size.outageMs, restarts.longestDownMs)
  expect(run.overdue.ms).toBeLessThan(3 * size.leaseTtlMs + unreachableMs + 3_000)
  expect(run.faults.kill).toBeGreaterThanOrEqual(2)
  expect(restarts.windows.map((w) => w.kind)).toEqual(expect.arrayContaining(['restart (fast)', 'restart (immediate)']))
  expect(
    outcome.recoveries.filter((r) => r.ms === undefined),
    'restarts after which no job completed',
  ).toEqual([])
}

it(
  'jobs: every job completes, every duplicate side effect is explained by the history or a crash, and each schedule occurrence fires once, under SIGKILLs, a faulty network and PostgreSQL restarts',
  async () => {
    const server = await privatePostgres()
    try {
      await withEffectsDatabase((effects, url) => scenario(server, effects, url))
    } finally {
      await server.close()
    }
  },
  size.drainTimeoutMs + 90_000,
)
