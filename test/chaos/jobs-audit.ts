/**
 * The jobs scenario's ledger, read from the database after the run: every `effect` job, the side
 * effects its attempts recorded (`chaos_effects`), and the history of its attempts (`job_events`).
 *
 * A side effect is explained when its attempt is the one that completed the job, or an earlier attempt
 * the history ends with 'failed' then 'retrying' (a reaped lease, a failure, a release at shutdown). Any
 * other — a second effect of one attempt, an effect of an attempt the history does not show ending — is
 * an unrecorded duplicate.
 */
import type pg from 'pg'

export const EFFECTS_TABLE_SQL = `CREATE TABLE chaos_effects (
  job_id bigint NOT NULL, attempt integer NOT NULL, worker text NOT NULL, at timestamptz NOT NULL DEFAULT now())`

export interface JobsAudit {
  readonly jobs: number
  readonly completed: number
  /** Sum of the jobs' attempts. */
  readonly attempts: number
  readonly effects: number
  /** Jobs not completed, or completed by an attempt that left no side effect. */
  readonly lost: number
  /** Extra side effects of attempts the history shows failed and retried. */
  readonly recorded: number
  readonly unrecorded: number
  /**
   * Explained duplicates by what ended their attempt: a lease reaped after its worker was killed, one
   * reaped while its worker lived, or the error's code otherwise.
   */
  readonly causes: Readonly<Record<string, number>>
  /** A few unexplained side effects, for the failure's message. */
  readonly samples: readonly string[]
}

interface JobRow {
  id: string
  status: string
  attempt: number
}

interface EndedAttempt {
  code: string
  /** The lease's owner (`<host>/<pid>/<random>`). */
  owner: string
  retried: boolean
}

/** Why an attempt ended, for the causes: a reaped lease names whether its worker had been killed. */
function causeOf(end: EndedAttempt, killedPids: ReadonlySet<number>): string {
  if (end.code !== 'PULSE_ERR_JOB_LEASE_LOST') return end.code
  const pid = Number(end.owner.split('/')[1])
  return killedPids.has(pid) ? 'lease reaped, worker killed' : 'lease reaped, worker alive'
}

async function readJobs(pool: pg.Pool, schema: string): Promise<JobRow[]> {
  const { rows } = await pool.query<JobRow>(
    `SELECT id::text, status, attempt FROM ${schema}.jobs WHERE name = 'effect'`,
  )
  return rows
}

/** Side effects per job, per attempt. */
async function readEffects(pool: pg.Pool): Promise<Map<string, Map<number, number>>> {
  const { rows } = await pool.query<{ job_id: string; attempt: number; n: number }>(
    'SELECT job_id::text, attempt, count(*)::int AS n FROM chaos_effects GROUP BY job_id, attempt',
  )
  const effects = new Map<string, Map<number, number>>()
  for (const r of rows) {
    const byAttempt = effects.get(r.job_id) ?? new Map<number, number>()
    byAttempt.set(r.attempt, r.n)
    effects.set(r.job_id, byAttempt)
  }
  return effects
}

/** Attempts that ended in failure (`job:attempt` → the error's code, and whether a retry followed). */
async function readEndedAttempts(pool: pg.Pool, schema: string): Promise<Map<string, EndedAttempt>> {
  const { rows } = await pool.query<{
    job_id: string
    attempt: number
    type: string
    code: string | null
    owner: string | null
  }>(
    `SELECT job_id::text, attempt, type, data->'error'->>'code' AS code, owner FROM ${schema}.job_events
      WHERE type IN ('failed', 'retrying')`,
  )
  const ended = new Map<string, EndedAttempt>()
  for (const r of rows) {
    const key = `${r.job_id}:${r.attempt}`
    const entry = ended.get(key) ?? { code: 'unknown', owner: '', retried: false }
    if (r.type === 'failed') {
      entry.code = r.code ?? 'unknown'
      entry.owner = r.owner ?? ''
    } else entry.retried = true
    ended.set(key, entry)
  }
  return ended
}

/** Jobs with more than one 'completed' event. */
async function readDoubleCompletions(pool: pg.Pool, schema: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT job_id FROM ${schema}.job_events WHERE type = 'completed'
      GROUP BY job_id HAVING count(*) > 1) AS d`,
  )
  return rows[0]?.n ?? 0
}

class Tally {
  lost = 0
  recorded = 0
  unrecorded = 0
  readonly causes: Record<string, number> = {}
  readonly samples: string[] = []

  unexplained(n: number, what: string): void {
    if (n <= 0) return
    this.unrecorded += n
    if (this.samples.length < 10) this.samples.push(what)
  }
}

function auditJob(
  job: JobRow,
  effects: ReadonlyMap<number, number>,
  ended: ReadonlyMap<string, EndedAttempt>,
  killedPids: ReadonlySet<number>,
  tally: Tally,
): void {
  const completedBy = job.status === 'completed' ? job.attempt : undefined
  if (completedBy === undefined || !effects.has(completedBy)) tally.lost++
  for (const [attempt, n] of effects) {
    const end = ended.get(`${job.id}:${attempt}`)
    if (attempt === completedBy) {
      tally.unexplained(n - 1, `job ${job.id} attempt ${attempt}: ${n} side effects of the completing attempt`)
    } else if (end?.retried === true && (completedBy === undefined || attempt < completedBy)) {
      tally.recorded++
      const cause = causeOf(end, killedPids)
      tally.causes[cause] = (tally.causes[cause] ?? 0) + 1
      tally.unexplained(n - 1, `job ${job.id} attempt ${attempt}: ${n} side effects of one retried attempt`)
    } else {
      tally.unexplained(n, `job ${job.id} attempt ${attempt}: a side effect the history does not show retried`)
    }
  }
}

/** The ledger; `killedPids` are the worker processes the scenario killed. */
export async function auditJobs(pool: pg.Pool, killedPids: ReadonlySet<number>, schema = 'pulse'): Promise<JobsAudit> {
  const [jobs, effects, ended, doubleCompletions] = await Promise.all([
    readJobs(pool, schema),
    readEffects(pool),
    readEndedAttempts(pool, schema),
    readDoubleCompletions(pool, schema),
  ])
  const tally = new Tally()
  for (const job of jobs) auditJob(job, effects.get(job.id) ?? new Map(), ended, killedPids, tally)
  tally.unexplained(doubleCompletions, `${doubleCompletions} jobs completed twice`)
  let effectCount = 0
  for (const byAttempt of effects.values()) for (const n of byAttempt.values()) effectCount += n
  return {
    jobs: jobs.length,
    completed: jobs.filter((j) => j.status === 'completed').length,
    attempts: jobs.reduce((a, j) => a + j.attempt, 0),
    effects: effectCount,
    lost: tally.lost,
    recorded: tally.recorded,
    unrecorded: tally.unrecorded,
    causes: tally.causes,
    samples: tally.samples,
  }
}
