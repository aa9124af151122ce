/**
 * The jobs scenario's ledger, read after the run: the jobs and the history of their attempts
 * (`jobs`, `job_events`, in the queue's database) and the side effects the attempts recorded
 * (`chaos_effects`, in a database of the shared server that no fault touches).
 *
 * A side effect is explained when it belongs to:
 * - the claim the database records for its attempt (it came after that claim's `started_at`), and that
 *   attempt completed the job, or the history shows it 'failed' then 'retrying' (a reaped lease, a
 *   failure, a release at shutdown) — one side effect per such attempt;
 * - or a claim of the same attempt number that the database lost: it came before the recorded claim,
 *   and PostgreSQL crashed (an immediate shutdown) between the end of the previous attempt and the
 *   recorded claim. A claim commits asynchronously, so a crash may undo it; the job then runs again
 *   under the same attempt number, and the history has no trace of the lost run (README, "Durability").
 *   One such side effect per crash in that interval.
 * Any other — a second effect of one recorded attempt, an effect of an attempt the history does not
 * show ending, an effect of a job the database does not have — is an unrecorded duplicate.
 */
import type pg from 'pg'

export const EFFECTS_TABLE_SQL = `CREATE TABLE chaos_effects (
  job_id bigint NOT NULL, attempt integer NOT NULL, worker text NOT NULL, at timestamptz NOT NULL DEFAULT now())`

/** A window in which PostgreSQL crashed (epoch ms): from the immediate shutdown to the server answering again. */
export interface CrashWindow {
  readonly from: number
  readonly to: number
}

export interface JobsAudit {
  readonly jobs: number
  readonly completed: number
  /** Sum of the jobs' attempts. */
  readonly attempts: number
  readonly effects: number
  /** Jobs not completed, or completed by an attempt that left no side effect. */
  readonly lost: number
  /** Extra side effects the history (or a crash) explains. */
  readonly recorded: number
  readonly unrecorded: number
  /**
   * Explained duplicates by what ended their attempt: a lease reaped after its worker was killed, one
   * reaped while its worker lived, a claim lost in a crash, or the error's code otherwise.
   */
  readonly causes: Readonly<Record<string, number>>
  /** A few unexplained side effects, for the failure's message. */
  readonly samples: readonly string[]
}

interface JobRow {
  id: string
  status: string
  attempt: number
  created: number
}

/** One attempt as the history records it: its claim's time and how it ended. */
interface Attempt {
  started: number | undefined
  endedAt: number | undefined
  code: string
  /** The lease's owner (`<host>/<pid>/<random>`). */
  owner: string
  retried: boolean
}

const ms = (column: string) => `extract(epoch FROM ${column})::float8 * 1000`

async function readJobs(pool: pg.Pool, schema: string, names: readonly string[]): Promise<JobRow[]> {
  const { rows } = await pool.query<JobRow>(
    `SELECT id::text, status, attempt, ${ms('created_at')} AS created FROM ${schema}.jobs WHERE name = ANY($1)`,
    [names],
  )
  return rows
}

/** Side effects per job, per attempt: their times (epoch ms), in order. */
async function readEffects(pool: pg.Pool): Promise<Map<string, Map<number, number[]>>> {
  const { rows } = await pool.query<{ job_id: string; attempt: number; at: number }>(
    `SELECT job_id::text, attempt, ${ms('at')} AS at FROM chaos_effects ORDER BY at`,
  )
  const effects = new Map<string, Map<number, number[]>>()
  for (const r of rows) {
    const byAttempt = effects.get(r.job_id) ?? new Map<number, number[]>()
    byAttempt.set(r.attempt, [...(byAttempt.get(r.attempt) ?? []), r.at])
    effects.set(r.job_id, byAttempt)
  }
  return effects
}

/** Attempts that ended (`job:attempt` → their claim, end, error code, and whether a retry followed). */
async function readAttempts(pool: pg.Pool, schema: string): Promise<Map<string, Attempt>> {
  const { rows } = await pool.query<{
    job_id: string
    attempt: number
    type: string
    code: string | null
    owner: string | null
    started: number | null
    at: number
  }>(
    `SELECT job_id::text, attempt, type, data->'error'->>'code' AS code, owner, ${ms('started_at')} AS started,
            ${ms('at')} AS at
       FROM ${schema}.job_events WHERE type IN ('completed', 'failed', 'retrying')`,
  )
  const attempts = new Map<string, Attempt>()
  for (const r of rows) {
    const key = `${r.job_id}:${r.attempt}`
    const entry = attempts.get(key) ?? { started: undefined, endedAt: undefined, code: '', owner: '', retried: false }
    if (r.type === 'retrying') entry.retried = true
    else {
      entry.started = r.started ?? undefined
      entry.endedAt = r.at
      entry.code = r.code ?? (r.type === 'completed' ? '' : 'unknown')
      entry.owner = r.owner ?? ''
    }
    attempts.set(key, entry)
  }
  return attempts
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

  explained(n: number, cause: string): void {
    if (n <= 0) return
    this.recorded += n
    this.causes[cause] = (this.causes[cause] ?? 0) + n
  }

  unexplained(n: number, what: string): void {
    if (n <= 0) return
    this.unrecorded += n
    if (this.samples.length < 10) this.samples.push(what)
  }
}

/** Why an attempt ended, for the causes: a reaped lease names whether its worker had been killed. */
function causeOf(end: Attempt, killedPids: ReadonlySet<number>): string {
  if (end.code !== 'PULSE_ERR_JOB_LEASE_LOST') return end.code
  const pid = Number(end.owner.split('/')[1])
  return killedPids.has(pid) ? 'lease reaped, worker killed' : 'lease reaped, worker alive'
}

interface Context {
  readonly attempts: ReadonlyMap<string, Attempt>
  readonly killedPids: ReadonlySet<number>
  readonly crashes: readonly CrashWindow[]
  readonly tally: Tally
}

/** The side effects of one attempt number of `job` (their times), against its history. */
function auditAttempt(job: JobRow, attempt: number, times: readonly number[], ctx: Context): void {
  const { tally } = ctx
  const where = `job ${job.id} attempt ${attempt}`
  const record = ctx.attempts.get(`${job.id}:${attempt}`)
  const completedBy = job.status === 'completed' ? job.attempt : undefined
  const recorded = attempt === completedBy || record?.retried === true
  if (record?.started === undefined || !recorded) {
    tally.unexplained(times.length, `${where}: ${times.length} side effects of an attempt the history does not end`)
    return
  }
  const { started } = record
  // Claims of this attempt number before the recorded one: each needs a crash that could have undone it.
  const before = times.filter((t) => t < started).length
  const previousEnd =
    attempt === 1 ? job.created : (ctx.attempts.get(`${job.id}:${attempt - 1}`)?.endedAt ?? job.created)
  const crashes = ctx.crashes.filter((c) => c.from < started && c.to > previousEnd).length
  tally.explained(Math.min(before, crashes), 'claim lost in a crash')
  tally.unexplained(before - crashes, `${where}: ${before} side effects before its recorded claim, ${crashes} crashes`)
  const after = times.length - before
  if (after === 0) return
  if (attempt !== completedBy) tally.explained(1, causeOf(record, ctx.killedPids))
  tally.unexplained(after - 1, `${where}: ${after} side effects of its recorded claim`)
}

function auditJob(job: JobRow, effects: ReadonlyMap<number, readonly number[]>, ctx: Context): void {
  const completedBy = job.status === 'completed' ? job.attempt : undefined
  const completing = completedBy === undefined ? [] : (effects.get(completedBy) ?? [])
  const started = completedBy === undefined ? undefined : ctx.attempts.get(`${job.id}:${completedBy}`)?.started
  if (started === undefined || !completing.some((t) => t >= started)) ctx.tally.lost++
  for (const [attempt, times] of effects) auditAttempt(job, attempt, times, ctx)
}

/**
 * The ledger of the jobs named `names`: `jobs` is the queue's database, `effects` the one holding
 * `chaos_effects`; `killedPids` are the worker processes the scenario killed, `crashes` the immediate
 * shutdowns of the queue's server.
 */
export async function auditJobs(
  jobs: pg.Pool,
  effects: pg.Pool,
  options: { names: readonly string[]; killedPids: ReadonlySet<number>; crashes: readonly CrashWindow[] },
  schema = 'pulse',
): Promise<JobsAudit> {
  const [rows, byJob, attempts, doubleCompletions] = await Promise.all([
    readJobs(jobs, schema, options.names),
    readEffects(effects),
    readAttempts(jobs, schema),
    readDoubleCompletions(jobs, schema),
  ])
  const tally = new Tally()
  const ctx: Context = { attempts, killedPids: options.killedPids, crashes: options.crashes, tally }
  for (const job of rows) auditJob(job, byJob.get(job.id) ?? new Map(), ctx)
  const known = new Set(rows.map((j) => j.id))
  for (const [id, byAttempt] of byJob) {
    if (known.has(id)) continue
    const n = [...byAttempt.values()].reduce((a, t) => a + t.length, 0)
    tally.unexplained(n, `job ${id}: ${n} side effects of a job the database does not have`)
  }
  tally.unexplained(doubleCompletions, `${doubleCompletions} jobs completed twice`)
  let effectCount = 0
  for (const byAttempt of byJob.values()) for (const t of byAttempt.values()) effectCount += t.length
  return {
    jobs: rows.length,
    completed: rows.filter((j) => j.status === 'completed').length,
    attempts: rows.reduce((a, j) => a + j.attempt, 0),
    effects: effectCount,
    lost: tally.lost,
    recorded: tally.recorded,
    unrecorded: tally.unrecorded,
    causes: tally.causes,
    samples: tally.samples,
  }
}
